"""What a wheel holds: pyproject lists packages by hand (the baselines/ mapping rules out
auto-discovery), so every subpackage and every data file a command reads must be named there, or
a non-editable install lacks it. `tools/check_wheel.sh` builds and installs the real wheel."""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(SETUPTOOLS["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "fcdmbench").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_every_data_file_in_the_package_is_shipped():
    patterns = SETUPTOOLS["package-data"]
    data = [
        p
        for p in (ROOT / "fcdmbench").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert data, "the manifest and the device table live inside the package"
    unshipped = [
        str(p.relative_to(ROOT))
        for p in data
        if not any(
            fnmatch.fnmatch(p.name, pattern)
            for pattern in patterns.get(".".join(p.parent.relative_to(ROOT).parts), [])
        )
    ]
    assert unshipped == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_the_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "fcdmbench.__version__"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="tools/check_wheel.sh needs bash")
def test_the_wheel_works_outside_a_checkout():
    """Build wheel and sdist, install the wheel into a fresh venv (dependencies reused from this
    environment, offline) and run every command from an empty folder (`tools/check_wheel.sh`)."""
    for module in ("build", "twine"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the wheel check needs '{module}' (pip install -e '.[dev]')")
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "check_wheel.sh"), "--reuse-deps"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "works outside a checkout" in done.stdout
