"""Ensembles on speaker folds: each fold's models (several seeds, and optionally other
families, such as the from-scratch log-Mel CNN beside the embedding head), their
probabilities averaged per test clip, against each model alone. Not a test; reads the run
folders that ``benchmarks/accuracy.py --folds 5 --seeds 0 1 2`` wrote::

    .venv/bin/python benchmarks/fold_ensemble.py runs/folds/embedconv [--folds 5] [--seeds 0,1,2]
    .venv/bin/python benchmarks/fold_ensemble.py runs/folds/embedconv --seeds 0 \\
        --also runs/folds-tcresnet/tcresnet:0 --out runs/ensemble-embed-tcresnet.json

Every family must have been run on the same folds (the same speakers and clips in each
fold's test part; checked). Writes ``ensemble.json`` beside the family folder (or ``--out``)
and prints per-fold accuracies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kwslab.crossval import MIN_SPEAKER_CLIPS
from kwslab.evaluation.clips import _scored


def _family(spec: str, default_seeds: str) -> tuple[Path, list[int]]:
    root, _, seeds = spec.partition(":")
    return Path(root), [int(s) for s in (seeds or default_seeds).split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="FAMILY folder of benchmarks/accuracy.py --folds")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--also", action="append", default=[], metavar="ROOT[:SEEDS]",
                    help="another family's folder (its seeds, default --seeds) in the ensemble")
    ap.add_argument("--out", type=Path, help="default: ROOT/../ensemble.json")
    args = ap.parse_args()
    families = [(args.root, [int(s) for s in args.seeds.split(",")])]
    families += [_family(spec, args.seeds) for spec in args.also]
    rows: list[dict] = []
    per_speaker: dict[str, list[bool]] = {}
    for k in range(args.folds):
        data = args.root / "folds" / f"fold{k}"
        scored = [_scored(root / f"seed{s}-fold{k}", data, "test")
                  for root, seeds in families for s in seeds]
        y = scored[0]["y"]
        if not all(np.array_equal(sc["y"], y) for sc in scored):
            raise SystemExit(f"fold {k}: the models scored different clips")
        for root, _ in families[1:]:
            a = sorted(p.name for p in (args.root / "folds" / f"fold{k}").rglob("*.wav"))
            b = sorted(p.name for p in (root / "folds" / f"fold{k}").rglob("*.wav"))
            if a != b:
                raise SystemExit(f"fold {k}: {root} was run on other folds")
        avg = np.mean([sc["probs"] for sc in scored], axis=0)
        for clip, right in zip(scored[0]["clips"], avg.argmax(1) == y, strict=True):
            per_speaker.setdefault(clip.speaker, []).append(bool(right))
        rows.append({"fold": k, "n": int(len(y)), "ensemble": float((avg.argmax(1) == y).mean()),
                     "models": [float((sc["probs"].argmax(1) == y).mean()) for sc in scored]})
        print(f"fold {k}: ensemble {100 * rows[-1]['ensemble']:.2f} %, models "
              + ", ".join(f"{100 * a:.2f}" for a in rows[-1]["models"]) + " %", flush=True)
    ens = [r["ensemble"] for r in rows]
    single = [a for r in rows for a in r["models"]]
    speakers = [np.mean(v) for v in per_speaker.values() if len(v) >= MIN_SPEAKER_CLIPS]
    out = {"folds": rows, "families": [{"root": str(r), "seeds": s} for r, s in families],
           "ensemble_mean": float(np.mean(ens)), "ensemble_std": float(np.std(ens, ddof=1)),
           "single_mean": float(np.mean(single)),
           "worst_decile": float(np.percentile(speakers, 10)), "n_speakers": len(speakers)}
    print(f"ensemble {100 * out['ensemble_mean']:.2f} +- {100 * out['ensemble_std']:.2f} % "
          f"(std over folds), worst 10 % of {len(speakers)} speakers "
          f"{100 * out['worst_decile']:.1f} %, single models {100 * out['single_mean']:.2f} %")
    (args.out or args.root.parent / "ensemble.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
