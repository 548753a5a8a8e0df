"""What a stream costs: real-time factor of one model, of each extra model sharing the front
end, and memory over a long stream. Not a test: the numbers depend on the machine; take them
with nothing else running.

    .venv/bin/python benchmarks/stream_cost.py runs/x/export [--seconds 600] [--models 1 2 4]

The audio is fed in 80 ms chunks (as a microphone would deliver it): real clips from
``--clips DIR`` (any Speech Commands-style folder) laid end to end in memory, else low noise
made chunk by chunk (use that for memory over long runs). The
real-time factor is CPU seconds of the detector per second of audio (0.02 = 2 % of one
core); "models" runs that many copies of the export over one shared front end, which is
what several word models in one process cost. An ensemble export of heads on one front end
streams as one model with several heads. Peak RSS is read from /proc after each pass.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread, set before NumPy loads

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

CHUNK = 1280  # 80 ms at 16 kHz


def audio(seconds: float, clips: Path | None) -> np.ndarray:
    """``seconds`` of 16 kHz audio: real clips end to end with gaps, or low noise."""
    rng = np.random.default_rng(0)
    n = int(seconds * 16000)
    if clips is None:
        return rng.normal(0, 0.01, n).astype(np.float32)
    from kwslab.audio import fix_length, load_audio

    files = sorted(p for p in clips.glob("*/*.wav") if not p.parent.name.startswith("_"))
    out, pos, i = np.zeros(n, np.float32), 0, 0
    while pos < n - 16000:
        pos += int(rng.integers(8000, 32000))
        clip = fix_length(load_audio(files[i % len(files)])[None], 16000)[0]
        out[pos : pos + 16000] += clip[: max(0, n - pos)][:16000]
        pos += 16000
        i += 7
    return out + rng.normal(0, 0.003, n).astype(np.float32)


def noise_chunks(seconds: float):
    """Low noise made 80 ms at a time: the input itself takes no memory (for long runs)."""
    rng = np.random.default_rng(0)
    for _ in range(int(seconds * 16000) // CHUNK):
        yield rng.normal(0, 0.01, CHUNK).astype(np.float32)


def run(export: Path, models: int, x: np.ndarray | None, seconds: float = 0.0) -> dict:
    from kwslab.runtime import StreamDetector, load_export

    recs = [load_export(export) for _ in range(models)]
    det = StreamDetector(recs if models > 1 else recs[0])
    det.feed(np.zeros(16000, np.float32))  # warm up sessions
    det.reset()
    t0, c0 = time.perf_counter(), time.process_time()
    if x is None:  # generated as it goes
        for chunk in noise_chunks(seconds):
            det.feed(chunk)
    else:
        for s in range(0, len(x), CHUNK):
            det.feed(x[s : s + CHUNK])
        seconds = len(x) / 16000
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"models": models, "audio_s": seconds, "cpu_s": cpu, "wall_s": wall,
            "rtf_cpu": cpu / seconds, "rtf_wall": wall / seconds,
            "ms_per_80ms_hop": 1000 * cpu / (seconds * 16000 / CHUNK),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "front_end": type(det.front).__name__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export", type=Path)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--models", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--clips", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    # Real clips are laid out in memory first; noise is made as it streams, so a long run's
    # peak RSS is the detector's own.
    x = audio(args.seconds, args.clips) if args.clips else None
    rows = [run(args.export, m, x, args.seconds) for m in args.models]
    base = rows[0]["rtf_cpu"]
    for r in rows:
        r["extra_model_rtf"] = (r["rtf_cpu"] - base) / max(1, r["models"] - 1) \
            if r["models"] > 1 else 0.0
        print(json.dumps(r), flush=True)
    print("| models | real-time factor (CPU) | per extra model | ms per 80 ms hop | "
          "peak RSS |\n|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['models']} | {r['rtf_cpu']:.4f} | {r['extra_model_rtf']:.4f} | "
              f"{r['ms_per_80ms_hop']:.2f} | {r['peak_rss_mb']:.0f} MB |")
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows},
                                       indent=1))


if __name__ == "__main__":
    main()
