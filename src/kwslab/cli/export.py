"""`kwslab export`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, out


@app.command()
def export(
    run_dirs: list[Path] = typer.Argument(
        ..., help="Run folder written by `kwslab train`; several (with --out): an ensemble "
        "whose probabilities are combined (--combine)."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (only 'onnx')."),
    out_dir: Path = typer.Option(None, "--out", help="Export folder (default: RUN_DIR/export)."),
    int8: bool = typer.Option(False, "--int8", help="Also write an int8-quantised model."),
    data: Path = typer.Option(
        None, "--data", help="Dataset: calibrate int8 on its training clips and score fp32 vs "
        "int8 on its test split (export_metrics.json)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an export even if it "
                                   "holds thresholds saved by eval-stream."),
    combine: str = typer.Option(
        None, "--combine", help="An ensemble's rule: 'mean' of the members' probabilities "
        "(default) or 'geometric' (mean of their logs: a word must be likely for every "
        "member; better on speaker folds)."),
) -> None:
    """Export a trained model (or an ensemble of several) to ONNX for `kwslab.runtime`,
    `stream` and `serve`."""
    from kwslab.errors import ConfigError

    if fmt != "onnx":
        raise ConfigError(f"format {fmt!r} is not supported; valid: onnx")
    if len(run_dirs) > 1:
        if out_dir is None:
            raise ConfigError("an ensemble of several runs needs --out DIR")
        from kwslab.export import export_ensemble

        result = export_ensemble(run_dirs, out_dir, int8=int8, data=data,
                                 overwrite=overwrite, combine=combine or "mean")
        out.print(f"exported an ensemble of {len(run_dirs)} models ({result['combine']} of "
                  f"their probabilities) to {result['out']} "
                  f"(max |onnx - torch| = {result['parity_max_abs_diff']:.1e})")
        return
    if combine is not None:
        raise ConfigError("--combine is an ensemble's rule; pass several run folders")
    from kwslab.export import export_onnx

    result = export_onnx(run_dirs[0], out_dir, int8=int8, data=data, overwrite=overwrite)
    out.print(f"exported {', '.join(result['files'].values())} to {result['out']} "
              f"(max |onnx - torch| = {result['parity_max_abs_diff']:.1e})")
    m = result.get("metrics")
    if m:
        line = f"{m['split']} accuracy (n={m['n']}): fp32 {m['fp32']['accuracy']:.4f}"
        if "int8" in m:
            lost = m["int8_points_lost"]
            change = (f"{lost:.2f} points lost" if lost > 0 else
                      f"{-lost:.2f} points gained" if lost < 0 else "no change")
            line += (f", int8 {m['int8']['accuracy']:.4f} ({change}; "
                     f"{m['fp32']['size_bytes'] / 1024:.0f} -> "
                     f"{m['int8']['size_bytes'] / 1024:.0f} KiB)")
        out.print(line)
