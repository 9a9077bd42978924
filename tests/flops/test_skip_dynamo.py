"""`refs_without_dynamo`: a meta count runs torch's references without importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fcdmbench.flops import skip_dynamo


def _cached(functions):
    return {id(f): vars(f).get("__dynamo_disable") for f in functions}


def test_seeds_the_references_for_the_block_and_restores_them(monkeypatch):
    import torch  # noqa: F401  (torch's references exist once torch is imported)

    monkeypatch.delitem(sys.modules, "torch._dynamo", raising=False)
    refs = skip_dynamo._wrapped_references()
    assert len(refs) > 50, "torch no longer wraps its references with _disable_dynamo"
    before = _cached(refs)
    with skip_dynamo.refs_without_dynamo():
        inside = _cached(refs)
        assert all(inside[id(f)] in (f, before[id(f)]) for f in refs)
        assert any(inside[id(f)] is f for f in refs)
    assert _cached(refs) == before  # exactly what it set is removed


def test_leaves_torch_alone_once_dynamo_is_loaded(monkeypatch):
    import torch

    monkeypatch.setitem(sys.modules, "torch._dynamo", torch)  # any module object: "loaded"
    refs = skip_dynamo._wrapped_references()
    before = _cached(refs)
    with skip_dynamo.refs_without_dynamo():
        assert _cached(refs) == before


@pytest.mark.slow
def test_a_meta_count_never_imports_dynamo_and_counts_the_same():
    """In a fresh process (~15 s: torch's import, two counts): a count without dynamo equals,
    field for field, the same count made after torch._dynamo is imported."""
    code = (
        "import sys\n"
        "from fcdmbench.flops import meta_memo\n"
        "from fcdmbench.flops.counter import count_flops\n"
        "first = count_flops('fcdm-b', resolution=256)\n"
        "print('torch._dynamo' in sys.modules)\n"
        "import torch._dynamo\n"
        "meta_memo._META_OUTPUTS.clear()\n"
        "print(count_flops('fcdm-b', resolution=256) == first)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
