"""The package's lazy public names: each stays what it is, whatever gets imported."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import kwslab


def test_no_public_name_is_also_a_submodule():
    submodules = {m.name for m in pkgutil.iter_modules(kwslab.__path__)}
    assert not submodules & set(kwslab._LAZY), "importing the submodule would replace the name"


def test_functions_survive_importing_their_modules():
    # A clean interpreter: the collision only shows when a submodule import comes first.
    code = (
        "import inspect, kwslab.evaluation, kwslab.training, kwslab\n"
        "for name in ('train', 'evaluate', 'predict'):\n"
        "    f = getattr(kwslab, name)\n"
        "    assert inspect.isfunction(f), (name, f)\n"
        "    assert f.__name__ == name, f\n"
        "import kwslab.training.loop\n"
        "assert inspect.isfunction(kwslab.train), kwslab.train\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_unknown_attribute_is_an_attribute_error():
    try:
        kwslab.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("kwslab.no_such_name did not raise")
