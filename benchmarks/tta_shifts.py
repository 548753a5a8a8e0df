"""Does test-time augmentation by time shifts help? Scores the speaker-fold models of
``benchmarks/accuracy.py --folds K`` on each fold's validation and test speakers, plain and
with the probabilities averaged over shifted copies of each clip. Not a test.

    .venv/bin/python benchmarks/tta_shifts.py runs/folds/embedconv --shifts 0 -1600 1600

Prints, per fold and split, (plain %, averaged %, n) over the 8 words' clips. Choose on the
validation columns.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from kwslab.data import load_clips
from kwslab.data.augment import time_shift_batch
from kwslab.data.dataset import load_waves
from kwslab.data.speechcommands import select_split
from kwslab.features import compute_features
from kwslab.models.inference import predict_logits
from kwslab.models.io import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folds", type=Path, help="the family folder of a --folds run")
    ap.add_argument("--shifts", type=int, nargs="+", default=[0, -1600, 1600],
                    help="shifts in samples (0 must be one of them)")
    args = ap.parse_args()
    for run in sorted(args.folds.glob("seed*-fold*")):
        if not run.is_dir():
            continue
        data = args.folds / "folds" / run.name.split("-")[1]
        model, cfg, meta = load_model(run)
        out = {}
        for split in ("validation", "test"):
            clips = [c for c in select_split(load_clips(data, cfg.data), split)
                     if c.label in cfg.data.words]
            w = load_waves(clips, cfg.features.clip_samples)
            y = np.array([meta["labels"].index(c.label) for c in w.clips])
            probs = []
            for s in args.shifts:
                x = time_shift_batch(w.waves, np.full(len(w.waves), s)) if s else w.waves
                logits = predict_logits(model, compute_features(x, cfg.features))
                probs.append(torch.softmax(logits, 1).numpy())
            plain = (probs[args.shifts.index(0)].argmax(1) == y).mean()
            averaged = (np.mean(probs, 0).argmax(1) == y).mean()
            out[split] = (round(100 * plain, 2), round(100 * averaged, 2), len(y))
        print(run.name, json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
