"""Cached meta traces are the traces: a trace read back from disk equals a fresh one (regions,
their operators and inputs included), keys separate arguments, and the cache can be turned off."""

from __future__ import annotations

from fcdmbench.perfmodel import trace_cache
from fcdmbench.perfmodel.op_trace import trace_ops


def test_disk_round_trip_equals_a_fresh_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", str(tmp_path))
    trace_cache.clear_memory()
    first = trace_cache.cached_trace("dig-s-2", 256, 2, "bfloat16")
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    trace_cache.clear_memory()
    again = trace_cache.cached_trace("dig-s-2", 256, 2, "bfloat16")  # read from disk
    assert again == first == trace_ops("dig-s-2", 256, 2, "bfloat16")
    assert any(c.members and c.inputs for c in again.calls)
    trace_cache.cached_trace("dig-s-2", 256, 3, "bfloat16")
    trace_cache.cached_trace("fcdm-s", 256, 2, None, (("width", 144),))
    assert len(list(tmp_path.glob("*.json"))) == 3  # batch and overrides are in the key


def test_unreadable_file_is_traced_again(tmp_path, monkeypatch):
    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", str(tmp_path))
    trace_cache.clear_memory()
    trace_cache.cached_trace("dit-s-2", 256, 1)
    (path,) = tmp_path.glob("*.json")
    path.write_text("{not json")
    trace_cache.clear_memory()
    assert trace_cache.cached_trace("dit-s-2", 256, 1) == trace_ops("dit-s-2", 256, 1)


def test_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("FCDMBENCH_CACHE", str(tmp_path))  # where traces would go otherwise
    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", "0")
    trace_cache.clear_memory()
    assert trace_cache.trace_dir() is None
    trace_cache.cached_trace("dit-s-2", 256, 1)
    assert not list(tmp_path.rglob("*.json"))


def test_training_trace_round_trip(tmp_path, monkeypatch):
    """A training step read back from disk equals a fresh one: its phases, checkpointing, EMA,
    trainable parameters and gradient bytes included; its key is not a forward's."""
    from fcdmbench.perfmodel.op_trace import TrainTrace, trace_train_step

    monkeypatch.setenv("FCDMBENCH_TRACE_CACHE", str(tmp_path))
    trace_cache.clear_memory()
    args = ("dit-s-2", 256, 2, None, "fused", True, True)
    first = trace_cache.cached_train_trace(*args)
    trace_cache.clear_memory()
    again = trace_cache.cached_train_trace(*args)  # read from disk
    assert isinstance(again, TrainTrace)
    assert again == first == trace_train_step(*args)
    assert {c.phase for c in again.calls} >= {"forward", "backward", "recompute", "optimizer"}
    trace_cache.cached_trace("dit-s-2", 256, 2)
    assert len(list(tmp_path.glob("*.json"))) == 2
