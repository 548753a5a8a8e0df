"""Frozen configuration dataclasses, saved as JSON beside every model.

A run is fully described by a :class:`RunConfig` (data + features + model + training). It is
written to ``config.json`` in the run directory so a model can be rebuilt from its folder alone,
and it can be read from a partial TOML file whose values override a preset (``seed`` or
``default``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar

from kwslab.errors import ConfigError

SAMPLE_RATE = 16_000  # Hz; every clip is resampled to this
SEED_WORDS = ("down", "go", "left", "off", "on", "right", "stop", "up")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"


@dataclass(frozen=True)
class FeatureConfig:
    """How a 1 s clip becomes the network's input (see :mod:`kwslab.features`)."""

    kind: str = "logmel"  # "logmel", "mfcc", or "speech_embedding" (pretrained, frozen)
    sample_rate: int = SAMPLE_RATE
    clip_samples: int = SAMPLE_RATE  # 1 s; shorter clips are zero-padded, longer centre-cropped
    n_fft: int = 512
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms at 16 kHz
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = 7600.0  # None: sample_rate / 2
    n_mfcc: int = 40  # kind="mfcc" only
    log: str = "log"  # "log": ln(mel + 1e-6); "db_max": librosa power_to_db(ref=max, top_db=80)
    resize: tuple[int, int] | None = None  # (mels, frames) after bilinear resize; seed: (32, 32)
    flatten: bool = False  # seed: one 1024-value vector
    context_ms: float = 250.0  # speech_embedding only: zeros added before and after the clip
    floor_db: float = 20.0  # speech_embedding only: fixed Mel floor (dB at 16-bit scale)

    @property
    def n_frames(self) -> int:
        """Frames of a clip (centred STFT): 1 + clip_samples // hop_length (101 for 1 s, 10 ms)."""
        return 1 + self.clip_samples // self.hop_length

    @property
    def context_samples(self) -> int:
        """``context_ms`` in samples."""
        return int(round(self.context_ms * self.sample_rate / 1000))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one clip's features: (n_bins, n_frames), or (n_bins * n_frames,) if flat.

        For ``speech_embedding``: (96, embeddings), e.g. (96, 9) for 1 s with 250 ms context.
        """
        if self.kind == "speech_embedding":
            from kwslab.features.embedding import DIM, n_embeddings

            cols = n_embeddings(self.clip_samples, self.context_samples)
            return (DIM * cols,) if self.flatten else (DIM, cols)
        bins = self.n_mfcc if self.kind == "mfcc" else self.n_mels
        rows, cols = self.resize if self.resize else (bins, self.n_frames)
        return (rows * cols,) if self.flatten else (rows, cols)


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation; each part is off at its zero value."""

    time_shift_ms: float = 0.0  # random shift of up to +- this many ms
    noise_prob: float = 0.0  # probability of mixing in background noise
    snr_db: tuple[float, float] = (0.0, 20.0)  # SNR range of that noise
    freq_masks: int = 0  # SpecAugment frequency masks per example
    freq_mask_width: int = 0  # max bins per mask
    time_masks: int = 0  # SpecAugment time masks per example
    time_mask_width: int = 0  # max frames per mask
    speed: tuple[float, float] | None = None  # speed perturbation range, e.g. (0.9, 1.1)
    mixup: float = 0.0  # Beta(alpha, alpha) mixup; 0 = off
    gain_db: tuple[float, float] | None = None  # random loudness change, e.g. (-10, 10); clips
    freq_warp: tuple[float, float] | None = None  # stretch of the Mel axis (VTLP), e.g. (0.9, 1.1)
    copies: int = 0  # >0: draw from this many waveform-augmented copies made once (slow front
    # ends such as speech_embedding); 0: augment every batch afresh


