"""Words nobody recorded: train on synthetic speech only, score on real speakers; then add a few
real clips per word and see how much they buy.

    .venv/bin/python benchmarks/synthetic.py [--real ../shared/data/speech_commands_mini]
        [--synth slow-endings|...] [--recipe mixup|...] [--real-noise] [--epochs 15] [--copies 4]
        [--few 0,5,20] [--seeds 0] [--split test|validation] [--config default|tcresnet]
        [--no-piper] [--out runs/bench_synthetic] [--cache OUT/synth]

The synthetic speech (``--synth``, a name in :data:`SYNTH`): espeak-ng voices at several
pitches and rates and (unless ``--no-piper``) Piper's joe voice at several pitch-and-formant
scales, generator noises and rates, each in its own folder with its own speaker-disjoint
splits; some clips get a synthetic room, a random microphone or noise, and the folders'
synthetic noise (coloured, hum, babble) is mixed in at training time. ``--real-noise`` adds
the real dataset's ``_background_noise_`` recordings to that training noise (they hold no
speech of its speakers). Synthesised folders are kept under ``OUT/synth/`` by their settings,
so variants share them. Each run trains a preset recipe (``--config``, with ``--epochs`` and
``--copies`` augmented copies) on the synthetic folders plus the first K real training clips
of each word, and is scored on one real split (``--split``), whose speakers no run has heard.
Model selection inside training uses synthetic voices only. Variants are compared on the real
validation split (``--split validation --few 0 --seeds 0,1,2``); the real test split scores
only the chosen one, the default: ``slow-endings`` (espeak-ng at 110-175 and Piper at 90-165
words per minute, each clip ending in "", "!", "?" or "...") with ``mixup``. Writes
``OUT/synthetic.json`` and ``OUT/synthetic.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kwslab.config import PRESETS, SEED_WORDS
from kwslab.data import load_clips
from kwslab.data.manifest import write_manifest
from kwslab.data.speechcommands import NOISE_DIR, noise_files
from kwslab.data.synth import DEFAULT_PIPER_NOISE, DEFAULT_VOICES, synthesize_dataset
from kwslab.evaluation import evaluate
from kwslab.training import train

ROOMS = dict(noise=0.25, reverb=0.5, mic=0.5)
BASE: dict[str, dict[str, Any]] = {
    "espeak": dict(ROOMS),
    "piper": dict(ROOMS, voices=["piper:joe"], pitches=(20, 35, 50, 65, 80),
                  rates=(120, 150, 175, 210), piper_noise=(0.333, 0.5, *DEFAULT_PIPER_NOISE[1:])),
}
# Real clips (train split, measured): words last ~0.43 s (median), sit within ~0.2 s of the
# centre, peak at 0.18-0.9 and have a noise floor ~40-75 dB below the speech.
LEVEL = dict(max_shift=0.25, peak=(0.1, 0.95), floor_db=(35.0, 75.0))
MORE_VOICES = (
    "en-us+m1", "en-us+m7", "en-us+f5", "en+m4", "en+f1", "en-gb-x-rp+m3", "en-gb-x-rp+f2",
    "en-us-nyc+m2", "en-us-nyc+f4", "en-029+m1", "en-gb-scotland+m6", "en-gb-x-gbclan+f2",
    "en-gb-x-gbcwmd+m5", "en-us+Alex", "en+Alicia", "en-us+adam", "en-gb-x-rp+belinda",
    "en-us+david", "en+linda", "en-us+steph",
)  # 20 more accent x variant pairs (none of DEFAULT_VOICES)
ENDINGS = ("", "!", "?", "...")  # punctuation changes the synthesisers' intonation
MORE_PIPER = dict(BASE["piper"], pitches=(10, 23, 36, 50, 63, 76, 90),
                  rates=(110, 135, 160, 185, 215), piper_noise=(0.333, 0.5, 0.667, 0.9, 1.1))
SLOW_ENDINGS = {  # slower speech (real isolated words last ~0.43 s) with varied intonation
    "espeak": dict(ROOMS, rates=(110, 140, 175), endings=ENDINGS),
    "piper": dict(BASE["piper"], rates=(90, 110, 135, 165), endings=ENDINGS),
}
SYNTH: dict[str, dict[str, dict[str, Any]]] = {  # engine -> synthesize_dataset arguments
    "base": BASE,
    "level": {k: dict(v, **LEVEL) for k, v in BASE.items()},
    "voices": {"espeak": dict(ROOMS, voices=DEFAULT_VOICES + MORE_VOICES),
               "piper": BASE["piper"]},
    "endings": {k: dict(v, endings=ENDINGS) for k, v in BASE.items()},
    "slow": {"espeak": dict(ROOMS, rates=(110, 140, 175)),
             "piper": dict(BASE["piper"], rates=(90, 110, 135, 165))},
    "rates": {"espeak": dict(ROOMS, rates=(95, 120, 145, 180)),
              "piper": dict(BASE["piper"], rates=(80, 100, 125, 155, 195))},
    "slow-endings": SLOW_ENDINGS,  # the chosen one: 92.4 % on real validation speakers
    "slow-endings-voices": {
        "espeak": dict(ROOMS, voices=DEFAULT_VOICES + MORE_VOICES, rates=(110, 140, 175),
                       endings=ENDINGS),
        "piper": dict(BASE["piper"], rates=(90, 110, 135, 165), endings=ENDINGS)},
    "slow-endings-level": {k: dict(v, **LEVEL) for k, v in SLOW_ENDINGS.items()},
    "trim": {"espeak": BASE["espeak"], "piper": dict(BASE["piper"], trim_db=60.0)},
    "piper": {"espeak": BASE["espeak"], "piper": MORE_PIPER},
}
RECIPES: dict[str, dict[str, Any]] = {  # AugmentConfig changes to the preset, for synthetic data
    "preset": {},
    "mixup": dict(mixup=0.4),  # blends of voices: less room to key on one synthesiser's traits
    "speed": dict(speed=(0.8, 1.25), time_shift_ms=150.0),  # people's rates and placement vary more
}
REAL_PREFIX = "real_"  # real noise files linked into a synthetic folder's noise


def synthesize(name: str, cache: Path, piper: bool) -> list[Path]:
    """The folders of synthesis variant ``name``, each made once under ``cache`` (a folder per
    engine and settings, so variants that share settings share audio)."""
    folders = []
    for engine, kwargs in SYNTH[name].items():
        if engine == "piper" and not piper:
            continue
        digest = hashlib.sha1(json.dumps(kwargs, sort_keys=True).encode()).hexdigest()[:8]
        folders.append(synthesize_dataset(SEED_WORDS, cache / f"{engine}-{digest}", **kwargs,
                                          progress=os.environ.get("KWSLAB_PROGRESS") != "0"))
    return folders


def link_real_noise(folder: Path, real: Path, on: bool) -> None:
    """Add (``on``) or remove the real dataset's noise recordings in ``folder``'s noise."""
    noise = folder / NOISE_DIR
    for old in noise.glob(f"{REAL_PREFIX}*"):
        old.unlink()
    if on:
        for f in noise_files(real):
            (noise / f"{REAL_PREFIX}{f.name}").symlink_to(f.resolve())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mini = Path(__file__).resolve().parents[2] / "shared/data/speech_commands_mini"
    ap.add_argument("--real", type=Path, default=mini)
    ap.add_argument("--synth", default="slow-endings", choices=sorted(SYNTH))
    ap.add_argument("--real-noise", action=argparse.BooleanOptionalAction, default=False,
                    help="mix the real dataset's background noise in at training time")
    ap.add_argument("--recipe", default="mixup", choices=sorted(RECIPES),
                    help="augmentation changes to the preset (RECIPES)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--copies", type=int, default=None, help="augmented copies (preset's: 4)")
    ap.add_argument("--few", default="0,5,20", help="real training clips per word to add")
    ap.add_argument("--seeds", default="0", help="training seeds, each a run (e.g. 0,1,2)")
    ap.add_argument("--split", default="test", choices=("test", "validation"),
                    help="real split to score (validation: for choosing between variants)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_synthetic"))
    ap.add_argument("--cache", type=Path, default=None, help="synthesised folders (OUT/synth)")
    ap.add_argument("--config", default="default", choices=sorted(PRESETS))
    ap.add_argument("--piper", action=argparse.BooleanOptionalAction, default=True,
                    help="add Piper's joe voice (needs kwslab[piper])")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    synth = synthesize(args.synth, args.cache or args.out / "synth", args.piper)
    synth_minutes = (time.perf_counter() - start) / 60
    for folder in synth:
        link_real_noise(folder, args.real, args.real_noise)
    base = PRESETS[args.config]
    augment = replace(base.train.augment, **RECIPES[args.recipe])
    if args.copies is not None:
        augment = replace(augment, copies=args.copies)
    cfg = replace(base, train=replace(base.train, epochs=args.epochs, augment=augment))
    synth_clips = load_clips(synth, cfg.data)
    real_train = [c for c in load_clips(args.real, cfg.data) if c.split == "train"]
    rows = []
    for k in (int(v) for v in args.few.split(",")):
        extra = [c for w in SEED_WORDS for c in [c for c in real_train if c.label == w][:k]]
        data: list[str | Path] = list(synth)  # folders, so training finds their noise
        if extra:
            data.append(args.out / f"real{k}.jsonl")
            write_manifest(extra, data[-1])
        for seed in (int(v) for v in args.seeds.split(",")):
            start = time.perf_counter()
            run_cfg = replace(cfg, train=replace(cfg.train, seed=seed))
            name = f"mix{k}" if seed == 0 else f"mix{k}-seed{seed}"
            run = train(run_cfg, data, args.out / name, progress=True, overwrite=True).run_dir
            result = evaluate(run, args.real, args.split)
            rows.append({"real_per_word": k, "seed": seed, "synth": args.synth,
                         "recipe": args.recipe,
                         "real_noise": args.real_noise, "epochs": args.epochs,
                         "copies": augment.copies, "synthetic_clips": len(synth_clips),
                         "real_clips": len(extra), "split": args.split,
                         "accuracy": result["accuracy"], "ci95": result["accuracy_ci95"],
                         "n": result["n"], "synth_minutes": synth_minutes,
                         "minutes": (time.perf_counter() - start) / 60})
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "synthetic.json").write_text(json.dumps(rows, indent=2))
    lines = [f"| real clips per word | seed | synthetic clips | real {args.split} accuracy "
             "(95 % CI) | minutes |", "|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["ci95"]
        lines.append(f"| {r['real_per_word']} | {r['seed']} | {r['synthetic_clips']} | "
                     f"{r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] | {r['minutes']:.1f} |")
    (args.out / "synthetic.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
