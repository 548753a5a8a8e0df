"""Synthetic datasets: clip format, variety, augmentation, layout, errors, re-runs and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwslab.audio import load_audio
from kwslab.config import SILENCE, DataConfig
from kwslab.data import synth, tts
from kwslab.data.speechcommands import NOISE_DIR, prepare_speech_commands
from kwslab.data.synth import folder_name, synthesize_clip, synthesize_dataset
from kwslab.errors import DataError

SMALL = dict(voices=["en-us", "en+f3"], rates=[150, 200], pitches=[40, 60], noise=0.0,
             reverb=0.0, progress=False)  # 2 voices x 2 pitches = 4 speakers, 2 rates


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize_dataset(["go", "lights on"], tmp_path_factory.mktemp("synth"), **SMALL)


def _frame_rms(x: np.ndarray, frame: int = 160) -> np.ndarray:
    return np.sqrt(np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1))


def _active_frames(x: np.ndarray) -> int:
    """10 ms frames within 40 dB of the loudest."""
    rms = _frame_rms(x)
    return int(np.sum(rms > rms.max() * 0.01))


def _f0(x: np.ndarray) -> float:
    """Median autocorrelation pitch (60-400 Hz) over the middle of the word."""
    x = synth._trim(x)
    mid = x[len(x) // 4 : 3 * len(x) // 4]
    lo, hi = 16000 // 400, 16000 // 60
    est = []
    for i in range(0, len(mid) - 640, 320):
        w = mid[i : i + 640]
        ac = np.correlate(w, w, "full")[639:]
        est.append(16000 / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(est))


def _clip(**kw: object) -> np.ndarray:
    voice = kw.pop("voice", "en-us")
    return synthesize_clip("go", voice, rng=np.random.default_rng(0), **kw)


def test_clips_are_one_second_16k_mono_speech_in_the_middle(small: Path) -> None:
    files = sorted(small.glob("*/*_nohash_*.wav"))
    assert len(files) == 2 * 2 * 2 * 2  # words x voices x pitches x rates
    for f in files:
        info = sf.info(str(f))
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
        x = load_audio(f)
        assert np.abs(x).max() > 0.2
        energy = x.astype(np.float64) ** 2
        assert energy[3200:12800].sum() > 0.6 * energy.sum()  # the word sits in the middle


def test_voices_rates_and_pitches_change_the_speech() -> None:
    assert _f0(_clip(voice="en+f3")) > 1.5 * _f0(_clip(voice="en-us"))
    assert _f0(_clip(pitch=80)) > 1.5 * _f0(_clip(pitch=20))
    assert len(synth._trim(_clip(rate=120))) > 1.5 * len(synth._trim(_clip(rate=250)))


def test_reverb_and_noise_change_the_signal() -> None:
    clean = _clip()
    assert _active_frames(_clip(reverb=1.0)) >= _active_frames(clean) + 5  # a decaying tail
    rms = _frame_rms(_clip(noise=1.0), 1600)
    clean_rms = _frame_rms(clean, 1600)
    assert 20 * np.log10(clean_rms.min() / clean_rms.max()) < -45  # only the faint floor
    assert 20 * np.log10(rms.min() / rms.max()) > -40  # noise fills the pauses


def test_layout_feeds_the_recipe_with_speaker_disjoint_splits(small: Path) -> None:
    assert (small / "lights_on").is_dir() and folder_name(" Lights  on ") == "lights_on"
    assert {p.stem for p in (small / NOISE_DIR).glob("*.wav")} == {
        "white_noise", "pink_noise", "brown_noise", "hum_noise", "babble_noise"}
    clips = prepare_speech_commands(small, DataConfig(words=("go", "lights_on"), silence=True))
    splits: dict[str, set[str]] = {}
    for c in clips:
        if c.label != SILENCE:
            splits.setdefault(c.speaker, set()).add(c.split)
    assert len(splits) == 4
    assert all(len(s) == 1 for s in splits.values())
    assert sorted(next(iter(s)) for s in splits.values()) == ["test", "train", "train",
                                                              "validation"]


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    return float(np.sum(np.abs(np.fft.rfft(x))[(f >= lo) & (f < hi)] ** 2))


def test_noise_files_hum_at_mains_and_babble_in_the_speech_band(small: Path) -> None:
    hum = load_audio(small / NOISE_DIR / "hum_noise.wav")
    babble = load_audio(small / NOISE_DIR / "babble_noise.wav")
    assert len(hum) == len(babble) == synth.NOISE_SECONDS * 16000
    spectrum = np.abs(np.fft.rfft(hum[:16000]))  # 1 Hz bins
    assert int(np.argmax(spectrum[30:200])) + 30 in (50, 60)
    speech, total = _band_energy(babble, 100, 4000), _band_energy(babble, 0, 8001)
    assert speech > 0.8 * total
    white = load_audio(small / NOISE_DIR / "white_noise.wav")
    assert _band_energy(white, 100, 4000) < 0.6 * _band_energy(white, 0, 8001)


def test_rooms_decay_faster_at_high_frequencies() -> None:
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(5):
        ir = synth.room_impulse_response(rng)
        late = ir[int(0.1 * 16000):]
        ratios.append(_band_energy(late, 3000, 8001) / _band_energy(late, 0, 500))
    assert np.median(ratios) < 1.0  # white at the start: the highs die first


def test_microphone_limits_the_band() -> None:
    rng = np.random.default_rng(2)
    x = synth.colored_noise(16000, "white", rng)
    y = synth.microphone(x, rng)
    mid = _band_energy(y, 500, 2000) / _band_energy(x, 500, 2000)
    assert _band_energy(y, 0, 40) / _band_energy(x, 0, 40) < 0.1 * mid
    assert _band_energy(y, 7800, 8001) / _band_energy(x, 7800, 8001) < 0.6 * mid


def _centre_s(x: np.ndarray) -> float:
    """Energy-weighted centre of a clip, in seconds."""
    energy = x.astype(np.float64) ** 2
    return float(np.sum(np.arange(len(x)) * energy) / energy.sum() / 16000)


def test_placement_and_level_follow_their_ranges() -> None:
    centres = [_centre_s(synthesize_clip("go", "en-us", rng=np.random.default_rng(i)))
               for i in range(12)]
    wide = [_centre_s(synthesize_clip("go", "en-us", max_shift=0.35,
                                      rng=np.random.default_rng(i))) for i in range(12)]
    assert max(abs(c - 0.5) for c in centres) < 0.2  # the default stays near the centre
    assert max(abs(c - 0.5) for c in wide) > 0.2
    quiet = _clip(peak=(0.1, 0.1))
    assert np.abs(quiet).max() == pytest.approx(0.1, rel=1e-3)
    floor = _frame_rms(_clip(floor_db=(30.0, 30.0)))
    assert 20 * np.log10(floor.min() / floor.max()) > -45  # a loud floor fills the pauses


def test_level_options_are_recorded_only_when_changed(tmp_path: Path) -> None:
    one = dict(SMALL, voices=["en-us"], pitches=[50], rates=[175])
    plain = synthesize_dataset(["go"], tmp_path / "plain", **one)
    assert '"peak"' not in (plain / synth.PARAMS_FILE).read_text()
    level = synthesize_dataset(["go"], tmp_path / "level", **one, peak=(0.1, 0.5))
    assert '"peak"' in (level / synth.PARAMS_FILE).read_text()
    with pytest.raises(DataError, match="other settings"):
        synthesize_dataset(["go"], plain, **one, max_shift=0.3)
    with pytest.raises(DataError, match="max_shift"):
        synthesize_dataset(["go"], tmp_path / "bad", **one, max_shift=0.6)
    with pytest.raises(DataError, match="peak"):
        synthesize_dataset(["go"], tmp_path / "bad", **one, peak=(0.5, 0.2))
    with pytest.raises(DataError, match="punctuation"):
        synthesize_dataset(["go"], tmp_path / "bad", **one, endings=["", "ok"])


def test_endings_are_drawn_per_clip_and_spoken(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spoken: list[str] = []
    speak = synth._speak
    monkeypatch.setattr(synth, "_speak", lambda text, *a: spoken.append(text) or speak(text, *a))
    opts = dict(SMALL, voices=["en-us"], rates=[150, 175, 200], pitches=[30, 50, 70])
    synthesize_dataset(["go"], tmp_path, **opts, endings=["", "!", "?"])
    assert sorted(set(spoken)) == ["go", "go!", "go?"] and len(spoken) == 9


def test_unknown_words_get_their_own_folders(tmp_path: Path) -> None:
    out = synthesize_dataset(["go"], tmp_path, **{**SMALL, "rates": [175]},
                             unknown_words=["go", "bed", "cat"])
    assert {p.name for p in out.iterdir() if p.is_dir()} == {"go", "bed", "cat", NOISE_DIR}
    clips = prepare_speech_commands(out, DataConfig(words=("go",), unknown=True))
    assert {c.label for c in clips} == {"go", "_unknown_"}


def test_rerun_is_a_noop_and_an_interrupted_run_resumes(small: Path) -> None:
    files = sorted(small.rglob("*.wav"))
    before = {f: f.stat().st_mtime_ns for f in files}
    synthesize_dataset(["go", "lights on"], small, **SMALL)
    assert {f: f.stat().st_mtime_ns for f in files} == before

    gone = sorted((small / "go").glob("*.wav"))[0]
    gone.unlink()
    (small / synth.MARKER).unlink()
    synthesize_dataset(["go", "lights on"], small, **SMALL)
    assert gone.is_file() and (small / synth.MARKER).is_file()
    assert {f: f.stat().st_mtime_ns for f in files if f != gone} == {
        f: t for f, t in before.items() if f != gone
    }
    with pytest.raises(DataError, match="other settings"):
        synthesize_dataset(["go"], small, **SMALL)


@pytest.mark.parametrize(
    ("words", "voices", "match"),
    [([], ["en-us"], "no words"), (["go"], ["xx-yy"], "unknown voice 'xx-yy'"),
     (["go"], ["en-us+nope"], "unknown voice variant 'nope'"), (["..."], ["en-us"], "letters"),
     (["go"], ["piper:nobody"], "unknown Piper voice 'piper:nobody'")],
)
def test_bad_input_raises_one_clear_error(tmp_path: Path, words: list[str], voices: list[str],
                                          match: str) -> None:
    with pytest.raises(DataError, match=match):
        synthesize_dataset(words, tmp_path / "out", voices=voices, progress=False)
    assert not (tmp_path / "out" / synth.PARAMS_FILE).exists()


def test_a_word_that_synthesises_to_silence_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts, "speak", lambda *a, **k: np.zeros(22050, dtype=np.float32))
    with pytest.raises(DataError, match="silence"):
        synthesize_clip("hush", "en-us")


def _kwslab(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("kwslab")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def test_cli_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    res = _kwslab("data", "synth", "--words", "lights on,go", "--voices", "en-us,en+f3",
                  "--rates", "175", "--pitches", "40,60", "--no-unknown", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "lights_on" in res.stdout and str(out) in res.stdout
    assert len(list((out / "lights_on").glob("*.wav"))) == 4

    bad = _kwslab("synth", "--words", "go", "--voices", "xx-yy", "--out", str(tmp_path / "b"))
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown voice 'xx-yy'")
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
