"""Latency of the deployed recogniser: one 1 s clip, features + model, one thread; cold start.

Not a test: numbers depend on the machine. Run it on an export folder::

    .venv/bin/python benchmarks/latency.py runs/x/export [--clip some.wav] [--int8] [--no-scipy]

Targets (issue 5): p50 <= 1 ms for features + model of the default CNN; cold start (import
+ load) <= 0.5 s. ``--no-scipy`` blocks scipy so the features use NumPy's FFT, as on a box
with only the runtime extra installed.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # single thread, set before NumPy loads

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

BLOCK_SCIPY = """
import sys
class _NoScipy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "scipy":
            raise ImportError("scipy blocked for the benchmark")
sys.meta_path.insert(0, _NoScipy())
"""

COLD = """
import json, time
t0 = time.perf_counter()
import numpy as np
from kwslab.runtime import load_export
t1 = time.perf_counter()
r = load_export({export!r}, int8={int8!r})
t2 = time.perf_counter()
r.predict(np.zeros(r.clip_samples, np.float32))
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "first_predict_s": t3 - t2}}))
"""


def cold_start(export: str, int8: bool, no_scipy: bool, repeats: int) -> dict:
    """Median import / load / first-predict seconds in fresh interpreters, and process wall."""
    runs = []
    for _ in range(repeats):
        code = (BLOCK_SCIPY if no_scipy else "") + COLD.format(export=export, int8=int8)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["process_s"] = time.perf_counter() - start
        runs.append(row)
    med = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
    med["import_plus_load_s"] = med["import_s"] + med["load_s"]
    return med


def percentiles(samples_ms: list[float]) -> dict:
    import numpy as np

    a = np.array(samples_ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean())}


def model_size(r) -> dict:
    """Family, parameters and MACs a clip of an export; an ensemble's members on one front end
    share it at run time, so its MACs count once."""
    from kwslab.runtime.frontend import feature_key

    members = list(getattr(r, "members", [r]))
    cards = [m.meta.get("model_card", {}) for m in members]
    fronts = {feature_key(m): (c.get("front_end") or {}).get("macs") or 0
              for m, c in zip(members, cards, strict=True)}
    return {"family": "+".join(str(c.get("family")) for c in cards),
            "params": sum(c.get("params") or 0 for c in cards),
            "macs": sum(c.get("macs") or 0 for c in cards) + sum(fronts.values())}


def warm(export: str, int8: bool, clip: str | None, n: int) -> dict:
    import numpy as np

    from kwslab.runtime import load_export

    r = load_export(export, int8=int8, threads=1)
    if clip:
        from kwslab.audio import load_audio

        x = load_audio(clip)
    else:
        x = (0.1 * np.random.default_rng(0).standard_normal(r.clip_samples)).astype(np.float32)
    for _ in range(50):
        r.predict(x)
    feats, model, total, cpu = [], [], [], []
    split = hasattr(r, "compute")  # an ensemble's members featurise each clip themselves
    for _ in range(n):
        if split:
            t0 = time.perf_counter()
            f = r.compute(x)
            t1 = time.perf_counter()
            r.run(f[None])
            t2 = time.perf_counter()
            feats.append(1e3 * (t1 - t0))
            model.append(1e3 * (t2 - t1))
        c3, t3 = time.process_time(), time.perf_counter()
        r.predict(x)
        total.append(1e3 * (time.perf_counter() - t3))
        cpu.append(1e3 * (time.process_time() - c3))  # CPU time: robust to a busy machine
    return {"model": {**model_size(r), "variant": r.meta["loaded"]},
            "fft": "scipy" if "scipy.fft" in sys.modules else "numpy",
            **({"features": percentiles(feats), "model_only": percentiles(model)}
               if split else {}),
            "predict": percentiles(total), "predict_cpu": percentiles(cpu), "n": n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export_dir")
    p.add_argument("--clip", help="audio file to score (default: 1 s of noise)")
    p.add_argument("--n", type=int, default=2000, help="timed predictions")
    p.add_argument("--int8", action="store_true", help="time model.int8.onnx")
    p.add_argument("--no-scipy", action="store_true", help="features with NumPy's FFT only")
    p.add_argument("--cold-repeats", type=int, default=5)
    p.add_argument("--out", help="also write the result as JSON to this file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    if args.no_scipy:
        exec(BLOCK_SCIPY)  # noqa: S102 (our own constant)
    from kwslab.errors import KwslabError

    try:
        timed = warm(args.export_dir, args.int8, args.clip, args.n)
    except KwslabError as e:
        raise SystemExit(f"error: {e}") from None
    result = {"export_dir": args.export_dir, "threads": 1, **timed,
              "cold_start": cold_start(args.export_dir, args.int8, args.no_scipy,
                                       args.cold_repeats)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    m, c = result["model"], result["cold_start"]
    print(f"model: {m['family']} ({m['variant']}), {m['params']} params, {m['macs']} MACs; "
          f"FFT: {result['fft']}; 1 thread; n={args.n}")
    for name in ("features", "model_only", "predict", "predict_cpu"):
        if name not in result:
            continue
        s = result[name]
        print(f"  {name:<11} p50 {s['p50_ms']:.3f} ms  p90 {s['p90_ms']:.3f} ms  "
              f"p99 {s['p99_ms']:.3f} ms")
    print(f"  cold start: import {c['import_s']:.3f} s + load {c['load_s']:.3f} s = "
          f"{c['import_plus_load_s']:.3f} s; first predict {c['first_predict_s']:.3f} s; "
          f"whole process {c['process_s']:.3f} s (median of {args.cold_repeats})")


if __name__ == "__main__":
    main()
