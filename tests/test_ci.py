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


def _run_ci(tmp_path: Path, blocks: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a copy of `.ci/run` on a README holding `blocks` (each run for real)."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(CI_RUN, tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(
        "".join(f"<!-- .ci/run: {k} -->\n```bash\n{v}\n```\n\n" for k, v in blocks.items())
    )
    return subprocess.run(["bash", ".ci/run"], capture_output=True, text=True, cwd=tmp_path)


NEEDS_BASH = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("awk") is None, reason="no bash or awk"
)
PASSING = {"install": "echo ran-install", "test": "echo ran-test", "full": "echo ran-full"}


@NEEDS_BASH
def test_ci_run_runs_every_block_in_order(tmp_path: Path):
    done = _run_ci(tmp_path, PASSING)
    assert done.returncode == 0, done.stderr
    ran = [line for line in done.stdout.splitlines() if line.startswith("ran-")]
    assert ran == ["ran-install", "ran-test", "ran-full"]


@NEEDS_BASH
@pytest.mark.parametrize(
    "failing, code",
    [
        ("exit 5", 5),  # pytest's "no tests collected" is a failure, not a pass
        ("false; echo ran-after", 1),  # a failing command stops its block (-e)
        ("false | cat", 1),  # a failing command inside a pipeline (pipefail)
        ("echo $FCDMBENCH_UNSET_VARIABLE", 1),  # an unset variable (-u)
    ],
    ids=["exit-5", "errexit", "pipefail", "nounset"],
)
@pytest.mark.parametrize("block", ["install", "test", "full"])
def test_ci_run_fails_on_any_nonzero_exit(tmp_path: Path, block: str, failing: str, code: int):
    """Mutation check of the mechanism: any failure in any block fails `.ci/run` with its exit
    code, and no later block runs."""
    done = _run_ci(tmp_path, {**PASSING, block: failing})
    assert done.returncode == code, (done.stdout, done.stderr)
    order = list(PASSING)
    ran = [line for line in done.stdout.splitlines() if line.startswith("ran-")]
    assert ran == [f"ran-{name}" for name in order[: order.index(block)]]


@NEEDS_BASH
def test_ci_run_refuses_a_readme_without_a_block(tmp_path: Path):
    done = _run_ci(tmp_path, {"install": "echo ran-install", "test": "echo ran-test"})
    assert done.returncode == 1
    assert "no fenced block after '<!-- .ci/run: full -->'" in done.stderr
