"""Seed ensembles on speaker folds: each fold's models of several seeds, their probabilities
averaged per test clip, against each seed alone. Not a test; reads the run folders that
``benchmarks/accuracy.py --folds 5 --seeds 0 1 2`` wrote::

    .venv/bin/python benchmarks/fold_ensemble.py runs/folds/embedconv [--folds 5] [--seeds 0,1,2]

Writes ``ensemble.json`` beside the family folder and prints per-fold accuracies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kwslab.evaluation.clips import _scored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="FAMILY folder of benchmarks/accuracy.py --folds")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for k in range(args.folds):
        data = args.root / "folds" / f"fold{k}"
        scored = [_scored(args.root / f"seed{s}-fold{k}", data, "test") for s in seeds]
        y = scored[0]["y"]
        if not all(np.array_equal(sc["y"], y) for sc in scored):
            raise SystemExit(f"fold {k}: the seeds' runs scored different clips")
        avg = np.mean([sc["probs"] for sc in scored], axis=0)
        rows.append({"fold": k, "n": int(len(y)), "ensemble": float((avg.argmax(1) == y).mean()),
                     "seeds": [float((sc["probs"].argmax(1) == y).mean()) for sc in scored]})
        print(f"fold {k}: ensemble {100 * rows[-1]['ensemble']:.2f} %, seeds "
              + ", ".join(f"{100 * a:.2f}" for a in rows[-1]["seeds"]) + " %", flush=True)
    ens = [r["ensemble"] for r in rows]
    single = [a for r in rows for a in r["seeds"]]
    out = {"folds": rows, "seeds": seeds, "ensemble_mean": float(np.mean(ens)),
           "ensemble_std": float(np.std(ens)), "single_mean": float(np.mean(single))}
    print(f"ensemble {100 * out['ensemble_mean']:.2f} +- {100 * out['ensemble_std']:.2f} %, "
          f"single models {100 * out['single_mean']:.2f} %")
    (args.root.parent / "ensemble.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
