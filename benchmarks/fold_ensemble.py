"""Ensembles on speaker folds: each fold's models (several seeds, and optionally other
families, such as the from-scratch log-Mel CNN beside the embedding head), their
probabilities combined per clip by each ensemble rule (the mean, or the geometric mean that an
ensemble export can use: ``kwslab export --combine``), against each model alone. Not a test;
reads the run folders that ``benchmarks/accuracy.py --folds 5 --seeds 0 1 2`` wrote::

    .venv/bin/python benchmarks/fold_ensemble.py runs/folds/embedconv [--folds 5] [--seeds 0,1,2]
    .venv/bin/python benchmarks/fold_ensemble.py runs/folds/embedconv --seeds 0 \\
        --also runs/folds-tcresnet/tcresnet:0 --out runs/ensemble-embed-tcresnet.json

Every family must have been run on the same folds (the same speakers and clips in each
fold's test part; checked). Each rule is scored on every fold's validation speakers (the
ones its models chose their epoch on: choose a rule there) and on its test speakers (report
those). Writes ``ensemble.json`` beside the family folder (or ``--out``) and prints per-fold
accuracies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kwslab.crossval import MIN_SPEAKER_CLIPS
from kwslab.evaluation.clips import _scored
from kwslab.runtime.ensemble import COMBINE, combine

SPLITS = ("validation", "test")


def _family(spec: str, default_seeds: str) -> tuple[Path, list[int]]:
    root, _, seeds = spec.partition(":")
    return Path(root), [int(s) for s in (seeds or default_seeds).split(",")]


def _worst_decile(per_speaker: dict[str, list[bool]]) -> tuple[float, int]:
    speakers = [np.mean(v) for v in per_speaker.values() if len(v) >= MIN_SPEAKER_CLIPS]
    return float(np.percentile(speakers, 10)), len(speakers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="FAMILY folder of benchmarks/accuracy.py --folds")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--also", action="append", default=[], metavar="ROOT[:SEEDS]",
                    help="another family's folder (its seeds, default --seeds) in the ensemble")
    ap.add_argument("--combine", default=",".join(COMBINE),
                    help=f"rules to score, comma-separated ({', '.join(COMBINE)})")
    ap.add_argument("--out", type=Path, help="default: ROOT/../ensemble.json")
    args = ap.parse_args()
    rules = args.combine.split(",")
    if not set(rules) <= set(COMBINE):
        raise SystemExit(f"--combine: rules are {', '.join(COMBINE)}")
    families = [(args.root, [int(s) for s in args.seeds.split(",")])]
    families += [_family(spec, args.seeds) for spec in args.also]
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    per_speaker: dict[tuple[str, str], dict[str, list[bool]]] = {
        (split, rule): {} for split in SPLITS for rule in rules}
    for k in range(args.folds):
        data = args.root / "folds" / f"fold{k}"
        for root, _ in families[1:]:
            a = sorted(p.name for p in data.rglob("*.wav"))
            b = sorted(p.name for p in (root / "folds" / f"fold{k}").rglob("*.wav"))
            if a != b:
                raise SystemExit(f"fold {k}: {root} was run on other folds")
        for split in SPLITS:
            scored = [_scored(root / f"seed{s}-fold{k}", data, split)
                      for root, seeds in families for s in seeds]
            y = scored[0]["y"]
            if not all(np.array_equal(sc["y"], y) for sc in scored):
                raise SystemExit(f"fold {k}: the models scored different {split} clips")
            row: dict = {"fold": k, "n": int(len(y)),
                         "models": [float((sc["probs"].argmax(1) == y).mean())
                                    for sc in scored]}
            for rule in rules:
                joint = combine([sc["probs"] for sc in scored], rule)
                right = joint.argmax(1) == y
                row[rule] = float(right.mean())
                for clip, ok in zip(scored[0]["clips"], right, strict=True):
                    per_speaker[split, rule].setdefault(clip.speaker, []).append(bool(ok))
            rows[split].append(row)
            print(f"fold {k} {split}: " + ", ".join(f"{rule} {100 * row[rule]:.2f} %"
                                                   for rule in rules)
                  + ", models " + ", ".join(f"{100 * a:.2f}" for a in row["models"]) + " %",
                  flush=True)
    out: dict = {"families": [{"root": str(r), "seeds": s} for r, s in families]}
    for split in SPLITS:
        single = [a for r in rows[split] for a in r["models"]]
        out[split] = {"folds": rows[split], "single_mean": float(np.mean(single))}
        for rule in rules:
            acc = [r[rule] for r in rows[split]]
            worst, n = _worst_decile(per_speaker[split, rule])
            out[split][rule] = {"mean": float(np.mean(acc)), "std": float(np.std(acc, ddof=1)),
                                "worst_decile": worst, "n_speakers": n}
            print(f"{split:10s} {rule:9s}: {100 * np.mean(acc):.2f} +- "
                  f"{100 * np.std(acc, ddof=1):.2f} % (std over folds), worst 10 % of {n} "
                  f"speakers {100 * worst:.1f} %; single models {100 * np.mean(single):.2f} %")
    (args.out or args.root.parent / "ensemble.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
