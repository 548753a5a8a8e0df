"""Search-space files: parsing, discretisation, and errors that name the line at fault."""

from __future__ import annotations

import pytest

from kwslab.config import SEED
from kwslab.errors import ConfigError
from kwslab.search.space import load_space, parse_space


def test_shipped_seed_space_loads_and_covers_the_seed_knobs():
    space = load_space(None)
    assert space.base.model.name == "mlp"
    names = set(space.names())
    assert {"model.hidden_layers", "model.neurons", "model.activation", "model.init",
            "model.dropout", "train.optimizer", "train.lr", "train.batch_size"} <= names
    assert list(space.order) and set(space.order) <= names
    assert load_space("seed-quick").base.train.epochs == 4


@pytest.mark.parametrize("name,family", [("cnn", "tcresnet"), ("embed", "embedconv")])
def test_shipped_cnn_and_embedding_spaces_load(name, family):
    space = load_space(name)
    assert space.base.model.name == family
    assert set(space.order) <= set(space.names())
    for values in (space.params[0].values(), space.params[-1].values()):
        assert values


def test_values_and_config():
    space = parse_space("""
[params]
"train.lr" = { low = 1e-4, high = 1e-2, log = true, points = 3 }
"model.dropout" = { low = 0.0, high = 0.4, step = 0.2 }
model.hidden_layers = { low = 1, high = 3 }
"model.activation" = { choices = ["relu", "tanh"] }
""")
    assert space.param("train.lr").values() == pytest.approx([1e-4, 1e-3, 1e-2])
    assert space.param("model.dropout").values() == [0.0, 0.2, 0.4]
    assert space.param("model.hidden_layers").values() == [1, 2, 3]
    assert space.grid_size() == 3 * 3 * 3 * 2
    cfg = space.config({"train.lr": 1e-3, "model.activation": "tanh"}, seed=7)
    assert cfg.train.lr == 1e-3 and cfg.model.activation == "tanh" and cfg.train.seed == 7
    assert cfg.model.neurons == SEED.model.neurons  # untouched knobs keep the base's value


def test_yaml_space(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: seed\nparams:\n  model.neurons: {choices: [64, 128]}\n"
                    "  train.lr: {low: 0.001, high: 0.1, log: true}\n")
    assert load_space(path).names() == ["model.neurons", "train.lr"]
    path.write_text("base: seed\nparams:\n  model.neurons: {choices: [64, 128]}\n"
                    "  train.lr: {low: 0.1, high: 0.001}\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:4: train\.lr: empty range"):
        load_space(path)


BAD = [
    ('"model.neurons" = { choices = [64] }\n"model.nurons" = { choices = [1, 2] }',
     r"x\.toml:3: unknown parameter 'model.nurons'; did you mean model.neurons"),
    ('"model.neurons" = { choices = [64] }\n"train.lr" = { low = 0.1, high = 0.01 }',
     r"x\.toml:3: train\.lr: empty range"),
    ('"model.neurons" = { choices = [] }', r"x\.toml:2: model\.neurons: choices must be"),
    ('"model.neurons" = { low = 8.5, high = 64 }', r"x\.toml:2: model\.neurons is an integer"),
    ('"model.activation" = { low = 1, high = 2 }', r"x\.toml:2: model\.activation is a string"),
    ('"train.lr" = { low = "a", high = 1 }', r"x\.toml:2: train\.lr: low must be a number"),
    ('"model.activation" = { choices = ["relu", "relux"] }',
     r"x\.toml:2: model\.activation: choice 'relux' is invalid"),
    ('"train.lr" = { low = 0, high = 1, log = true }', r"x\.toml:2: .*log range needs low > 0"),
    ('"train.lr" = { lo = 0, high = 1 }', r"x\.toml:2: train\.lr: unknown range key\(s\) lo"),
    ('"train.batch_size" = 32', r"x\.toml:2: train\.batch_size needs \{low, high\}"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_invalid_space_names_the_line(body, message):
    with pytest.raises(ConfigError, match=message):
        parse_space(f"[params]\n{body}\n", "x.toml")


def test_invalid_top_level():
    with pytest.raises(ConfigError, match=r"x\.toml:2: unknown key 'oder'"):
        parse_space('base = "seed"\noder = ["train.lr"]\n[params]\n"train.lr" = '
                    '{ low = 0.001, high = 0.1 }\n', "x.toml")
    with pytest.raises(ConfigError, match=r"x\.toml:1: order names 'model.neurons'"):
        parse_space('order = ["model.neurons"]\n[params]\n"train.lr" = '
                    '{ low = 0.001, high = 0.1 }\n', "x.toml")
    with pytest.raises(ConfigError, match=r"x\.toml:2: base 'nope'"):
        parse_space('\nbase = "nope"\n[params]\n"train.lr" = {low = 0.001, high = 0.1}\n',
                    "x.toml")
    with pytest.raises(ConfigError, match="x.toml: .*Expected|x.toml: .*Invalid"):
        parse_space("[params\n", "x.toml")
    with pytest.raises(ConfigError, match="line 1") as e:  # the parser's error is 7 lines
        parse_space("foo: [1, 2\n", "bad.yaml", yaml=True)
    assert len(str(e.value).splitlines()) == 1


def test_yaml_reads_exponents_without_a_dot_as_numbers(tmp_path):
    """YAML 1.1 reads 1e-4 as the string "1e-4"; a search space's learning rates are written
    that way, so it must be the number."""
    path = tmp_path / "s.yaml"
    path.write_text("base: seed\nparams:\n  train.lr: {low: 1e-4, high: 1e-2, log: true}\n"
                    "  model.neurons: {choices: [64, 128]}\n")
    lr = next(p for p in load_space(path).params if p.name == "train.lr")
    assert (lr.kind, lr.low, lr.high) == ("float", 1e-4, 1e-2)


def test_default_workers_fill_the_cores_unless_trials_augment_per_batch(monkeypatch):
    from kwslab.search import study

    monkeypatch.setattr(study, "usable_cores", lambda: 4)
    seed, cnn = load_space("seed"), load_space("cnn")
    assert not study.augments_per_batch(seed)
    assert study.default_workers("hyperband", seed) == 4  # features computed once: 1 thread each
    assert study.augments_per_batch(cnn)  # searches augmentation: a batch thread per trial
    assert study.default_workers("hyperband", cnn) == 2
    assert study.default_workers("random") == 2
    assert study.default_workers("manual", seed) == 1
    from dataclasses import replace

    train = seed.base.train
    masked = seed.with_base(replace(seed.base, train=replace(
        train, augment=replace(train.augment, freq_masks=2))))  # SpecAugment alone, per batch
    assert study.augments_per_batch(masked) and study.default_workers("random", masked) == 2
