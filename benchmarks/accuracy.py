"""Accuracy of each model family under the default recipe: 3 seeds, clean and noisy test.

Not a test: it trains (minutes per run on CPU). For each family it trains its recipe (see
:func:`recipe`; ``embedconv`` is ``kwslab train``'s default) on ``--seeds``, then scores
the best-validation checkpoint on the validation and test splits (accuracy on the keywords'
clips; a keyword taken for ``_unknown_`` counts as wrong), and on the test clips mixed with
background noise at 10 dB and 0 dB SNR (cuts from the last 10 % of each
``_background_noise_`` recording, the part no training run draws its ``_silence_`` clips
from; the training noise augmentation may use any part).
Writes ``accuracy.json`` and ``accuracy.md`` (the table the README quotes)::

    .venv/bin/python benchmarks/accuracy.py --data ../shared/data/speech_commands_mini \\
        --out runs/bench-accuracy [--families embedconv tcresnet mlp] [--seeds 0 1 2]

``mlp`` means the seed recipe (``--config seed``), for reference.

With ``--folds K`` it runs speaker-grouped K-fold cross-validation instead
(:func:`kwslab.crossval.cross_validate`: every clip of the dataset, train + validation + test
lists together, scored once per seed by a model that never heard its speaker; the best epoch
is chosen on another fold's speakers). This is the figure the README quotes; the fixed test
split stays for comparison only. ``--twelve`` adds the ``_unknown_`` and ``_silence_``
classes (the standard 12-class task)::

    .venv/bin/python benchmarks/accuracy.py --folds 5 --families embedconv --seeds 0 \
        --out runs/bench-folds

``--teacher ROOT[:SEEDS]`` distills every fold's model from that fold's runs of an earlier
``--folds`` run (exported as one ensemble per fold under ``OUT/teachers``; they trained on
the fold's training speakers only), e.g. the fast preset taught by the default heads::

    .venv/bin/python benchmarks/accuracy.py --folds 5 --families tcresnet-distill \
        --seeds 0 1 2 --teacher runs/bench-folds/embedconv:0,1,2 --out runs/bench-distilled
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from kwslab.config import DEFAULT, PRESETS, SEED, TCRESNET
from kwslab.data import load_clips
from kwslab.data.augment import mix_noise_batch
from kwslab.data.dataset import _long_file, load_waves
from kwslab.data.speechcommands import NOISE_SPLIT_BOUNDS, noise_files, select_split
from kwslab.evaluation import evaluate
from kwslab.features import compute_features
from kwslab.models.inference import predict_logits
from kwslab.models.io import load_model
from kwslab.training import train

SNRS_DB = (10.0, 0.0)  # noisy test conditions
NOISE_SEED = 1234  # the same noisy test set for every run


def recipe(family: str, seed: int, width: float | None, epochs: int | None):
    """The recipe of a family on ``seed``: ``embedconv`` is the default recipe (head on the
    pretrained speech_embedding), ``tcresnet`` the from-scratch ``--config tcresnet`` one,
    ``mlp`` the seed's; a preset's name is that preset; the other CNN families use the
    tcresnet recipe at their own default width and depth."""
    if family == "mlp":
        cfg = SEED
    elif family == DEFAULT.model.name:
        cfg = DEFAULT
    elif family == TCRESNET.model.name:
        cfg = TCRESNET
    elif family in PRESETS:  # e.g. tcresnet-distill (with --teacher)
        cfg = PRESETS[family]
    else:
        cfg = replace(TCRESNET, model=replace(TCRESNET.model, name=family, width=1.0, depth=0))
    if width is not None and family != "mlp":
        cfg = replace(cfg, model=replace(cfg.model, width=width))
    return replace(cfg, train=replace(cfg.train, seed=seed, epochs=epochs or cfg.train.epochs))


def noisy_test_sets(data: Path, cfg, snrs=SNRS_DB) -> tuple[dict[float, np.ndarray], list]:
    """Test waveforms mixed with held-out background noise at each SNR, and their clips."""
    clips = select_split(load_clips(data, cfg.data, seed=0), "test")
    loaded = load_waves(clips, cfg.features.clip_samples)
    waves, n = loaded.waves, cfg.features.clip_samples
    rng = np.random.default_rng(NOISE_SEED)
    lo, hi = NOISE_SPLIT_BOUNDS["test"]
    noises = [_long_file(str(p)) for p in noise_files(data)]
    cuts = []
    for _ in range(len(waves)):
        noise = noises[rng.integers(len(noises))]
        start = rng.integers(int(lo * len(noise)), int(hi * len(noise)) - n)
        cuts.append(noise[start : start + n])
    cuts = np.stack(cuts)
    return {snr: mix_noise_batch(waves, cuts, np.full(len(waves), snr)) for snr in snrs}, \
        loaded.clips


def noisy_accuracy(run_dir: Path, sets: dict[float, np.ndarray], clips: list) -> dict[str, float]:
    """Keyword accuracy of a run's model on each noisy copy of the test set (clips of the
    _unknown_/_silence_ classes, if the recipe has them, are classified but not counted)."""
    model, cfg, meta = load_model(run_dir)
    index = {label: i for i, label in enumerate(meta["labels"])}
    y = np.array([index[c.label] for c in clips])
    words = np.isin(y, [index[w] for w in cfg.data.words])
    out = {}
    for snr, waves in sets.items():
        pred = predict_logits(model, compute_features(waves, cfg.features)).argmax(1).numpy()
        out[f"{snr:g}dB"] = float((pred == y)[words].mean())
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1) if len(values) > 1 else 0.0)


def markdown(rows: list[dict]) -> str:
    head = ("| model | params | MACs | train time (min) | val acc | test acc | "
            "test @10 dB | test @0 dB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")

    def pm(key: str, r: dict) -> str:
        m, s = r[key]
        return f"{100 * m:.1f} ± {100 * s:.1f}"

    body = "".join(
        f"| {r['model']} | {r['params']:,} | {r['macs'] / 1e6:.2f} M | "
        f"{r['train_minutes'][0]:.1f} ± {r['train_minutes'][1]:.1f} | {pm('val', r)} | "
        f"{pm('test', r)} | {pm('test_10dB', r)} | {pm('test_0dB', r)} |\n"
        for r in rows
    )
    return head + body


def one_run(job: tuple[str, int], args: argparse.Namespace) -> dict:
    """Train one (family, seed) and score it; a dict of the numbers."""
    family, seed = job
    cfg = recipe(family, seed, args.width, args.epochs)
    run_dir = args.out / f"{family}-seed{seed}"
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    result = train(cfg, args.data, run_dir, progress=False)
    minutes = (time.perf_counter() - t0) / 60
    sets, clips = noisy_test_sets(args.data, cfg)
    test = evaluate(run_dir, args.data, "test")["keyword_accuracy"]  # the 8 words' clips
    card = json.loads((run_dir / "model_card.json").read_text())
    run = {"family": family, "seed": seed, "run_dir": str(run_dir),
           "val": evaluate(run_dir, args.data, "validation")["keyword_accuracy"], "test": test,
           **{f"test_{k}": v for k, v in noisy_accuracy(run_dir, sets, clips).items()},
           "train_minutes": minutes, "best_epoch": result.metrics["best_epoch"],
           "load_avg": [load0, os.getloadavg()[0]], "params": card["params"],
           "macs": card["macs"], "size_bytes": card["size_bytes"],
           "width": cfg.model.width, "epochs": cfg.train.epochs}
    print(json.dumps(run), flush=True)
    return run


def fold_teachers(spec: str, k: int, out: Path, only: list[int] | None = None) -> list[Path]:
    """One teacher export per fold from ``ROOT[:SEEDS]`` (an earlier ``--folds`` family
    folder): the fold's runs of those seeds, as an ensemble when there are several. Exported
    for the folds to train (``only``) and reused after; ``OUT/spec.txt`` names their source,
    and another source for the same ``out`` is refused."""
    from kwslab.artifacts import CONFIG
    from kwslab.export import export_ensemble, export_onnx
    from kwslab.utils.io import write_text_atomic

    root, _, seeds = spec.partition(":")
    seeds = seeds or "0"
    source = f"{Path(root).resolve()}:{seeds}"
    written = out / "spec.txt"
    if written.is_file() and written.read_text().strip() != source:
        raise SystemExit(f"error: {out} holds teachers of {written.read_text().strip()}, "
                         f"not {source}; use another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(written, source + "\n")
    teachers = []
    for i in range(k):
        runs = [Path(root) / f"seed{s}-fold{i}" for s in seeds.split(",")]
        dest = out / f"fold{i}"
        if (only is None or i in only) and not (dest / CONFIG).is_file():
            if len(runs) > 1:
                export_ensemble(runs, dest)
            else:
                export_onnx(runs[0], dest)
        teachers.append(dest)
    return teachers


def folds_main(args: argparse.Namespace) -> None:
    """Speaker-fold cross-validation of each family; writes folds.json and folds.md."""
    from kwslab.crossval import cross_validate

    rows = []
    teachers = fold_teachers(args.teacher, args.folds, args.out / "teachers",
                             args.only_folds) if args.teacher else None
    for family in args.families:
        cfg = recipe(family, args.seeds[0], args.width, args.epochs)
        words = tuple(args.words) if args.words else cfg.data.words
        cfg = replace(cfg, data=replace(cfg.data, words=words, unknown=args.twelve,
                                        silence=args.twelve))
        t0 = time.perf_counter()
        res = cross_validate(cfg, args.data, args.folds, args.out / family, seeds=args.seeds,
                             teachers=teachers, only=args.only_folds)
        res["wall_minutes"] = (time.perf_counter() - t0) / 60
        rows.append({"family": family, "twelve": args.twelve, **res})
        (args.out / "folds.json").write_text(json.dumps(
            {"command": " ".join(sys.argv), "rows": rows}, indent=1))
    lines = ["| recipe | folds x seeds | keyword accuracy (mean ± std) | all classes "
             "| worst 10 % of speakers | speakers | train min per fold |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["family"] + (" (12 classes)" if r["twelve"] else "")
        m, sd = r["accuracy"]
        am, asd = r["all_accuracy"]
        per_seed = len(r["folds"]) // len(args.seeds)  # folds trained (--only-folds: fewer)
        lines.append(f"| {name} | {per_seed} x {len(args.seeds)} | {100 * m:.2f} ± "
                     f"{100 * sd:.2f} % | {100 * am:.2f} ± {100 * asd:.2f} % | "
                     f"{100 * r['worst_decile']:.1f} % | {r['n_speakers']} | "
                     f"{r['train_minutes']:.1f} |")
    table = "\n".join(lines) + "\n"
    (args.out / "folds.md").write_text(table)
    print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech_commands_mini"))
    ap.add_argument("--out", type=Path, default=Path("runs/bench-accuracy"))
    ap.add_argument("--families", nargs="+", default=["embedconv", "tcresnet", "mlp"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--width", type=float, default=None, help="override every family's width")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs in parallel (train times then overlap: keep 1 for timings)")
    ap.add_argument("--folds", type=int, default=None,
                    help="speaker-grouped K-fold cross-validation instead of the test split")
    ap.add_argument("--words", nargs="+", default=None, help="with --folds: other words")
    ap.add_argument("--teacher", default=None, metavar="ROOT[:SEEDS]",
                    help="with --folds: distill from each fold's runs in ROOT (default seed 0)")
    ap.add_argument("--only-folds", nargs="+", type=int, default=None, metavar="I",
                    help="with --folds: train these folds only (e.g. another process takes the "
                    "rest); a later run without it gathers every fold")
    ap.add_argument("--twelve", action="store_true",
                    help="with --folds: add the _unknown_ and _silence_ classes")
    args = ap.parse_args()
    os.environ.setdefault("KWSLAB_PROGRESS", "0")
    for flag, value in (("--teacher", args.teacher), ("--only-folds", args.only_folds),
                        ("--twelve", args.twelve), ("--words", args.words)):
        if value and not args.folds:
            raise SystemExit(f"error: {flag} needs --folds")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.folds:
        from kwslab.errors import KwslabError

        try:
            folds_main(args)
        except KwslabError as e:
            raise SystemExit(f"error: {e}") from None
        return

    jobs = [(family, seed) for family in args.families for seed in args.seeds]
    with ProcessPoolExecutor(args.jobs) as ex:
        runs = list(ex.map(one_run, jobs, [args] * len(jobs)))
    rows = []
    for family in args.families:
        per_seed = [r for r in runs if r["family"] == family]
        first = per_seed[0]
        name = "mlp (seed recipe)" if family == "mlp" else f"{family} (width {first['width']:g})"
        rows.append({
            "model": name, "params": first["params"], "macs": first["macs"],
            "size_bytes": first["size_bytes"], "seeds": args.seeds,
            **{k: mean_std([r[k] for r in per_seed])
               for k in ("val", "test", "test_10dB", "test_0dB", "train_minutes")},
        })
    meta = {"data": str(args.data), "seeds": args.seeds, "cpu_count": os.cpu_count(),
            "jobs": args.jobs,
            "machine": platform.processor() or platform.machine(),
            "command": "benchmarks/accuracy.py " + " ".join(
                f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in vars(args).items() if v is not None)}
    (args.out / "accuracy.json").write_text(json.dumps(
        {"meta": meta, "rows": rows, "runs": runs}, indent=2))
    table = markdown(rows)
    (args.out / "accuracy.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
