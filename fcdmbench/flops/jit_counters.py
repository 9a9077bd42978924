"""fvcore and torchprofile, run on the same model for comparison (docs/flops.md).

Both trace the model with ``torch.jit.trace``, so they need real tensors (CPU, small batch). Both
count MACs. Operators they have no handler for count zero; fcdmbench reports them as ``skipped``
with the number of calls (fvcore: ``FlopCountAnalysis.unsupported_ops()``; torchprofile: its
``No handlers found: "..." Skipped.`` warnings), never hides them.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections import Counter
from typing import Any

from fcdmbench.errors import MissingExtraError
from fcdmbench.flops.op_table import ModuleCount, OpCount, OpTally

__all__ = ["count_with_fvcore", "count_with_torchprofile"]

_FVCORE_DENSE = {
    "conv",
    "linear",
    "matmul",
    "bmm",
    "einsum",
    "addmm",
    "baddbmm",
    "mm",
    "scaled_dot_product_attention",
}
_TORCHPROFILE_DENSE = {
    "aten::linear",
    "aten::matmul",
    "aten::addmm",
    "aten::addmv",
    "aten::bmm",
    "aten::baddbmm",
    "aten::_convolution",
    "aten::einsum",
    "aten::lstm",
    "aten::scaled_dot_product_attention",
}
_SKIPPED_RE = re.compile(r'No handlers found: "([^"]+)"')


def _require(module: str) -> None:

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"counter '{module}' is not installed ({exc})", hint=f"pip install {module}"
        ) from exc


def count_with_fvcore(model: Any, inputs: tuple) -> OpTally:
    """MACs by fvcore's ``FlopCountAnalysis`` (fused multiply-add = 1), with unsupported ops."""
    _require("fvcore")
    import torch
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, inputs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_op = analysis.by_operator()
        by_module = analysis.by_module()
        unsupported = analysis.unsupported_ops()
    ops = [
        OpCount(
            op=op, calls=0, macs=float(macs), kind="dense" if op in _FVCORE_DENSE else "elementwise"
        )
        for op, macs in by_op.items()
    ]
    ops += [OpCount(op=op, calls=n, macs=0.0, kind="skipped") for op, n in unsupported.items()]
    ops.sort(key=lambda o: (-o.macs, o.kind, o.op))
    modules = tuple(
        ModuleCount(module=name, macs=float(m), dense_macs=None) for name, m in by_module.items()
    )
    return OpTally(ops=tuple(ops), modules=modules)


def count_with_torchprofile(model: Any, inputs: tuple) -> OpTally:
    """MACs by torchprofile's ``profile_macs`` per operator, with the operators it skipped."""
    _require("torchprofile")
    import torch
    from torchprofile import profile_macs

    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        per_node = profile_macs(model, inputs, reduction=None)
    macs: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for node, value in per_node.items():
        macs[node.operator] += value
        calls[node.operator] += 1
    skipped: Counter[str] = Counter()
    for warning in caught:
        match = _SKIPPED_RE.search(str(warning.message))
        if match:
            skipped[match.group(1)] += 1
    ops = [
        OpCount(
            op=op,
            calls=calls[op],
            macs=float(macs[op]),
            kind="dense" if op in _TORCHPROFILE_DENSE else "elementwise",
        )
        for op in macs
    ]
    ops += [OpCount(op=op, calls=n, macs=0.0, kind="skipped") for op, n in skipped.items()]
    ops.sort(key=lambda o: (-o.macs, o.kind, o.op))
    return OpTally(ops=tuple(ops))
