"""Traces made in forked workers are the traces: an audit traced by two worker processes gives
the record and the traces a serial one gives, each trace made once; a failed trace is raised by
the caller, a dead worker is an error; Ctrl-C ends a parallel audit as any interrupted command
ends."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.errors import ConfigError
from fcdmbench.perfmodel import op_trace, trace_cache
from fcdmbench.perfmodel.audit import AuditConfig, run_audit

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(),
    reason="no fork on this platform: traces are made in one process",
)


def _logged_audit(monkeypatch, tmp_path, workers: int) -> tuple[dict, dict, list[str]]:
    """Table 11's audit (9 FCDM configurations, 18 traces) on an empty trace cache: the record
    (without its run and environment), the traces in memory, and one line per trace made,
    ``pid model autocast overrides``, from whichever process made it."""
    cache, log = tmp_path / f"traces{workers}", tmp_path / f"log{workers}"
    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", str(cache))
    monkeypatch.setenv("FCDMBENCH_TRACE_WORKERS", str(workers))
    trace = op_trace.trace_ops

    def logged(name, resolution, batch, autocast=None, attention="fused", overrides=None):
        with log.open("a") as out:  # appends of one short line: atomic across processes
            out.write(f"{os.getpid()} {name} {autocast} {sorted((overrides or {}).items())}\n")
        return trace(name, resolution, batch, autocast, attention, overrides)

    monkeypatch.setattr(op_trace, "trace_ops", logged)
    trace_cache.clear_memory()
    record = run_audit(AuditConfig(tables=("table11",))).to_json()
    assert len(list(cache.glob("*.json"))) == 18  # the workers' traces are on disk too
    body = {k: v for k, v in record.items() if k not in ("run", "env")}
    return body, dict(trace_cache._MEMORY), log.read_text().splitlines()


def test_parallel_audit_equals_serial(monkeypatch, tmp_path):
    parallel, parallel_traces, parallel_log = _logged_audit(monkeypatch, tmp_path, 2)
    serial, serial_traces, serial_log = _logged_audit(monkeypatch, tmp_path, 1)
    assert json.dumps(parallel) == json.dumps(serial)
    assert parallel_traces == serial_traces and len(serial_traces) == 18
    assert {line.split()[0] for line in serial_log} == {str(os.getpid())}
    assert len({line.split()[0] for line in parallel_log}) >= 2  # the parent and a worker
    made = [line.split(maxsplit=1)[1] for line in parallel_log]
    assert len(made) == len(set(made)) == 18  # each trace made once


def test_a_failed_trace_is_raised_by_the_caller(monkeypatch, tmp_path):
    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", str(tmp_path))
    trace_cache.clear_memory()
    good = [[("dit-s-2", 256, 1, None, ())], [("dic-s", 256, 1, None, ())]]
    bad = ("dico-s", 256, 1, "float64", ())  # not an autocast dtype
    for _ in trace_cache.prefetch([*good, [bad]], workers=2):
        pass
    assert all(trace_cache._key(g[0]) in trace_cache._MEMORY for g in good)
    with pytest.raises(ConfigError, match="autocast"):
        trace_cache.cached_trace(*bad)


def test_a_worker_that_dies_is_an_error_not_a_hang(monkeypatch, tmp_path):
    from concurrent.futures.process import BrokenProcessPool

    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", str(tmp_path))
    trace_cache.clear_memory()
    parent, trace = os.getpid(), op_trace.trace_ops

    def dies_in_a_worker(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(3)  # as if killed (out of memory)
        return trace(*args, **kwargs)

    monkeypatch.setattr(op_trace, "trace_ops", dies_in_a_worker)
    groups = [[(name, 256, 1, None, ())] for name in ("dit-s-2", "dic-s", "dico-s")]
    with pytest.raises(BrokenProcessPool):
        for _ in trace_cache.prefetch(groups, workers=2):
            pass


def test_bad_worker_count(monkeypatch):
    monkeypatch.setenv("FCDMBENCH_TRACE_WORKERS", "0")
    with pytest.raises(ConfigError, match="FCDMBENCH_TRACE_WORKERS") as raised:
        trace_cache.trace_workers()
    assert "unset it" in raised.value.hint


def test_ctrl_c_ends_a_parallel_audit_cleanly(tmp_path):
    """SIGINT to the whole process group, as a terminal sends it, while workers trace: the
    usual ``interrupted`` line and exit code 130, nothing else, no process left behind.

    The child gets SIGINT's default disposition back first: a test run started in the background
    by a non-interactive shell (``cmd &``, nohup, some CI runners) inherits SIGINT as ignored, and
    then so would the audit. fcdmbench itself leaves an ignored SIGINT ignored, as every program
    should: whoever ignored it asked for the job to outlive Ctrl-C.
    """
    env = {**os.environ, "FCDMBENCH_TRACE_CACHE": str(tmp_path), "FCDMBENCH_TRACE_WORKERS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fcdmbench", "audit", "--tables", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    lines = []
    for line in proc.stderr:  # [2/20] comes once the first model is priced: workers are up
        lines.append(line)
        if line.startswith("[2/"):
            os.killpg(proc.pid, signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(lines) + rest
    # nothing from a worker (a traceback, or "Process ForkPoolWorker-1:" cut short)
    assert [line for line in rest.splitlines() if not line.startswith("[")] == ["interrupted"]
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # every worker is gone


def test_bad_worker_count_is_found_before_the_audit_traces(monkeypatch):
    """The audit's preflight reports the variable with the command line's other problems."""
    monkeypatch.setenv("FCDMBENCH_TRACE_WORKERS", "abc")
    result = CliRunner().invoke(app, ["audit", "--tables", "11", "--settings", "nope"])
    assert result.exit_code == 2
    assert "2 problems found before starting" in result.output
    assert "FCDMBENCH_TRACE_WORKERS" in result.output and "[1/" not in result.output


def test_report_checks_the_worker_count_before_it_writes(monkeypatch, tmp_path):
    monkeypatch.setenv("FCDMBENCH_TRACE_WORKERS", "0")
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "FCDMBENCH_TRACE_WORKERS" in result.output
    assert not (tmp_path / "r").exists()
