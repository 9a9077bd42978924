"""Suite-wide fixtures and hooks.

- Tests marked `slow` (XL-size parity and their negative controls, long end-to-end runs) belong
  to the full suite: ``python -m pytest -q`` skips them, each with a reason that names the
  command that runs them, ``python -m pytest -q --full`` runs everything (``-m slow`` only
  them). `.ci/run` runs both commands.
- Tests marked `gpu` skip, with the reason, where no CUDA device exists.
- `one_thread` pins torch to one thread for CPU timing tests (`one_thread_module`: per module).
- Meta traces (`fcdmbench.perfmodel.trace_cache`) go to a folder of the session, never the
  user's cache.
- `cli_demo_report`: the README's demo report, built once by the CLI for the tests that read it.
"""

from __future__ import annotations

import contextlib

import pytest

FULL_SUITE_COMMAND = "python -m pytest -q --full"


def pytest_addoption(parser):
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help=f"also run tests marked slow (the full suite: `{FULL_SUITE_COMMAND}`)",
    )


@pytest.fixture(scope="session", autouse=True)
def _session_trace_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FCDMBENCH_TRACE_CACHE", str(tmp_path_factory.mktemp("traces")))
        yield


@pytest.fixture(scope="session")
def cli_demo_report(tmp_path_factory):
    """``fcdmbench report --out DIR`` with no records (GMACs counted on the meta device, 15-30 s
    on 2 cores): the CLI's result and DIR, shared by tests/cli and tests/reporting."""
    from typer.testing import CliRunner

    from fcdmbench.cli.main import app

    out = tmp_path_factory.mktemp("demo") / "demo"
    return CliRunner().invoke(app, ["report", "--out", str(out)]), out


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """Two oversubscribed torch threads on a shared 2-core machine are 10x slower than one."""
    with _torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_module():
    """`one_thread` for a whole module: ``pytestmark = pytest.mark.usefixtures(...)``."""
    with _torch_threads(1):
        yield


def pytest_collection_modifyitems(config, items):
    # An explicit `-m` expression naming `slow` (e.g. `-m slow`: only those) opts in as well.
    if not (config.getoption("--full") or "slow" in (config.option.markexpr or "")):
        skip_slow = pytest.mark.skip(reason=f"slow: part of the full suite, `{FULL_SUITE_COMMAND}`")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip_slow)
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none visible to torch)")
    for item in gpu_items:
        item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    slow = [r for r in terminalreporter.stats.get("skipped", []) if "full suite" in str(r.longrepr)]
    if slow:
        terminalreporter.write_line(
            f"{len(slow)} slow tests skipped; the full suite runs them: `{FULL_SUITE_COMMAND}`"
        )
