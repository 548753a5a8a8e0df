"""Search-space files: ranges and choices over dotted :class:`~kwslab.config.RunConfig` paths.

A space file (TOML or YAML) looks like::

    base = "seed"                      # preset or config file the trials start from
    order = ["model.neurons", ...]     # manual method: the order parameters are fixed in
    repeats = 5                        # manual method: runs per value (different seeds)
    objectives = ["accuracy", "latency"]  # optional; default ["accuracy"] (see objectives.py)

    [fixed]                            # values applied to the base, not searched
    "train.epochs" = 10

    [params]
    "model.neurons" = { low = 64, high = 2048, log = true }
    "model.activation" = { choices = ["relu", "elu", "tanh"] }
    "train.lr" = { low = 1e-4, high = 1e-1, log = true, points = 4 }

A range is ``{low, high}`` with optional ``log`` or ``step``; ``points`` sets how many values
``grid`` and ``manual`` try from it (default 4). Every error names the file and line at fault
and is raised before any trial runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kwslab.config import PRESETS, RunConfig, load_config, override, validate
from kwslab.errors import ConfigError

DEFAULT_POINTS = 4  # values tried from a range by grid and manual
RANGE_KEYS = {"low", "high", "log", "step", "points"}
TOP_KEYS = {"base", "order", "repeats", "fixed", "params", "objectives"}


@dataclass(frozen=True)
class Param:
    """One searched knob: a range (``low``/``high``) or a list of ``choices``."""

    name: str  # dotted RunConfig path, e.g. "model.neurons"
    kind: str  # "int", "float" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    points: int = DEFAULT_POINTS

    def values(self) -> list[Any]:
        """The discrete values tried by grid and manual: the choices, or points of the range."""
        if self.kind == "categorical":
            return list(self.choices)
        lo, hi = self._range()
        if self.step:
            n = int(math.floor((hi - lo) / self.step + 1e-9)) + 1
            vals = [lo + i * self.step for i in range(n)]
            if len(vals) > self.points:  # thin evenly, keep both ends
                vals = [vals[round(i * (n - 1) / (self.points - 1))] for i in range(self.points)]
        elif self.log:
            vals = [lo * (hi / lo) ** (i / (self.points - 1)) for i in range(self.points)]
        else:
            vals = [lo + (hi - lo) * i / (self.points - 1) for i in range(self.points)]
        if self.kind == "int":
            return sorted({int(round(v)) for v in vals})
        return [float(f"{v:.6g}") for v in vals]

    def suggest(self, trial) -> Any:
        """Ask an Optuna trial for this parameter's value."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        lo, hi = self._range()
        if self.kind == "int":
            return trial.suggest_int(self.name, int(lo), int(hi), step=int(self.step or 1),
                                     log=self.log)
        return trial.suggest_float(self.name, lo, hi, step=self.step, log=self.log)

    def _range(self) -> tuple[float, float]:
        """(low, high) of a numeric parameter; reading the space already requires both."""
        if self.low is None or self.high is None:
            raise ConfigError(f"{self.name}: a {self.kind} parameter needs low and high")
        return float(self.low), float(self.high)


@dataclass(frozen=True)
class SearchSpace:
    """Parameters to search, the configuration they start from, and the manual method's order."""

    params: tuple[Param, ...]
    base: RunConfig
    order: tuple[str, ...] = ()
    repeats: int = 5
    source: str = "<memory>"
    fixed: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] = ("accuracy",)  # accuracy first, then costs to minimise

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def grid(self) -> dict[str, list[Any]]:
        """Every parameter's discrete values (for Optuna's GridSampler)."""
        return {p.name: p.values() for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def with_base(self, base: RunConfig) -> SearchSpace:
        """The same space starting from ``base`` (its ``fixed`` values re-applied)."""
        return dataclasses.replace(self, base=apply(base, self.fixed, self.source))

    def suggest(self, trial) -> dict[str, Any]:
        """Every parameter's value for an Optuna trial."""
        return {p.name: p.suggest(trial) for p in self.params}

    def config(self, values: dict[str, Any], seed: int | None = None) -> RunConfig:
        """The base configuration with ``values`` (dotted paths) applied, validated."""
        cfg = apply(self.base, values, self.source)
        if seed is not None and "train.seed" not in values:
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        return validate(cfg)


def apply(cfg: RunConfig, values: dict[str, Any], where: str = "") -> RunConfig:
    """``cfg`` with dotted-path ``values`` (``{"model.neurons": 256}``) applied."""
    nested: dict[str, Any] = {}
    for name, value in values.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return override(cfg, nested, where=where or "search space")


def leaf_fields() -> dict[str, dataclasses.Field]:
    """Every searchable dotted path of a RunConfig and its dataclass field."""
    out: dict[str, dataclasses.Field] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            elif "tuple" not in str(f.type):  # lists (words, resize) cannot be searched
                out[f"{prefix}{f.name}"] = f

    walk(RunConfig(), "")
    return out


def shipped_spaces() -> list[str]:
    """Names of the spaces that ship with kwslab (``seed``, ...)."""
    folder = resources.files("kwslab.search") / "spaces"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                  if p.name.endswith(".toml"))


