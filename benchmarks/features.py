"""Feature extraction throughput: one-second clips per second (issue target: >= 5,000 on 2 cores).

    .venv/bin/python benchmarks/features.py [--clips 5000] [--repeats 3] [--json OUT]

Measures :func:`kwslab.features.compute_features` on random 1 s clips for the default
(40 log-Mels, 25 ms / 10 ms) and the seed (128 x 32 -> 32 x 32) configurations, best of N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from kwslab.config import DEFAULT, SEED
from kwslab.features import compute_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    x = (np.random.default_rng(0).standard_normal((args.clips, 16000)) * 0.1).astype(np.float32)
    rows = []
    for name, cfg in (("default", DEFAULT.features), ("seed", SEED.features)):
        compute_features(x[:64], cfg)  # warm caches (filterbank, window)
        best = min(_time(lambda cfg=cfg: compute_features(x, cfg)) for _ in range(args.repeats))
        rows.append({"config": name, "shape": list(cfg.shape), "clips": args.clips,
                     "seconds": round(best, 3), "clips_per_second": round(args.clips / best)})
        print(f"{name:8s} {str(cfg.shape):12s} {args.clips / best:8.0f} clips/s "
              f"({best:.2f} s for {args.clips})")
    info = {"cpus": os.cpu_count(), "machine": platform.machine(), "numpy": np.__version__}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": rows, "machine": info}, f, indent=2)


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