@dataclass(frozen=True)
class DataConfig:
    """Which words become classes and how many clips of each are used."""

    words: tuple[str, ...] = SEED_WORDS
    max_per_word: int | None = None  # cap training clips per word (the seed used 200)
    unknown: bool = False  # add an _unknown_ class from the other words (as big as a word)
    silence: bool = False  # add a _silence_ class cut from background noise (likewise)
    negatives: str | None = None  # folder of long audio with none of the words: its training
    # quarter is cut into _unknown_ clips (kwslab.data.negatives)
    negatives_per_word: float = 2.0  # negative clips per split, in units of one word's clips
    off_centre_per_word: float = 0.0  # keyword clips shifted so the word sits at the window's
    # edge, as _unknown_ clips per split, in units of one word's clips (0 = none)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in output order: the words, then _silence_ and _unknown_ if enabled
        (negatives are _unknown_ clips too)."""
        unknown = self.unknown or bool(self.negatives) or self.off_centre_per_word > 0
        extra = ((SILENCE,) if self.silence else ()) + ((UNKNOWN,) if unknown else ())
        return tuple(self.words) + extra


@dataclass(frozen=True)
class ModelConfig:
    """Network family and shape; each family reads the fields it needs."""

    name: str = "bcresnet"  # "mlp" (the seed), "dscnn", "bcresnet", "tcresnet", "embedconv"
    # mlp
    hidden_layers: int = 1
    neurons: int = 1024
    activation: str = "relu"  # relu, elu, selu, softplus, tanh, gelu
    init: str = "he_uniform"  # {he,glorot,lecun}_{uniform,normal}, orthogonal
    dropout: float = 0.1
    # CNN families
    width: float = 1.0  # channel multiplier
    depth: int = 0  # family-specific; 0 = the family's default


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: the knobs the seed tuned plus the modern recipe's."""

    epochs: int = 40
    batch_size: int = 64
    optimizer: str = "adamw"  # sgd, adam, adamw, adamax, adagrad, nadam, rmsprop
    lr: float = 3e-3
    momentum: float = 0.9  # sgd / rmsprop
    weight_decay: float = 1e-3
    schedule: str = "onecycle"  # constant, time, step, exponential, cosine, onecycle
    decay: float = 0.0  # time: lr/(1+decay*epoch); step/exponential: gamma
    step_size: int = 10  # epochs between steps (schedule="step")
    label_smoothing: float = 0.1
    patience: int = 0  # early stopping on validation accuracy; 0 = off
    ema: float = 0.0  # exponential moving average of weights; 0 = off
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = all cores but one (the feature thread)
    teacher: str | None = None  # export (model or ensemble) whose probabilities the model
    # also learns (knowledge distillation; kwslab.training.distill); None = labels only
    teacher_sha256: str | None = None  # the teacher's manifest.json hash: a run's config.json
    # records it, and retraining from that config refuses a teacher replaced since
    distill: float = 0.0  # weight of the teacher's loss, (1 - distill) the labels'; 0 = off,
    # > 0 needs a teacher (see with_teacher)
    distill_temperature: float = 2.0  # with a teacher: softens its probabilities
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild and retrain a model."""

    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build ``cls`` from a (possibly partial) dict, rejecting unknown keys and wrong types."""
    return _merge(cls(), data, where or cls.__name__)


def override(cfg: T, data: dict[str, Any], where: str = "") -> T:
    """A copy of ``cfg`` with the values of a partial dict applied."""
    return _merge(cfg, data, where or type(cfg).__name__)


def _merge(base: Any, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    known = {f.name: f for f in fields(base)}
    changes = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r}; valid keys: {', '.join(sorted(known))}"
            )
        current = getattr(base, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value, f"{where}.{key}")
        else:
            changes[key] = _coerce(value, current, f"{where}.{key}", known[key])
    return replace(base, **changes)


