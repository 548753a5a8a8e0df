"""Words nobody recorded: train on synthetic speech only, score on real speakers; then add a few
real clips per word and see how much they buy.

    .venv/bin/python benchmarks/synthetic.py [--real ../shared/data/speech_commands_mini]
        [--epochs 15] [--few 0,5,20] [--config default|tcresnet] [--no-piper]
        [--out runs/bench_synthetic]

The synthetic speech: 20 espeak-ng voices x 3 pitches x 3 rates, and (unless ``--no-piper``)
Piper's joe voice at 5 pitch-and-formant scales x 4 generator noises x 4 rates, each in its
own folder with its own speaker-disjoint splits; half the clips of each get a synthetic room
and half a random microphone, and the folders' synthetic noise (coloured, hum, babble) is
mixed in at training time. Each run trains a preset recipe (``--config``, with ``--epochs``
epochs) on both folders plus the first K real training clips of each word; it is scored on
the real test split, whose speakers no run has heard. Validation (model selection) uses
synthetic voices only, so no real held-out clip influences any choice. Writes
``OUT/synthetic.json`` and ``OUT/synthetic.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from kwslab.config import PRESETS, SEED_WORDS
from kwslab.data import load_clips
from kwslab.data.manifest import write_manifest
from kwslab.data.synth import DEFAULT_PIPER_NOISE, synthesize_dataset
from kwslab.evaluation import evaluate
from kwslab.training import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mini = Path(__file__).resolve().parents[2] / "shared/data/speech_commands_mini"
    ap.add_argument("--real", type=Path, default=mini)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--few", default="0,5,20", help="real training clips per word to add")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_synthetic"))
    ap.add_argument("--config", default="default", choices=sorted(PRESETS))
    ap.add_argument("--piper", action=argparse.BooleanOptionalAction, default=True,
                    help="add Piper's joe voice (needs kwslab[piper])")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rooms = dict(noise=0.25, reverb=0.5, mic=0.5, progress=True)
    synth = [synthesize_dataset(SEED_WORDS, args.out / "espeak", **rooms)]
    if args.piper:
        synth.append(synthesize_dataset(
            SEED_WORDS, args.out / "piper", voices=["piper:joe"], pitches=(20, 35, 50, 65, 80),
            rates=(120, 150, 175, 210), piper_noise=(0.333, 0.5, *DEFAULT_PIPER_NOISE[1:]),
            **rooms))
    base = PRESETS[args.config]
    cfg = replace(base, train=replace(base.train, epochs=args.epochs))
    synth_clips = load_clips(synth, cfg.data)
    real_train = [c for c in load_clips(args.real, cfg.data) if c.split == "train"]
    rows = []
    for k in (int(v) for v in args.few.split(",")):
        extra = [c for w in SEED_WORDS for c in [c for c in real_train if c.label == w][:k]]
        data: list[str | Path] = list(synth)  # folders, so training finds their noise
        if extra:
            data.append(args.out / f"real{k}.jsonl")
            write_manifest(extra, data[-1])
        start = time.perf_counter()
        run = train(cfg, data, args.out / f"mix{k}", progress=True, overwrite=True).run_dir
        result = evaluate(run, args.real, "test")
        rows.append({"real_per_word": k, "synthetic_clips": len(synth_clips),
                     "real_clips": len(extra), "test_accuracy": result["accuracy"],
                     "test_ci95": result["accuracy_ci95"], "n_test": result["n"],
                     "minutes": (time.perf_counter() - start) / 60})
        print(json.dumps(rows[-1]))
    (args.out / "synthetic.json").write_text(json.dumps(rows, indent=2))
    lines = ["| real clips per word | synthetic clips | real test accuracy (95 % CI) | minutes |",
             "|---|---|---|---|"]
    for r in rows:
        lo, hi = r["test_ci95"]
        lines.append(f"| {r['real_per_word']} | {r['synthetic_clips']} | "
                     f"{r['test_accuracy']:.3f} [{lo:.3f}, {hi:.3f}] | {r['minutes']:.1f} |")
    (args.out / "synthetic.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
