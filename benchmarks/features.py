"""Feature extraction throughput: one-second clips per second (issue target: >= 5,000 on 2 cores).

    .venv/bin/python benchmarks/features.py [--clips 5000] [--repeats 3] [--json OUT]

Measures :func:`kwslab.features.compute_features` on random 1 s clips for the NumPy log-Mel
features of the tcresnet recipe (40 log-Mels, 25 ms / 10 ms) and of the seed (128 x 32 ->
32 x 32), best of N. ``--embedding N`` also times the default recipe's pretrained
speech_embedding front end (onnxruntime, one thread) on N clips.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from kwslab.config import DEFAULT, SEED, TCRESNET
from kwslab.features import compute_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--embedding", type=int, default=0,
                    help="also time the speech_embedding front end on this many clips")
    args = ap.parse_args()
    x = (np.random.default_rng(0).standard_normal((args.clips, 16000)) * 0.1).astype(np.float32)
    rows = []
    configs = [("tcresnet", TCRESNET.features, x), ("seed", SEED.features, x)]
    if args.embedding:
        configs.append(("default", DEFAULT.features, x[: args.embedding]))
    for name, cfg, clips in configs:
        compute_features(clips[:64], cfg)  # warm caches (filterbank, window, sessions)
        best = min(_time(lambda cfg=cfg, clips=clips: compute_features(clips, cfg))
                   for _ in range(args.repeats))
        n = len(clips)
        rows.append({"config": name, "shape": list(cfg.shape), "clips": n,
                     "seconds": round(best, 3), "clips_per_second": round(n / best)})
        print(f"{name:8s} {str(cfg.shape):12s} {n / best:8.0f} clips/s ({best:.2f} s for {n})")
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