def _coerce(value: Any, current: Any, where: str, f: dataclasses.Field) -> Any:
    hint = str(f.type)
    if value is None:
        if "None" in hint:
            return None
        raise ConfigError(f"{where}: may not be empty")
    if "tuple" in hint:
        if "None" in hint and isinstance(value, list | tuple) and not value:
            return None  # TOML has no null: an empty list switches an optional range off
        return tuple(_expect(value, list | tuple, "a list", where))
    if "bool" in hint:
        return _expect(value, bool, "true or false", where)
    if "int" in hint and "float" not in hint:
        return _expect(value, int, "an integer", where)
    if "float" in hint:
        return float(_expect(value, int | float, "a number", where))
    if "str" in hint:
        return _expect(value, str, "a string", where)
    return value


def _expect(value: Any, kind: type | UnionType, what: str, where: str) -> Any:
    """``value`` if it is a ``kind``; a bool is never a number (``True`` is an int in Python)."""
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return value


# --- presets -------------------------------------------------------------------------------

SEED = RunConfig(
    data=DataConfig(max_per_word=200),
    features=FeatureConfig(
        n_fft=2048, win_length=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=None,
        log="db_max", resize=(32, 32), flatten=True,
    ),
    model=ModelConfig(name="mlp", hidden_layers=1, neurons=1024, activation="relu",
                      init="he_uniform", dropout=0.1),
    train=TrainConfig(epochs=50, batch_size=32, optimizer="adam", lr=1e-3, weight_decay=0.0,
                      schedule="constant", label_smoothing=0.0, patience=10),
)
"""The student project's recipe: 1024-value log-Mel vector, one dense layer of 1024."""

TCRESNET = RunConfig(
    model=ModelConfig(name="tcresnet", width=3.0),
    train=TrainConfig(
        epochs=100, ema=0.99,  # 100 beat 40 on validation (97.7 vs 96.5 %, seed 0)
        augment=AugmentConfig(time_shift_ms=100.0, noise_prob=0.8, snr_db=(0.0, 20.0),
                              freq_masks=2, freq_mask_width=6, time_masks=2, time_mask_width=10,
                              speed=(0.9, 1.1)),
    ),
)
"""TC-ResNet8-3 trained from scratch on 40 log-Mels (``--config tcresnet``): time shift,
background noise at 0-20 dB SNR, SpecAugment and speed perturbation; AdamW, one-cycle, label
smoothing, EMA. No download, ~0.9 ms per clip at run time; 94.9 % on unseen speakers (5 speaker
folds x 3 seeds, ``benchmarks/accuracy.py --folds 5 --families tcresnet``)."""

DISTILL = 0.5  # the teacher's weight when a teacher is given to a recipe without one


def with_teacher(cfg: RunConfig, teacher: str | Path) -> RunConfig:
    """``cfg`` learning from the export ``teacher`` too: the recipe's ``train.distill``
    weight, or :data:`DISTILL` when the recipe has none."""
    return replace(cfg, train=replace(cfg.train, teacher=str(teacher), teacher_sha256=None,
                                      distill=cfg.train.distill or DISTILL))


TCRESNET_DISTILL = replace(TCRESNET, train=replace(
    TCRESNET.train, distill=DISTILL, distill_temperature=2.0,
    augment=replace(TCRESNET.train.augment, copies=4)))
"""The ``tcresnet`` network taught by a teacher export (``--config tcresnet-distill --teacher
EXPORT``, e.g. the default heads as one ensemble): the clean clips and 4 waveform-augmented
copies made once, each scored by the teacher, and the loss half the labels', half the
teacher's (temperature 2). The same ~0.7-0.9 ms per clip at run time; 95.5 % on unseen
speakers taught by the default's three heads, against 94.9 % untaught (5 speaker folds x 3
seeds, ``benchmarks/accuracy.py --folds 5 --families tcresnet-distill --teacher ...``)."""

