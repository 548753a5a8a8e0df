"""Imports point down: each package imports only its own layer and the layers below it
(docs/architecture.md draws them). The runtime stays torch-free by construction."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "kwslab"

# Lowest first. A module may import from its own layer and any layer before it.
LAYERS = [
    {"errors", "utils", "artifacts"},
    {"config"},
    {"audio", "features"},
    {"runtime"},              # deployment: exported models, streams (NumPy + onnxruntime)
    {"data"},
    {"models"},
    {"training"},
    {"evaluation", "export", "crossval"},
    {"search"},
    {"report", "serve", "pipelines"},
    {"cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
KNOWN = {  # (importer, imported): why it is allowed
    ("config", "features"): "FeatureConfig.shape asks the embedding front end for its geometry",
}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "kwslab":
                names = [f"kwslab.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith("kwslab.")}
    return out


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def test_every_package_has_a_layer():
    packages = {_package(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__", "assets"}
    assert packages <= set(RANK), f"add to LAYERS: {sorted(packages - set(RANK))}"


def test_imports_point_down():
    wrong = []
    for path in SRC.rglob("*.py"):
        me = _package(path)
        if me not in RANK:
            continue
        for other in _imports(path):
            if other in RANK and RANK[other] > RANK[me] and (me, other) not in KNOWN:
                wrong.append(f"{path.relative_to(SRC)} imports kwslab.{other}")
    assert not wrong, "\n".join(sorted(wrong))


def test_runtime_never_imports_torch():
    for path in (SRC / "runtime").rglob("*.py"):
        mods = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module.split(".")[0])
        assert not mods & {"torch", "optuna", "fastapi", "matplotlib"}, path
