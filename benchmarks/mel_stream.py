"""What a log-Mel stream's front end costs per hop: MelStream (each STFT frame once) against
featurising every window whole (WindowStream). Not a test; take it with nothing else running.

    .venv/bin/python benchmarks/mel_stream.py [--seconds 300] [--hop-ms 100] [--config tcresnet]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, set before NumPy loads

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from kwslab.config import load_config  # noqa: E402
from kwslab.features import compute_features  # noqa: E402
from kwslab.runtime.frontend import MelStream, WindowStream  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--hop-ms", type=float, default=100.0)
    ap.add_argument("--config", default="tcresnet")
    args = ap.parse_args()
    cfg = load_config(args.config).features
    hop = int(round(args.hop_ms * cfg.sample_rate / 1000))
    x = np.random.default_rng(0).normal(0, 0.1, int(args.seconds * cfg.sample_rate))
    x = x.astype(np.float32)
    fronts = {"MelStream": MelStream(cfg, hop),
              "WindowStream": WindowStream(cfg.clip_samples, hop,
                                           lambda w: compute_features(w, cfg))}
    for name, front in fronts.items():
        front.feed(x[: cfg.clip_samples])
        start, n = time.perf_counter(), 0
        for i in range(cfg.clip_samples, len(x), hop):
            front.feed(x[i : i + hop])
            n += 1
        ms = 1000 * (time.perf_counter() - start) / n
        print(f"{name:13s} {ms:.3f} ms per {args.hop_ms:g} ms hop "
              f"({100 * ms / args.hop_ms:.2f} % of a core)")


if __name__ == "__main__":
    main()