DEFAULT = RunConfig(
    features=FeatureConfig(kind="speech_embedding", context_ms=250.0),
    model=ModelConfig(name="embedconv", width=1.0, dropout=0.3),
    train=TrainConfig(
        epochs=60, ema=0.99,
        augment=AugmentConfig(copies=4, time_shift_ms=100.0, noise_prob=0.8,
                              snr_db=(0.0, 20.0), gain_db=(-10.0, 10.0), speed=(0.9, 1.1)),
    ),
)
"""The default recipe: a small conv head on Google's pretrained speech_embedding
(frozen; :mod:`kwslab.features.embedding`), trained on the clean clips plus 4 copies with
time shift, background noise at 0-20 dB SNR, gain and speed perturbation; AdamW, one-cycle,
label smoothing, EMA. From scratch, CNNs stopped near 94 % on unseen speakers with ~190 clips a
word; a head on this front end, pretrained on far more speech, reaches 96.0 % (5 speaker folds,
``benchmarks/accuracy.py --folds 5``)."""

STREAM = replace(DEFAULT, data=replace(DEFAULT.data, unknown=True),
                 train=replace(DEFAULT.train, label_smoothing=0.0))
"""The default recipe for streams: an ``_unknown_`` class, and no label smoothing, so a true
word scores above 0.99 and per-word thresholds chosen by ``kwslab eval-stream
--target-fa-per-hour`` can sit between false and true scores (label smoothing caps a word near
0.9, where negatives also reach). Train it with ``--negatives DIR``, hard negatives
(``kwslab mine``) and ``--off-centre 1`` (the README's stream recipe). On validation audio
over 3 training seeds, best hits at <= 0.5 / 1 / 2 false accepts per hour went from
32 / 48 / 57 % (label smoothing 0.1) to 51 / 58 / 63 %. Its scores spread over (0, 1): use
thresholds chosen for a false-accept rate, not a fixed 0.8."""

TCRESNET_STREAM = replace(TCRESNET, data=replace(TCRESNET.data, unknown=True),
                          train=replace(TCRESNET.train, label_smoothing=0.0))
"""TC-ResNet for streams, as ``stream`` is to ``default``: an ``_unknown_`` class and no label
smoothing. Alone it trails ``stream`` (33-37 % against 51-68 % hits at <= 0.5 false accepts
per hour on validation audio), but its errors differ: averaged with ``stream`` heads in one
ensemble export it lifts them (see the README's stream figures)."""

PRESETS = {"student": SEED, "default": DEFAULT, "tcresnet": TCRESNET, "stream": STREAM,
           "tcresnet-stream": TCRESNET_STREAM, "tcresnet-distill": TCRESNET_DISTILL,
           "seed": SEED}  # "seed": the old name of "student", kept so old configs still load


def load_config(spec: str | Path | None) -> RunConfig:
    """A preset name (:data:`PRESETS`: ``default``, ``stream``, ``tcresnet``,
    ``tcresnet-distill``, ``tcresnet-stream``, ``student``: the student project's recipe,
    formerly ``seed``), a TOML file overriding a preset, or a JSON dump.

    A TOML file may start with ``base = "student"`` to override that preset instead of the
    default one; its tables are ``[data]``, ``[features]``, ``[model]``, ``[train]`` and
    ``[train.augment]``.
    """
    if spec is None:
        return DEFAULT
    if str(spec) in PRESETS:
        return PRESETS[str(spec)]
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"config {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                data = data.get("config", data)
        else:
            data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of config tables (as a run's "
                          f"config.json), got {type(data).__name__}")
    base_name = data.pop("base", "default")
    if base_name not in PRESETS:
        raise ConfigError(f"{path}: base {base_name!r} is not one of {', '.join(PRESETS)}")
    cfg = override(PRESETS[base_name], data, where=str(path))
    validate(cfg)
    return cfg


ACTIVATIONS = ("relu", "elu", "selu", "softplus", "tanh", "gelu")
INITS = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "lecun_uniform",
         "lecun_normal", "orthogonal")
OPTIMIZERS = ("sgd", "adam", "adamw", "adamax", "adagrad", "nadam", "rmsprop")
SCHEDULES = ("constant", "time", "step", "exponential", "cosine", "onecycle")
MODELS = ("mlp", "dscnn", "bcresnet", "tcresnet", "embedconv")


