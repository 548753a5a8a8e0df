"""The README's stream recipe, end to end, for one or more training seeds: hits at low false
accepts per hour on validation (and test) audio, so a recipe change can be told from the
spread between trainings. Not a test: about 20 minutes a seed on 2 cores.

    python benchmarks/stream_recipe.py --data ../shared/data/speech_commands_mini \\
        --negatives ../shared/data/negatives --seeds 0 1 --out runs/stream-recipe \\
        [--extra-data data/confusables/confusables.jsonl] [--off-centre 0] [--test]

Per seed S (folder ``OUT/seedS``), the commands of the README's stream section: a default
model with ``--unknown --negatives`` (seed S), its hard negatives mined from the negatives'
training quarter (``kwslab mine --threshold 0.3``), a ``stream`` model on them (seed S), a
second round of mining with it, then three ``stream`` heads (seeds 3S, 3S+1, 3S+2) and a
``tcresnet-stream`` (seed S) on both rounds, exported as one ensemble. Seed 0 is the
README's training. ``--extra-data`` adds a source (e.g. ``kwslab synth --confusables``'s
manifest) to every training; ``--off-centre`` (default 1, the README's) adds that many
off-centre keywords per word to every training (``kwslab train --off-centre``; 0: none, the
recipe before they were added). Each ensemble is scored by ``kwslab eval-stream --split
validation`` (validation speakers' words at 10 dB + the negatives' validation quarter);
``--test`` also scores the test audio, which should be looked at once, after choosing.

Finished steps are kept: a run with its ``metrics.json``, an export with its
``manifest.json``, a mined manifest, a scored ``det.json``; run it again to resume (the same
``--data``, ``--negatives``, ``--extra-data`` and ``--off-centre`` only, checked against
``OUT/spec.json``; delete a step's output, and those made from it, to redo it). Writes
``OUT/summary.json`` and ``OUT/summary.md``: best hits at <= 0.5 / 1 / 2 / 5 false accepts per
hour (one threshold for all words) per seed and split, and their mean; "negatives only" rows
count false accepts on the negative audio alone, per hour of it (a word taken for another is
then a miss, not a false accept).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RATES = (0.5, 1.0, 2.0, 5.0)  # false accepts per hour
KWSLAB = str(Path(sys.executable).parent / "kwslab")


def best_hits(result: dict, rates: tuple[float, ...] = RATES, *,
              negatives_only: bool = False) -> list[float | None]:
    """Best hit rate (%) of an ``eval-stream`` result's DET curve at each false-accept rate,
    None where none fits: every wrong detection over all the audio, or (``negatives_only``)
    detections on the negative audio per hour of it (see ``kwslab.evaluation.stream.best_at``).
    """
    from kwslab.evaluation.stream import best_at

    det, hours = result["det"], result["negatives"]["hours"]
    for p in det:  # det.json files written before the key was added
        if "fa_per_hour_negatives" not in p and hours:
            p["fa_per_hour_negatives"] = p["false_accepts_negatives"] / hours
    points = [best_at(det, rate, negatives_only=negatives_only) for rate in rates]
    return [None if p is None else 100 * p["hit_rate"] for p in points]


def _run(args: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%H:%M:%S')} kwslab {' '.join(args)}", flush=True)
    env = {**os.environ, "KWSLAB_PROGRESS": "0"}
    with open(log, "w") as f:  # the child keeps its own handle
        return subprocess.Popen([KWSLAB, *args], stdout=f, stderr=subprocess.STDOUT, env=env)


def _wait(proc: subprocess.Popen, log: Path) -> None:
    if proc.wait() != 0:
        tail = log.read_text().strip().splitlines()[-1:] if log.is_file() else []
        sys.exit(f"failed ({log}): {' '.join(tail)}")


def _step(args: list[str], done: Path, log: Path) -> None:
    if not done.exists():
        _wait(_run(args, log), log)


def _train(run: Path, args: list[str]) -> subprocess.Popen | None:
    if (run / "metrics.json").is_file():
        return None
    return _run(["train", *args, "--out", str(run), "--quiet", "--no-report", "--overwrite"],
                run.parent / f"{run.name}.log")


def _train_export(run: Path, args: list[str]) -> Path:
    proc = _train(run, args)
    if proc is not None:
        _wait(proc, run.parent / f"{run.name}.log")
    export = run.parent / f"{run.name}x"
    _step(["export", str(run), "--out", str(export), "--overwrite"], export / "manifest.json",
          run.parent / f"{run.name}x.log")
    return export


def recipe(seed: int, out: Path, data: str, negatives: str, extra: list[str],
           splits: list[str], off_centre: float = 0.0) -> dict[str, list[float | None]]:
    """Train and score the stream recipe for one seed; best hits per split."""
    d = [a for x in [*extra, data] for a in ("--data", x)]
    neg = ["--negatives", negatives]
    if off_centre:  # every training (only: mine and eval-stream take no such option)
        d += ["--off-centre", str(off_centre)]
    r1 = _train_export(out / "r1", [*d, *neg, "--unknown", "--seed", str(seed)])
    hard = out / "hard.jsonl"
    _step(["mine", str(r1), *neg, "--out", str(hard), "--threshold", "0.3"], hard,
          out / "mine1.log")
    r2 = _train_export(out / "r2", ["--config", "stream", "--seed", str(seed), "--data",
                                    str(hard), *d, *neg])
    hard2 = out / "hard2.jsonl"
    _step(["mine", str(r2), *neg, "--out", str(hard2), "--threshold", "0.3"], hard2,
          out / "mine2.log")
    both = ["--data", str(hard), "--data", str(hard2), *d, *neg]
    tc = _train(out / "tc", ["--config", "tcresnet-stream", "--seed", str(seed), *both])
    heads = []
    try:
        for k in range(3):  # one core for the heads in turn, the other for the TC-ResNet
            run = out / f"head{k}"
            proc = _train(run, ["--config", "stream", "--seed", str(3 * seed + k), *both])
            if proc is not None:
                _wait(proc, out / f"head{k}.log")
            heads.append(str(run))
        if tc is not None:
            _wait(tc, out / "tc.log")
    finally:  # a failed head stops the TC-ResNet too: a rerun must not train it twice at once
        if tc is not None and tc.poll() is None:
            tc.terminate()
            tc.wait()
    ens = out / "ensemble"
    _step(["export", *heads, str(out / "tc"), "--out", str(ens), "--overwrite"],
          ens / "manifest.json", out / "ensemble.log")
    found = {}
    for split in splits:
        det = out / split / "det.json"
        _step(["eval-stream", str(ens), "--data", data, *neg, "--snr", "10", "--split", split,
               "--out", str(out / split)], det, out / f"eval-{split}.log")
        result = json.loads(det.read_text())
        found[split] = best_hits(result)
        found[f"{split}, negatives only"] = best_hits(result, negatives_only=True)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--negatives", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--extra-data", action="append", default=[],
                    help="another source for every training (repeatable)")
    ap.add_argument("--off-centre", type=float, default=1.0,
                    help="kwslab train --off-centre for every training (default 1, as the "
                    "README's recipe; 0: none, the recipe before)")
    ap.add_argument("--test", action="store_true", help="also score the test audio")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    for p in [a.data, a.negatives, *a.extra_data]:
        if not Path(p).exists():
            sys.exit(f"{p}: no such file or folder")
    if any(s < 0 for s in a.seeds):
        sys.exit("--seeds must be >= 0")
    if not a.off_centre >= 0:
        sys.exit("--off-centre must be >= 0")
    splits = ["validation", "test"] if a.test else ["validation"]
    # Finished steps are reused on a rerun, so a folder holds one recipe on one data set only.
    spec = {"data": a.data, "negatives": a.negatives, "extra_data": a.extra_data}
    if a.off_centre:  # folders of earlier recipes (none) keep matching with --off-centre 0
        spec["off_centre"] = a.off_centre
    spec_file = a.out / "spec.json"
    if spec_file.is_file() and json.loads(spec_file.read_text()) != spec:
        sys.exit(f"{a.out} holds runs of another recipe or data ({spec_file}); give another "
                 "--out")
    a.out.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec, indent=2) + "\n")
    rows = {s: recipe(s, a.out / f"seed{s}", a.data, a.negatives, a.extra_data, splits,
                      a.off_centre) for s in a.seeds}
    summary: dict = {"rates_fa_per_hour": list(RATES), "extra_data": a.extra_data,
                     "off_centre": a.off_centre,
                     "seeds": {str(s): r for s, r in rows.items()}, "mean": {}}
    lines = ["| seed | split | " + " | ".join(f"<= {r:g} FA/h" for r in RATES) + " |",
             "|---|---|" + "---|" * len(RATES)]
    for split in [v for s in splits for v in (s, f"{s}, negatives only")]:
        for s, r in rows.items():
            lines.append(f"| {s} | {split} | " + " | ".join(
                "-" if v is None else f"{v:.1f} %" for v in r[split]) + " |")
        vals = np.array([[np.nan if v is None else v for v in r[split]] for r in rows.values()])
        mean = [None if np.isnan(c).any() else float(c.mean()) for c in vals.T]
        summary["mean"][split] = mean
        lines.append(f"| mean of {len(rows)} | {split} | " + " | ".join(
            "-" if v is None else f"**{v:.1f} %**" for v in mean) + " |")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (a.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
