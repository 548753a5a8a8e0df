"""An honest install: the base install is the runtime, and a missing extra is one line
naming it, from the CLI and from the library."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from kwslab.errors import MissingExtraError
from kwslab.utils.imports import EXTRAS, missing_extra, require

HEAVY = {"torch", "optuna", "fastapi", "matplotlib", "onnx", "sqlalchemy", "espeakng-loader"}


def test_base_install_is_the_runtime():
    base = [r for r in importlib.metadata.requires("kwslab") if "extra ==" not in r]
    names = {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in base}
    assert names == {"numpy", "onnxruntime", "soundfile", "soxr", "typer", "rich"}
    assert not names & HEAVY


def test_every_guarded_package_names_a_declared_extra():
    declared = set(importlib.metadata.metadata("kwslab").get_all("Provides-Extra"))
    assert set(EXTRAS.values()) <= declared


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_cli_without_torch_is_one_line_naming_the_extra(tmp_path):
    done = _run("import sys; sys.modules['torch'] = None\n"
                "from kwslab.cli import main\n"
                f"main(['train', '--data', {str(tmp_path)!r}, '--out', {str(tmp_path / 'r')!r}])")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "pip install 'kwslab[train]'" in done.stderr and "Traceback" not in done.stderr


def test_library_without_torch_names_the_extra():
    done = _run("import sys; sys.modules['torch'] = None\n"
                "import kwslab\n"
                "from kwslab.errors import MissingExtraError\n"
                "try:\n    kwslab.train\n"
                "except MissingExtraError as e:\n    print(e)\n")
    assert "pip install 'kwslab[train]'" in done.stdout, done.stderr


def test_runtime_runs_an_export_without_torch_or_onnx(tone_export):
    done = _run("import sys\n"
                "for m in ('torch', 'onnx', 'optuna', 'scipy', 'matplotlib'):\n"
                "    sys.modules[m] = None\n"
                "import numpy as np\n"
                "from kwslab.runtime import Recognizer\n"
                f"r = Recognizer.load({str(tone_export)!r})\n"
                "print(r.predict(np.zeros(16000, np.float32)).label in r.labels)\n")
    assert done.stdout.strip() == "True", done.stderr


def test_require_and_missing_extra():
    assert require("numpy", "x").__name__ == "numpy"
    with pytest.raises(MissingExtraError, match=r"kwslab\[wyoming\]"):
        err = missing_extra(ModuleNotFoundError("no", name="wyoming.server"), "the server")
        raise err
    assert missing_extra(ModuleNotFoundError("no", name="kwslab.nothing")) is None
    with pytest.raises(ModuleNotFoundError):
        require("kwslab_no_such_module", "x")  # not an optional package: a real error
