"""`kwslab evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kwslab.cli.app import app, console, out


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(
        ..., help="Run folder or export folder (`kwslab train`, `kwslab export`; an ensemble "
        "export too)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder or .jsonl manifest."),
    split: str = typer.Option("test", "--split", help="test, validation, train or all."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    out_file: Path = typer.Option(None, "--out", help="Also write the result to this JSON file."),
) -> None:
    """Accuracy, loss, per-class precision/recall and confusion matrix on one split.

    A run folder or an export (one model or an ensemble): the same clips, the same report.

    Nothing is written into the folder (it may be read-only); --out saves the result.
    """
    from kwslab.evaluation import evaluate as run_evaluate
    from kwslab.utils.io import write_json

    result = run_evaluate(run_dir, data, split)
    if out_file is not None:
        write_json(out_file, result)
    if as_json:
        print(json.dumps(result))
        return
    from rich.table import Table

    labels = result["labels"]
    lo, hi = result["accuracy_ci95"]
    out.print(f"{split}: accuracy {result['accuracy']:.4f} (95 % CI {lo:.3f}-{hi:.3f}), "
              f"loss {result['loss']:.4f}, n={result['n']}")
    skipped = result.get("skipped") or []
    if skipped:
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        console.print(f"warning: {len(skipped)} unreadable clip(s) not scored: "
                      f"{', '.join(map(str, skipped[:3]))}{more}", highlight=False,
                      soft_wrap=True)
    if result["keyword_n"] != result["n"]:
        out.print(f"keywords only: accuracy {result['keyword_accuracy']:.4f}, "
                  f"n={result['keyword_n']}")
    table = Table("label", "precision", "recall", "f1", "support")
    for label in labels:
        pc = result["per_class"][label]
        table.add_row(label, f"{pc['precision']:.3f}", f"{pc['recall']:.3f}", f"{pc['f1']:.3f}",
                      str(pc["support"]))
    out.print(table)
    conf = Table("true \\ pred", *[label[:6] for label in labels])
    for label, row in zip(labels, result["confusion"], strict=True):
        conf.add_row(label, *map(str, row))
    out.print(conf)
    speakers = sorted(result["per_speaker"].items(), key=lambda kv: kv[1][0] / kv[1][1])
    shown = [f"{s} {c}/{n}" for s, (c, n) in speakers[:8] if c < n]
    if shown:
        out.print(f"speakers with most errors (keyword clips right/total): {', '.join(shown)}")
    if result["confused"]:
        worst = Table("file", "true", "predicted", "p")
        for e in result["confused"][:10]:
            worst.add_row(e["path"], e["label"], e["predicted"], f"{e['probability']:.2f}")
        out.print("most confident mistakes (listen to them):")
        out.print(worst)
    if out_file is not None:
        out.print(f"written to {out_file}")
