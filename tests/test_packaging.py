"""What a wheel holds: pyproject lists packages by hand (the baselines/ mapping rules out
auto-discovery), so every subpackage and every data file a command reads must be named there, or
a non-editable install lacks it. `tools/check_wheel.sh` builds and installs the real wheel."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

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