MAX_SEED = 2**32 - 1  # numpy's legacy seeding and many samplers take 32-bit seeds


def validate(cfg: RunConfig) -> RunConfig:
    """Raise :class:`ConfigError` naming the first invalid value and its valid range; return
    ``cfg`` otherwise. Run before any work, so nonsense never trains and exits 0."""
    checks = [
        ("model.name", cfg.model.name, MODELS),
        ("model.activation", cfg.model.activation, ACTIVATIONS),
        ("model.init", cfg.model.init, INITS),
        ("train.optimizer", cfg.train.optimizer, OPTIMIZERS),
        ("train.schedule", cfg.train.schedule, SCHEDULES),
        ("features.kind", cfg.features.kind, ("logmel", "mfcc", "speech_embedding")),
        ("features.log", cfg.features.log, ("log", "db_max")),
    ]
    for name, value, valid in checks:
        if value not in valid:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(valid)}")
    _check_finite(cfg, "")
    _check_numbers(cfg)
    _check_words(cfg.data)
    if cfg.features.win_length > cfg.features.n_fft:
        raise ConfigError("features.win_length may not exceed features.n_fft")
    resize = cfg.features.resize
    if resize is not None and (len(resize) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in resize)):
        raise ConfigError(f"features.resize must be two positive integers [mels, frames], "
                          f"got {list(resize)!r}")
    aug = cfg.train.augment
    ranges = {"snr_db": aug.snr_db, "speed": aug.speed, "gain_db": aug.gain_db,
              "freq_warp": aug.freq_warp}
    for name, pair in ranges.items():
        if pair is None:
            continue
        if len(pair) != 2 or not all(_is_number(v) for v in pair) or pair[0] > pair[1]:
            raise ConfigError(f"train.augment.{name} must be [low, high] with low <= high, "
                              f"got {list(pair)!r}")
        if name in ("speed", "freq_warp") and pair[0] <= 0:
            raise ConfigError(f"train.augment.{name} factors must be positive, got {list(pair)!r}")
    return cfg


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_finite(cfg: Any, where: str) -> None:
    """Every float field (and float in a range) is a finite number: inf and NaN train NaN."""
    for f in fields(cfg):
        value, name = getattr(cfg, f.name), f"{where}{f.name}"
        if dataclasses.is_dataclass(value):
            _check_finite(value, f"{name}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        elif isinstance(value, tuple) and any(
                isinstance(v, float) and not math.isfinite(v) for v in value):
            raise ConfigError(f"{name} must hold finite numbers, got {list(value)!r}")