def load_space(spec: str | Path | None = None, *, base: RunConfig | None = None) -> SearchSpace:
    """Read and check a space: a shipped name (default ``seed``) or a TOML/YAML file.

    Args:
        spec: ``None`` or a shipped space's name, or a path to a ``.toml``/``.yaml`` file.
        base: if given, replaces the file's ``base`` (its ``fixed`` values still apply).

    Raises:
        ConfigError: naming the file and line of the first problem (unknown parameter, empty
            range, wrong type, value the configuration rejects).
    """
    spec = "seed" if spec is None else spec
    if str(spec) in shipped_spaces() and not Path(spec).is_file():
        path = resources.files("kwslab.search") / "spaces" / f"{spec}.toml"
        text, name = path.read_text(), f"space {spec!r}"
    else:
        p = Path(spec)
        if not p.is_file():
            raise ConfigError(f"search space {str(spec)!r} is neither a file nor a shipped space "
                              f"({', '.join(shipped_spaces())})")
        text, name = p.read_text(), str(p)
    return parse_space(text, name, yaml=str(spec).endswith((".yaml", ".yml")), base=base)


def parse_space(text: str, name: str = "<space>", *, yaml: bool = False,
                base: RunConfig | None = None) -> SearchSpace:
    """Parse the text of a space file (see the module docstring for the format)."""
    data = _read(text, name, yaml)
    at = _Locator(text, name)
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{at(key)}: unknown key {key!r}; valid keys: "
                              f"{', '.join(sorted(TOP_KEYS))}")
    params_raw = data.get("params")
    if isinstance(params_raw, dict):
        params_raw = _flatten(params_raw)
    if not isinstance(params_raw, dict) or not params_raw:
        raise ConfigError(f"{at('params')}: needs a non-empty [params] table")
    if base is None:
        base_name = data.get("base", "seed")
        if not isinstance(base_name, str):
            raise ConfigError(f"{at('base')}: base must be a preset name or a config file")
        if base_name not in PRESETS and not Path(base_name).is_file():
            raise ConfigError(f"{at('base')}: base {base_name!r} is neither a preset "
                              f"({', '.join(PRESETS)}) nor a file")
        base = load_config(base_name)
    fixed = data.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ConfigError(f"{at('fixed')}: [fixed] must be a table of dotted paths")
    known = leaf_fields()
    for key, value in fixed.items():
        if key not in known:
            raise ConfigError(f"{at(key)}: unknown parameter {key!r}{_close(key, known)}")
        try:
            base = apply(base, {key: value})
        except ConfigError as e:
            raise ConfigError(f"{at(key)}: {e}") from e
    params = tuple(_param(key, spec, known, base, at) for key, spec in params_raw.items())
    names = [p.name for p in params]
    order = data.get("order", names)
    if not isinstance(order, list) or not all(isinstance(o, str) for o in order):
        raise ConfigError(f"{at('order')}: order must be a list of parameter names")
    for o in order:
        if o not in names:
            raise ConfigError(f"{at('order')}: order names {o!r}, which is not in [params]")
    repeats = data.get("repeats", 5)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"{at('repeats')}: repeats must be a positive integer, got {repeats!r}")
    objectives: tuple[str, ...] = ("accuracy",)
    if "objectives" in data:
        from kwslab.search.objectives import parse_objectives

        raw = data["objectives"]
        if not isinstance(raw, list):
            raise ConfigError(f"{at('objectives')}: objectives must be a list, e.g. "
                              f'["accuracy", "latency"], got {raw!r}')
        objectives = parse_objectives(raw, where=f"{at('objectives')}: objectives")
    return SearchSpace(params=params, base=validate(base), order=tuple(order), repeats=repeats,
                       source=name, fixed=dict(fixed), objectives=objectives)


def _read(text: str, name: str, yaml: bool) -> dict[str, Any]:
    try:
        if yaml:
            import yaml as pyyaml

            data = pyyaml.load(text, Loader=_yaml_loader(pyyaml))  # noqa: S506 (a SafeLoader)
        else:
            data = tomllib.loads(text)
    except Exception as e:  # TOML and YAML errors carry their own line numbers
        raise ConfigError(f"{name}: {' '.join(str(e).split())}") from e  # one line
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a table at the top level")
    return data


