"""The trace's two memos (meta outputs per argument metadata; repeated module calls replayed)
change no call: a trace with them equals, call for call, the trace that runs every operator and
every module, and they are used (the replay answers blocks of every model family)."""

from __future__ import annotations

import contextlib

import pytest

from fcdmbench.flops import meta_memo
from fcdmbench.perfmodel.op_trace import trace_module, trace_ops, trace_train_step


@pytest.fixture
def replay_hits(monkeypatch):
    """The number of module calls each trace answered from a recording, in order."""
    hits: list[int] = []
    uninstall = meta_memo.ModuleReplay.uninstall

    def spy(self):
        hits.append(self.hits)
        uninstall(self)

    monkeypatch.setattr(meta_memo.ModuleReplay, "uninstall", spy)
    return hits


def _reference(monkeypatch) -> None:
    """The trace as it is without its speed-ups: every operator and module runs, and arguments
    are flattened by pytree."""
    from torch.utils._pytree import tree_leaves, tree_map

    monkeypatch.setattr(meta_memo.ModuleReplay, "install", lambda self: None)
    monkeypatch.setattr(meta_memo, "meta_memo", contextlib.nullcontext)
    monkeypatch.setattr(meta_memo, "leaves", tree_leaves)
    monkeypatch.setattr(meta_memo, "map_leaves", tree_map)


@pytest.mark.parametrize(
    ("name", "autocast", "attention"),
    [
        ("dit-s-2", None, "fused"),
        ("dit-s-2", "bfloat16", "unfused"),
        ("dig-s-2-skip", None, "fused"),
        ("dig-s-2", "bfloat16", "fused"),
        ("fcdm-s", None, "fused"),
        ("fcdm-s", "bfloat16", "fused"),
        ("dic-s", "bfloat16", "fused"),
        ("dico-s", None, "fused"),
    ],
)
def test_memos_change_no_call(monkeypatch, replay_hits, name, autocast, attention):
    fast = trace_ops(name, 256, 3, autocast, attention)
    assert replay_hits[-1] > 0, "no block was replayed: the speed-up does not apply"
    _reference(monkeypatch)
    reference = trace_ops(name, 256, 3, autocast, attention)
    assert replay_hits[-1] == 0
    assert fast == reference  # every call: op, module, dtype, MACs, bytes, members, inputs


@pytest.mark.parametrize(
    ("name", "autocast", "checkpointing"), [("fcdm-s", "bfloat16", True), ("dit-s-2", None, False)]
)
def test_training_trace_unchanged(monkeypatch, name, autocast, checkpointing):
    """A training step (no replay: autograd needs the real graph) with the meta memo and the
    fast flattening equals the reference call for call. Negative control, found by comparing
    with the previous code: a flattening that kept its leaves alive a moment longer made
    autograd copy every gradient (``new_empty_strided`` + ``copy_``) instead of stealing it."""
    fast = trace_train_step(name, 256, 2, autocast, grad_checkpointing=checkpointing)
    _reference(monkeypatch)
    reference = trace_train_step(name, 256, 2, autocast, grad_checkpointing=checkpointing)
    assert fast.calls == reference.calls


def _toy(block_type):
    import torch

    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList(block_type() for _ in range(3))

        def forward(self, x):
            for block in self.blocks:
                x = block(x) + 1
            return x

    return Toy()


def _blocks():
    import torch

    class Counting(torch.nn.Module):
        """Changes its own attribute each call: not repeatable."""

        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(8, 8)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.proj(x)

    class Passing(torch.nn.Module):
        """Returns a view of its argument: its replay could not alias it."""

        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(8, 8)

        def forward(self, x):
            self.proj(x)
            return x.view(-1, 8)

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(8, 8)

        def forward(self, x):
            return torch.nn.functional.gelu(self.proj(x))

    return {"counting": Counting, "passing": Passing, "plain": Plain}


@pytest.mark.parametrize(("kind", "replayed"), [("plain", 2), ("counting", 0), ("passing", 0)])
def test_replay_only_what_it_can_prove(monkeypatch, replay_hits, kind, replayed):
    """A block that changes its attributes or returns a view of its argument runs every time;
    the plain one is recorded once and replayed twice. Negative control: all three traces equal
    the reference (the refused ones because they ran)."""
    import torch

    model = _toy(_blocks()[kind]).to("meta")
    x = torch.empty(4, 8, device="meta")
    fast = trace_module(model, (x,))
    assert replay_hits[-1] == replayed
    _reference(monkeypatch)
    assert trace_module(model, (x,)) == fast


@pytest.mark.parametrize(
    ("name", "batch", "cfg"),
    [
        ("fcdm-s", 1, False),
        ("dit-s-2", 2, True),
        ("dig-s-2", 1, False),
        ("dig-s-2-skip", 1, False),
        ("dic-s", 1, True),
        ("dico-s", 2, False),
    ],
)
def test_count_replay_changes_no_count(monkeypatch, replay_hits, name, batch, cfg):
    """A FLOP count whose repeated blocks are replayed (`CountReplay`) equals the count that
    runs every block: every field of the result, the per-operator census and the per-module
    counts in their order included."""
    from fcdmbench.flops.counter import count_flops

    fast = count_flops(name, batch=batch, cfg=cfg)
    assert replay_hits[-1] > 0, "no block was replayed: the speed-up does not apply"
    monkeypatch.setattr(meta_memo.CountReplay, "install", lambda self: None)
    reference = count_flops(name, batch=batch, cfg=cfg)
    assert replay_hits[-1] == 0
    assert fast == reference
    assert [m.module for m in fast.modules] == [m.module for m in reference.modules]
    assert [(o.op, o.calls) for o in fast.ops] == [(o.op, o.calls) for o in reference.ops]
