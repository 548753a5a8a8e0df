"""``kwslab synth`` / ``kwslab data synth``: a synthetic dataset for any words, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kwslab.cli.app import app, data_app, out
from kwslab.config import SEED_WORDS, DataConfig
from kwslab.data.confusables import PER_WORD
from kwslab.errors import ConfigError


def synth(
    words: str = typer.Option(",".join(SEED_WORDS), help="Comma-separated words or phrases."),
    out_dir: Path = typer.Option(Path("data/synth"), "--out", help="Dataset folder to write."),
    voices: str = typer.Option("", help="Comma-separated voices: espeak-ng (en-us,en+f3) and "
                               "Piper (piper:joe, needs the piper extra); empty: 20 espeak-ng "
                               "English accents and variants."),
    rates: str = typer.Option("140,175,210", help="Speaking rates, words per minute (80-450)."),
    pitches: str = typer.Option("35,50,65", help="Pitches 0-100; voice x pitch = one speaker "
                                "(Piper: pitch-and-formant scale, 50 = its own)."),
    piper_noise: str = typer.Option("0.4,0.667,0.9", help="Piper generator noise scales; each "
                                    "makes other speakers of a Piper voice."),
    noise: float = typer.Option(0.25, help="Share of clips mixed with noise (0-1)."),
    reverb: float = typer.Option(0.25, help="Share of clips given room reverberation (0-1)."),
    mic: float = typer.Option(0.25, help="Share of clips through a random microphone (0-1)."),
    unknown: bool = typer.Option(True, help="Also speak other common words for _unknown_."),
    confusables: bool = typer.Option(
        False, help="Speak words that sound almost like --words instead of them (one phoneme "
        "away in the CMU Pronouncing Dictionary, two to fill up), and list every clip as "
        "_unknown_ in OUT/confusables.jsonl: train with --data OUT/confusables.jsonl."),
    per_word: int = typer.Option(PER_WORD, help="With --confusables: confusables per word."),
    seed: int = typer.Option(0, help="Random seed for placement, noise, rooms and splits."),
) -> None:
    """Speak words with espeak-ng or Piper into a Speech Commands-style folder (1 s, 16 kHz)."""
    from kwslab.data.manifest import SPLITS, counts
    from kwslab.data.speechcommands import prepare_speech_commands
    from kwslab.data.synth import DEFAULT_UNKNOWN_WORDS, folder_name, synthesize_dataset

    word_list = _items(words, "--words")
    options: dict[str, Any] = dict(
        voices=_items(voices, "--voices") or None, rates=_numbers(rates, "--rates"),
        pitches=_numbers(pitches, "--pitches"),
        piper_noise=_numbers(piper_noise, "--piper-noise", float), noise=noise, reverb=reverb,
        mic=mic, seed=seed)
    if confusables:
        return _confusables(word_list, out_dir, per_word, **options)
    if per_word != PER_WORD:
        raise ConfigError("--per-word needs --confusables")
    synthesize_dataset(word_list, out_dir,
                       unknown_words=DEFAULT_UNKNOWN_WORDS if unknown else None, **options)
    cfg = DataConfig(words=tuple(folder_name(w) for w in word_list), unknown=unknown, silence=True)
    table = Table("label", *SPLITS, title=f"clips in {out_dir}")
    for label, row in counts(prepare_speech_commands(out_dir, cfg)).items():
        table.add_row(label, *(str(row[s]) for s in SPLITS))
    out.print(table)
    out.print(str(out_dir), soft_wrap=True, highlight=False)


def _confusables(keywords: list[str], out_dir: Path, per_word: int, **options: Any) -> None:
    """Synthesise the keywords' confusables and write them as an ``_unknown_`` manifest."""
    from kwslab.data.confusables import MANIFEST, confusable_words, confusables_manifest
    from kwslab.data.manifest import SPLITS, write_manifest
    from kwslab.data.synth import synthesize_dataset

    table = confusable_words(keywords, per_word=per_word, seed=options["seed"])
    spoken = [w for ws in table.values() for w in ws]
    if not spoken:
        raise ConfigError(f"no confusables found for {', '.join(keywords)}")
    synthesize_dataset(spoken, out_dir, unknown_words=None, avoid=keywords, **options)
    clips = confusables_manifest(out_dir, spoken)
    write_manifest(clips, out_dir / MANIFEST)
    shown = Table("word", "confusables", title=f"confusables in {out_dir}")
    for word, found in table.items():
        shown.add_row(word, ", ".join(found) or "(none found)")
    out.print(shown)
    n = {s: sum(c.split == s for c in clips) for s in SPLITS}
    out.print(f"{len(clips)} _unknown_ clips ({', '.join(f'{s} {k}' for s, k in n.items())}): "
              f"train with --data {out_dir / MANIFEST}", soft_wrap=True, highlight=False)


def _items(text: str, option: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if text.strip() and not items:
        raise ConfigError(f"{option} {text!r} names nothing; give a comma-separated list")
    return items


def _numbers(text: str, option: str, kind: type = int) -> list:
    try:
        return [kind(x) for x in _items(text, option)]
    except ValueError as e:
        what = "integers" if kind is int else "numbers"
        raise ConfigError(f"{option} {text!r} must be comma-separated {what}") from e


data_app.command("synth")(synth)
app.command("synth")(synth)