def _check_numbers(cfg: RunConfig) -> None:
    """Each numeric field against its valid range (the message gives the range)."""
    feat, train, aug, data = cfg.features, cfg.train, cfg.train.augment, cfg.data
    rules: list[tuple[str, Any, bool, str]] = [
        ("train.epochs", train.epochs, train.epochs > 0, "positive (> 0)"),
        ("train.batch_size", train.batch_size, train.batch_size > 0, "positive (> 0)"),
        ("train.lr", train.lr, train.lr > 0, "positive (> 0)"),
        ("train.weight_decay", train.weight_decay, train.weight_decay >= 0, ">= 0"),
        ("train.momentum", train.momentum, train.momentum >= 0, ">= 0"),
        ("train.decay", train.decay, train.decay >= 0, ">= 0"),
        ("train.step_size", train.step_size, train.step_size >= 1, "an integer >= 1"),
        ("train.label_smoothing", train.label_smoothing, 0 <= train.label_smoothing < 1,
         "in [0, 1)"),
        ("train.patience", train.patience, train.patience >= 0, ">= 0 (0 = off)"),
        ("train.ema", train.ema, 0 <= train.ema < 1, "in [0, 1) (0 = off)"),
        ("train.seed", train.seed, 0 <= train.seed <= MAX_SEED, f"in [0, {MAX_SEED}]"),
        ("train.threads", train.threads, train.threads >= 0, ">= 0 (0 = all cores but one)"),
        ("train.distill", train.distill, 0 <= train.distill <= 1, "in [0, 1]"),
        ("train.distill_temperature", train.distill_temperature,
         train.distill_temperature > 0, "positive (> 0)"),
        ("train.augment.mixup", aug.mixup, aug.mixup >= 0, ">= 0 (0 = off)"),
        ("train.augment.copies", aug.copies, aug.copies >= 0, ">= 0"),
        ("train.augment.noise_prob", aug.noise_prob, 0 <= aug.noise_prob <= 1, "in [0, 1]"),
        ("train.augment.time_shift_ms", aug.time_shift_ms, aug.time_shift_ms >= 0, ">= 0"),
        ("features.sample_rate", feat.sample_rate, feat.sample_rate > 0, "positive (> 0)"),
        ("features.clip_samples", feat.clip_samples, feat.clip_samples > 0, "positive (> 0)"),
        ("features.n_mels", feat.n_mels, feat.n_mels > 0, "positive (> 0)"),
        ("features.n_mfcc", feat.n_mfcc, feat.n_mfcc > 0, "positive (> 0)"),
        ("features.hop_length", feat.hop_length, feat.hop_length > 0, "positive (> 0)"),
        ("features.win_length", feat.win_length, feat.win_length > 0, "positive (> 0)"),
        ("features.n_fft", feat.n_fft, feat.n_fft > 0, "positive (> 0)"),
        ("features.fmin", feat.fmin, feat.fmin >= 0, ">= 0"),
        ("features.context_ms", feat.context_ms, 0 <= feat.context_ms <= 500, "in [0, 500]"),
        ("model.neurons", cfg.model.neurons, cfg.model.neurons > 0, "positive (> 0)"),
        ("model.hidden_layers", cfg.model.hidden_layers, cfg.model.hidden_layers >= 0, ">= 0"),
        ("model.width", cfg.model.width, cfg.model.width > 0, "positive (> 0)"),
        ("model.depth", cfg.model.depth, cfg.model.depth >= 0, ">= 0 (0 = the family's own)"),
        ("model.dropout", cfg.model.dropout, 0 <= cfg.model.dropout < 1, "in [0, 1)"),
        ("data.max_per_word", data.max_per_word,
         data.max_per_word is None or data.max_per_word >= 1, "an integer >= 1 (or unset)"),
        ("data.negatives_per_word", data.negatives_per_word, data.negatives_per_word >= 0,
         ">= 0"),
        ("data.off_centre_per_word", data.off_centre_per_word, data.off_centre_per_word >= 0,
         ">= 0 (0 = none)"),
    ]
    for name, value, ok, valid in rules:
        if not ok:
            raise ConfigError(f"{name} must be {valid}, got {value!r}")
    if feat.fmax is not None and not feat.fmin < feat.fmax:
        raise ConfigError(f"features.fmax must be above features.fmin ({feat.fmin!r}) or unset, "
                          f"got {feat.fmax!r}")


def _check_words(data: DataConfig) -> None:
    """Words are distinct non-empty strings, and there are at least two classes."""
    if not data.words:
        raise ConfigError("data.words is empty")
    for w in data.words:
        if not isinstance(w, str) or not w.strip():
            raise ConfigError(f"data.words must be non-empty strings (word folder names), "
                              f"got {w!r}")
    labels = data.labels
    twice = sorted({w for w in labels if labels.count(w) > 1})
    if twice:
        raise ConfigError(f"data.words names {twice[0]!r} twice; each label must be one class")
    if len(labels) < 2:
        raise ConfigError(f"data.words gives {len(labels)} class ({labels[0]!r}); a classifier "
                          "needs at least 2: add words, or set data.unknown or data.silence")


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Rebuild a :class:`RunConfig` from its JSON form (as written to ``config.json``)."""
    return validate(from_dict(RunConfig, data))
