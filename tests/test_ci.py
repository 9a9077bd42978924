"""`.ci/run` runs the README's commands exactly as written (it reads them from README.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
CI_RUN = ROOT / ".ci" / "run"


def _readme_blocks() -> dict[str, str]:
    """``{name: commands}`` for every fenced block after a ``<!-- .ci/run: name -->`` marker."""
    pattern = re.compile(r"^<!-- \.ci/run: (\w+) -->\n```bash\n(.*?)\n```$", re.M | re.S)
    return {name: body for name, body in pattern.findall(README)}


def test_readme_marks_install_test_and_full_suite_blocks():
    blocks = _readme_blocks()
    assert set(blocks) == {"install", "test", "full"}
    assert README.count("<!-- .ci/run:") == 3  # no marker without its block
    assert "fcdmbench report --out reports/demo" in blocks["install"]
    assert "download.pytorch.org/whl/cpu" in blocks["install"]
    assert blocks["test"] == "python -m pytest -q"


def test_full_suite_command_is_the_one_skipped_tests_name():
    # Read from the source: `import conftest` may find another conftest.py of this suite.
    source = (ROOT / "tests" / "conftest.py").read_text()
    command = re.search(r'^FULL_SUITE_COMMAND = "(.*)"$', source, re.M).group(1)
    assert _readme_blocks()["full"] == command


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("awk") is None, reason="no bash")
def test_ci_run_extracts_exactly_the_readme_blocks():
    printed = subprocess.run(
        ["bash", str(CI_RUN), "--print"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    expected = "".join(f"### {name}\n{body}\n" for name, body in _readme_blocks().items())
    assert printed == expected


def test_ci_run_fails_on_any_nonzero_exit():
    """No `|| true`, no exit-code filtering: pytest's exit 5 (nothing collected) fails CI."""
    text = CI_RUN.read_text()
    assert "set -euo pipefail" in text
    assert 'bash -euo pipefail -c "$block"' in text
    assert "|| true" not in text and "$?" not in text
    for name in ("install", "test", "full"):
        assert f"run_readme {name}\n" in text


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("awk") is None, reason="no bash")
def test_ci_run_stops_at_a_block_that_exits_5(tmp_path: Path):
    """Mutation check of the mechanism: a README whose test block exits 5 fails `.ci/run`."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(CI_RUN, tmp_path / ".ci" / "run")
    blocks = {"install": "echo installed", "test": "exit 5", "full": "echo full-suite-ran"}
    (tmp_path / "README.md").write_text(
        "".join(f"<!-- .ci/run: {k} -->\n```bash\n{v}\n```\n\n" for k, v in blocks.items())
    )
    done = subprocess.run(["bash", ".ci/run"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 5
    assert "\ninstalled\n" in done.stdout  # the install block ran (not only printed)
    assert "full-suite-ran" not in done.stdout