def _param(key: str, spec: Any, known: dict, base: RunConfig, at: _Locator) -> Param:
    where = at(key)
    if key not in known:
        raise ConfigError(f"{where}: unknown parameter {key!r}{_close(key, known)}")
    hint = str(known[key].type)
    is_int = "int" in hint and "float" not in hint
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: {key} needs {{low, high}} or {{choices = [...]}}, "
                          f"got {spec!r}")
    if "choices" in spec:
        extra = set(spec) - {"choices"}
        if extra:
            raise ConfigError(f"{where}: {key}: choices cannot be combined with "
                              f"{', '.join(sorted(extra))}")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: {key}: choices must be a non-empty list")
        for c in choices:  # the config's own checks: type and allowed names
            try:
                _trainable(validate(apply(base, {key: c})), key)
            except ConfigError as e:
                raise ConfigError(f"{where}: {key}: choice {c!r} is invalid: {e}") from e
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise ConfigError(f"{where}: {key}: choices repeat a value")
        return Param(key, "categorical", choices=tuple(choices))
    unknown = set(spec) - RANGE_KEYS
    if unknown:
        raise ConfigError(f"{where}: {key}: unknown range key(s) {', '.join(sorted(unknown))}; "
                          f"valid: choices, {', '.join(sorted(RANGE_KEYS))}")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: {key}: a range needs both low and high")
    if "str" in hint or "bool" in hint:
        raise ConfigError(f"{where}: {key} is a {'string' if 'str' in hint else 'flag'}; "
                          f"give choices = [...] instead of a range")
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    step, points = spec.get("step"), spec.get("points", DEFAULT_POINTS)
    for label, v in (("low", low), ("high", high), ("step", step)):
        if v is None and label == "step":
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{where}: {key}: {label} must be a number, got {v!r}")
        if is_int and not isinstance(v, int):
            raise ConfigError(f"{where}: {key} is an integer; {label} must be an integer, "
                              f"got {v!r}")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: {key}: log must be true or false, got {log!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ConfigError(f"{where}: {key}: points must be an integer >= 2, got {points!r}")
    if not low < high:
        raise ConfigError(f"{where}: {key}: empty range: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ConfigError(f"{where}: {key}: a log range needs low > 0, got {low}")
    if step is not None and (step <= 0 or log):
        raise ConfigError(f"{where}: {key}: step must be positive and not combined with log")
    for v in (low, high):
        try:
            _trainable(validate(apply(base, {key: v})), key)
        except ConfigError as e:
            raise ConfigError(f"{where}: {key}: bound {v!r} is invalid: {e}") from e
    return Param(key, "int" if is_int else "float", low=low, high=high, log=log, step=step,
                 points=points)


def _trainable(cfg: RunConfig, key: str) -> RunConfig:
    """Raise ConfigError if torch rejects the optimizer or schedule of ``cfg`` (a ``train.*`` key).

    The configuration's checks do not know every optimizer's limits (a negative weight decay,
    say); building both on one dummy parameter asks torch before any trial runs.
    """
    if not key.startswith("train.") or key.startswith("train.augment."):
        return cfg
    import torch

    from kwslab.training.optim import make_optimizer, make_scheduler

    try:
        opt = make_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.train)
        make_scheduler(opt, cfg.train, 1)
    except (ValueError, TypeError, RuntimeError) as e:
        raise ConfigError(f"torch rejects it: {e}") from e
    return cfg


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten TOML's unquoted dotted keys: ``{"model": {"neurons": x}}`` -> ``"model.neurons"``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        spec_like = isinstance(value, dict) and (set(value) & (RANGE_KEYS | {"choices"}))
        if isinstance(value, dict) and value and not spec_like and name not in leaf_fields():
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _close(key: str, known: dict) -> str:
    import difflib

    near = difflib.get_close_matches(key, list(known), n=3)
    return f"; did you mean {', '.join(near)}?" if near else ""


class _Locator:
    """``file:line`` of a key (TOML and YAML parsers do not keep line numbers of values)."""

    def __init__(self, text: str, name: str):
        self.lines = text.splitlines()
        self.name = name

    def __call__(self, key: str) -> str:
        q = rf"""["']?{re.escape(key)}["']?"""
        patterns = (rf"^\s*{q}\s*[=:]", rf"^\s*\[[^\]]*{q}\s*\]", re.escape(key))
        for pattern in patterns:
            for i, line in enumerate(self.lines, 1):
                if re.search(pattern, line.split("#", 1)[0]):
                    return f"{self.name}:{i}"
        return self.name


# YAML 1.1 reads 1e-4 (no dot) as a string; learning rates are written that way. The float
# pattern of YAML 1.2, on a safe loader.
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)


def _yaml_loader(pyyaml: Any) -> type:
    """A SafeLoader that reads 1e-4 as a float (and integers still as integers)."""

    class Loader(pyyaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in
                                      pyyaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
    int_first = [(t, r) for t, r in Loader.yaml_implicit_resolvers.get("1", [])
                 if t.endswith(":int")]
    for ch in "-+0123456789":  # integers are tried before the broader float pattern
        rest = [(t, r) for t, r in Loader.yaml_implicit_resolvers.get(ch, [])
                if not t.endswith(":int")]
        Loader.yaml_implicit_resolvers[ch] = int_first + rest
    return Loader
