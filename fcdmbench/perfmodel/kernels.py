"""The kernels that run a fused region (attention, DiG's linear attention) and what each costs.

A trace (`fcdmbench.perfmodel.op_trace`) records each ``scaled_dot_product_attention`` call and
each chunked-GLA call as one region call with its operators kept as ``members``. Which kernels
actually run it, in which dtype and on which unit, is a choice of the software stack, named here
and priced by `region_items` as the list of kernels launched (each one `Item`: FLOPs on one unit,
bytes through memory). Sources (read for this module; see docs/perfmodel.md):

Attention kernels (``--attention-kernel``):

- ``sdpa``: PyTorch's ``scaled_dot_product_attention`` picks its backend by dtype. Flash needs
  fp16/bf16 on sm80+ (pytorch/pytorch ``aten/src/ATen/native/transformers/cuda/sdp_utils.cpp``,
  ``sm80_flash_dtypes = {kHalf, kBFloat16}``), so fp32 inputs go to the memory-efficient
  (CUTLASS) kernel, whose fp32 GEMMs on sm80+ use tensor cores with ``OpMultiplyAddFastF32``
  (``mem_eff_attention/gemm_kernel_utils.h``), i.e. 3xTF32: each fp32 product split into a big
  and a small TF32 part and three TF32 MMAs (NVIDIA/cutlass ``include/cutlass/arch/mma.h``).
  Priced on ``tf32x3-tc`` = the TF32 peak / 3 (FP32 SIMT on a device without TF32). The
  ``allow_tf32`` flags do not change either kernel. On a CPU: the CPU flash kernel, in fp32.
- ``flash2``: the flash-attn package (FlashAttention-2), what the FCDM paper says DiT ran.
  ``mha_fwd`` accepts fp16/bf16 only, on sm8x/sm90 (Dao-AILab/flash-attention
  ``csrc/flash_attn/flash_api.cpp``): an fp32 model casts q, k, v to 16 bits and the output
  back, two memory-bound casts around a kernel on the bf16 tensor cores (fp16 and bf16 peaks
  are equal on every device in the table) with fp32 accumulation.
- ``sdpa-math``: SDPA's math backend operator by operator (the region's traced members: scores
  written to and read from memory). It upcasts 16-bit q, k, v to fp32 (pytorch/pytorch
  ``aten/src/ATen/native/transformers/attention.cpp`` ``_scaled_dot_product_attention_math``:
  "Keep query, key, value in high precision for accuracy"), so under autocast its two matmuls
  run in fp32, under the precision mode's matmul flag.
- ``unfused``: attention written out by hand, ``(q @ k.transpose(-2, -1)) * scale`` ->
  ``softmax`` -> ``@ v`` (timm's ``Attention`` before 0.9, DiT's original code, fast-DiT).
  Under CUDA autocast the two matmuls run in 16 bits on the tensor cores and softmax in fp32
  (autocast's fp32 list), with autocast's casts around it; in fp32 the matmuls follow the
  matmul flag. ``torch.matmul`` folds the (batch, heads) dimensions of the permuted q, k, v
  with ``reshape``, which copies them. Priced in closed form (`handwritten_attention`);
  tests/perfmodel/test_kernels.py checks it against a trace of the hand-written code.

Linear-attention kernels (``--linear-attention-kernel``, DiG):

- ``fla``: flash-linear-attention at DiG's pinned commit 36743f3 (hustvl/DiG README;
  ``attn_model="fused_chunk"`` in models_dig.py), ``FusedChunkGLAFunction.forward`` in
  ``fla/ops/gla/chunk_fuse.py``: ``@contiguous`` copies of non-contiguous q, k, v, g; Triton
  kernels ``fwd_decay_cumsum`` (g to an fp32 chunk-local cumulative sum), ``prepare_qg_kg``,
  ``fused_chunk_gla_fwd_kernel`` (inter-chunk state, ``tl.dot(..., allow_tf32=False)``: IEEE
  fp32 for fp32 inputs, tensor cores for 16-bit ones), ``o.sum(0)``, ``fwd_inner_chunk``
  (intra-chunk scores as elementwise products and sums, no ``tl.dot``), ``A.sum(0)``, one
  PyTorch ``A @ v`` (cuBLAS, under the matmul flag) and ``o.add_``; chunk 16, key blocks of 64.
- ``fla-tf32``: the same kernels with Triton's default dot precision for fp32 inputs, tf32
  (triton.language.dot: ``input_precision`` defaults to "tf32"); newer flash-linear-attention
  GLA kernels call ``tl.dot`` without ``allow_tf32`` (fla ``fla/ops/gla/chunk.py`` @ bc3b101).
  A what-if for DiG run on a newer release; the kernel list is 36743f3's.
- ``torch``: fcdmbench's pure-PyTorch chunked GLA operator by operator (what runs on a CPU).

The linear-attention choice also decides the two other flash-linear-attention modules DiG runs
(regions of kind ``fused-elementwise``): ``FusedRMSNormSwishGate`` (one Triton kernel,
``fla/modules/fused_norm_gate.py`` ``_layer_norm_fwd_1pass_kernel``) and ``swiglu_linear``'s
``swiglu_fwd`` (one jiterator kernel, ``fla/modules/activations.py``), both @ 36743f3: one kernel
each (reads the inputs, writes the output, its counted products on FP32 SIMT) under ``fla`` and
``fla-tf32``, operator by operator under ``torch``.

A region's FLOPs stay those of `fcdmbench flops` (its members' MACs): the kernels' dense
products follow the closed form of `fcdmbench.catalog.dig.DiGConfig.gla_core_macs`, and the
counted elementwise products beyond it (decay multiplies) are priced with the intra-chunk kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import ConfigError

__all__ = [
    "ATTENTION_KERNELS",
    "DEFAULT_ATTENTION_KERNEL",
    "LINEAR_ATTENTION_KERNELS",
    "Item",
    "default_linear_attention_kernel",
    "handwritten_attention",
    "region_items",
]

#: Attention kernels and what each is (docs/perfmodel.md has the sources).
ATTENTION_KERNELS = {
    "sdpa": "PyTorch SDPA: flash (fp16/bf16) or memory-efficient (fp32: 3xTF32 tensor cores)",
    "flash2": "flash-attn FlashAttention-2: fp16/bf16 tensor cores; fp32 inputs cast in and out",
    "sdpa-math": "SDPA's math backend op by op: 16-bit q, k, v upcast, fp32 matmuls",
    "unfused": "hand-written q @ k^T -> softmax -> @ v: autocast's 16-bit matmuls on tensor cores",
}
#: Linear-attention (DiG GLA) kernels.
LINEAR_ATTENTION_KERNELS = {
    "fla": "flash-linear-attention @ 36743f3 fused_chunk (DiG's pin): fp32 dots IEEE on SIMT",
    "fla-tf32": "the same kernels with Triton's default tf32 dots for fp32 inputs (what-if)",
    "torch": "fcdmbench's pure-PyTorch chunked GLA operator by operator",
}
DEFAULT_ATTENTION_KERNEL = "sdpa"

_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}
_LOW = {"bfloat16": "bf16-tc", "float16": "fp16-tc"}
#: FLA's chunk length and key/value block width (chunk_fuse.py: BT = 16, BK = min(d_k, 64)).
FLA_CHUNK, FLA_BLOCK = 16, 64


@dataclass(frozen=True, slots=True)
class Item:
    """One kernel to price: FLOPs on `unit`, `bytes` through memory."""

    op: str
    kind: str
    unit: str
    flops: float
    bytes: float


def default_linear_attention_kernel(is_cpu: bool) -> str:
    """``torch`` on a CPU (flash-linear-attention is Triton, GPU only), else ``fla``."""
    return "torch" if is_cpu else "fla"


def region_items(
    call: Any,
    kernel: str,
    gemm_unit: Callable[[str], str],
    has_unit: Callable[[str], bool],
    is_cpu: bool,
) -> list[Item] | None:
    """The kernels `kernel` launches for region `call` (None: price its members one by one).

    Args:
        gemm_unit: the unit a matmul in a dtype runs on under the precision mode (cuBLAS flags).
        has_unit: whether the device has a unit (``tf32x3-tc`` needs TF32 tensor cores).

    Raises:
        ConfigError: a GPU-only kernel asked for on a CPU, or an unknown kernel.
    """
    if call.kind == "fused-elementwise":
        if kernel == "torch":
            return None
        unit = "cpu-fp32" if is_cpu else "fp32-simt"
        return [Item(f"fla.{call.op}", "elementwise", unit, 2.0 * call.macs, float(call.bytes))]
    if call.kind == "attention":
        if kernel not in ATTENTION_KERNELS:
            raise ConfigError(
                f"unknown attention kernel {kernel!r}; one of {list(ATTENTION_KERNELS)}"
            )
        if kernel == "sdpa-math":
            return None
        if kernel == "unfused":
            return handwritten_attention(call, gemm_unit, is_cpu)
        return _attention(call, kernel, has_unit, is_cpu)
    if kernel not in LINEAR_ATTENTION_KERNELS:
        raise ConfigError(
            f"unknown linear-attention kernel {kernel!r}; one of {list(LINEAR_ATTENTION_KERNELS)}"
        )
    if kernel == "torch":
        return None
    if is_cpu:
        raise ConfigError(
            f"--linear-attention-kernel {kernel}: flash-linear-attention runs Triton GPU kernels",
            hint="use --linear-attention-kernel torch on a CPU",
        )
    return _fla(call, kernel, gemm_unit)


def handwritten_attention(
    call: Any, gemm_unit: Callable[[str], str], is_cpu: bool = False
) -> list[Item]:
    """The kernels of attention written out by hand on region `call`'s q, k, v (B, H, L, D):
    ``attn = (q @ k.transpose(-2, -1)) * scale; attn = attn.softmax(-1); out = attn @ v``.

    Each non-contiguous q, k, v is copied by ``torch.matmul``'s reshape; the scores (B, H, L, L)
    are written by the first matmul, scaled in place of a new tensor, and, in 16 bits, cast to
    fp32 for softmax and back to 16 bits for the second matmul (CUDA autocast: softmax on its
    fp32 list, matmul on its 16-bit list). The matmuls keep the region's FLOPs.
    """
    (q_shape, dtype, q_contiguous), (k_shape, _, k_contiguous), (v_shape, _, v_contiguous) = (
        call.inputs[:3]
    )
    *lead, length, dk = q_shape
    keys, dv = k_shape[-2], v_shape[-1]
    bh = math.prod(lead)
    s = _BYTES.get(dtype, 4)
    low = dtype in _LOW and not is_cpu
    scores = bh * length * keys  # elements of the (B, H, L, L) scores
    q, k, v = bh * length * dk, bh * keys * dk, bh * keys * dv
    cpu = "cpu-fp32" if is_cpu else None
    matmul = cpu or gemm_unit(dtype)
    simt = cpu or "fp32-simt"
    items = [
        Item("aten.clone", "copy", simt, 0.0, 2.0 * n * s)
        for n, contiguous in ((q, q_contiguous), (k, k_contiguous))
        if not contiguous
    ]
    items += [
        Item("aten.bmm", "gemm", matmul, 2.0 * bh * length * keys * dk, (q + k + scores) * s),
        Item("aten.mul", "elementwise", simt, 0.0, 2.0 * scores * s),
    ]
    soft = 4 if low else s
    if low:
        items.append(Item("aten._to_copy", "cast", simt, 0.0, scores * (s + 4.0)))
    items.append(Item("aten._softmax", "elementwise", simt, 0.0, 2.0 * scores * soft))
    if low:
        items.append(Item("aten._to_copy", "cast", simt, 0.0, scores * (s + 4.0)))
    if not v_contiguous:
        items.append(Item("aten.clone", "copy", simt, 0.0, 2.0 * v * s))
    out = bh * length * dv
    items.append(
        Item("aten.bmm", "gemm", matmul, 2.0 * bh * length * keys * dv, (scores + v + out) * s)
    )
    return items


def _attention(call: Any, kernel: str, has_unit: Callable[[str], bool], is_cpu: bool) -> list:
    read, written = float(call.bytes_read), float(call.bytes_written)
    flops = 2.0 * call.macs
    if is_cpu:
        if kernel == "flash2":
            raise ConfigError(
                "--attention-kernel flash2: FlashAttention-2 runs on CUDA GPUs only",
                hint="use --attention-kernel sdpa or unfused on a CPU",
            )
        op = "aten._scaled_dot_product_flash_attention_for_cpu"
        return [Item(op, "attention", "cpu-fp32", flops, read + written)]
    if call.dtype in _LOW:
        name = (
            "flash_attn.fwd" if kernel == "flash2" else "aten._scaled_dot_product_flash_attention"
        )
        return [Item(name, "attention", _LOW[call.dtype], flops, read + written)]
    if kernel == "sdpa":
        unit = "tf32x3-tc" if has_unit("tf32x3-tc") else "fp32-simt"
        op = "aten._scaled_dot_product_efficient_attention"
        return [Item(op, "attention", unit, flops, read + written)]
    if not has_unit("bf16-tc"):
        raise ConfigError(
            "--attention-kernel flash2: FlashAttention-2 needs bf16/fp16 tensor cores (Ampere+)",
            hint="use --attention-kernel sdpa on this device",
        )
    ratio = 2 / _BYTES.get(call.dtype, 4)  # fp32 -> 16-bit
    return [
        Item("aten._to_copy", "cast", "fp32-simt", 0.0, read * (1 + ratio)),
        Item("flash_attn.fwd", "attention", "bf16-tc", flops, (read + written) * ratio),
        Item("aten._to_copy", "cast", "fp32-simt", 0.0, written * (1 + ratio)),
    ]


def _fla(call: Any, kernel: str, gemm_unit: Callable[[str], str]) -> list[Item]:
    """flash-linear-attention @ 36743f3 ``fused_chunk_gla`` forward, kernel by kernel."""
    (q_shape, dtype, _), _, (v_shape, _, _), (_, g_dtype, _) = call.inputs
    contiguous = [c for _, _, c in call.inputs]
    batch, heads, length, dk = q_shape
    dv = v_shape[-1]
    bh = batch * heads
    padded = math.ceil(length / FLA_CHUNK) * FLA_CHUNK
    chunks = padded // FLA_CHUNK
    s, sg = _BYTES.get(dtype, 4), _BYTES.get(g_dtype, 4)
    nk = math.ceil(dk / min(dk, FLA_BLOCK))
    qk = bh * padded * dk  # elements of q (and k, g)
    vo = bh * padded * dv  # elements of v (and o)
    scores = bh * chunks * FLA_CHUNK * FLA_CHUNK  # elements of A
    inter = 2 * bh * padded * dk * dv  # MACs: q @ state and k^T @ v per chunk
    intra = bh * padded * FLA_CHUNK * dk  # MACs: intra-chunk scores (elementwise)
    av = bh * padded * FLA_CHUNK * dv  # MACs: A @ v (cuBLAS)
    extra = call.macs - (inter + intra + av)  # counted decay products beyond the closed form
    if extra < -1e-6 * call.macs:
        raise ConfigError(
            f"{call.module}: the traced GLA does {call.macs:.4g} MACs, fewer than the "
            f"{inter + intra + av:.4g} of flash-linear-attention's chunk form"
        )
    if dtype in _LOW:
        dot_unit = _LOW[dtype]
    else:
        dot_unit = "tf32-tc" if kernel == "fla-tf32" else "fp32-simt"
    sizes = (qk * s, qk * s, vo * s, qk * sg)
    copies = sum(2 * b for b, c in zip(sizes, contiguous, strict=True) if not c)
    return [
        Item("fla.contiguous", "copy", "fp32-simt", 0.0, float(copies)),
        Item("fla.fwd_decay_cumsum", "elementwise", "fp32-simt", 0.0, qk * (sg + 4.0)),
        Item("fla.prepare_qg_kg", "elementwise", "fp32-simt", 0.0, qk * (2 * s + 4 + 2 * s)),
        Item(
            "fla.fused_chunk_gla_fwd_kernel",
            "linear-attention",
            dot_unit,
            2.0 * inter,
            qk * 2 * s + vo * s + bh * chunks * dk * 4 + nk * vo * s,
        ),
        Item("aten.sum", "elementwise", "fp32-simt", 0.0, (nk + 1) * vo * s),
        Item(
            "fla.fwd_inner_chunk",
            "elementwise",
            "fp32-simt",
            2.0 * (intra + max(extra, 0.0)),
            qk * (2 * s + 4) + nk * scores * s,
        ),
        Item("aten.sum", "elementwise", "fp32-simt", 0.0, (nk + 1) * scores * s),
        Item("aten.bmm", "gemm", gemm_unit(dtype), 2.0 * av, scores * s + 2 * vo * s),
        Item("aten.add_", "elementwise", "fp32-simt", 0.0, 3.0 * vo * s),
    ]
