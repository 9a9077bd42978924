"""Training and sampling memory per GPU, measured on the meta device (no GPU, no memory used).

A training step (forward, MSE loss, backward, AdamW step) runs on meta tensors, after the
optimizer state has been created, as in any step after the first. Two instruments watch it:

- saved-tensor hooks (``torch.autograd.graph.saved_tensors_hooks``) collect every tensor autograd
  saves for backward; tensors saved twice, and views of one storage, count once (autograd keeps
  the storage alive, so a saved view holds its whole storage), and parameters are left out (they
  are counted as parameters);
- a storage tracker (a dispatch mode) follows every storage the step allocates until it is freed,
  which gives the bytes held when backward starts (saved activations, including what gradient
  checkpointing keeps) and the peak of the step (activations, gradients, recomputation,
  optimizer temporaries).

Per GPU under data parallelism (batch / gpus rows each): parameters + EMA copy + AdamW state +
the step's peak + DDP's gradient buckets. Measured: parameters, AdamW state, saved activations,
step peak. Modelled (labelled so): the EMA copy (DiT's ``train.py`` keeps one on every GPU) and
the DDP buckets (one flat copy of the gradients, PyTorch's default
``gradient_as_bucket_view=False``). Not included: the CUDA context and cuDNN/cuBLAS workspaces,
allocator fragmentation, the VAE (latents assumed precomputed), data-loader buffers, and the
generator state checkpointing keeps per block (host memory; it shows on a CPU, see the tests).

`measure_memory` returns the complete record (`fcdmbench.records.MemoryRecord`, schema
``fcdmbench.memory/2``); the CLI only renders and writes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.records.memory import (
    GIB,
    MemoryCard,
    MemoryConfig,
    MemoryRecord,
    MemoryResult,
    StepMemory,
)
from fcdmbench.records.throughput import Mode
from fcdmbench.registry import require_models
from fcdmbench.throughput.workloads import make_adamw, prime_optimizer

__all__ = [
    "GIB",
    "MemoryRecord",
    "MemoryResult",
    "StepMemory",
    "measure_memory",
    "fused_attention_mode",
    "measure_step",
]


class _StorageTracker:
    """Dispatch mode that follows every storage created by an operator until it is freed."""

    def __init__(self, ignore: set[int]) -> None:
        self.ignore = ignore
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def mode(self):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_leaves(out):
                    if hasattr(t, "untyped_storage"):
                        tracker.add(t.untyped_storage())
                return out

        return _Mode()

    def add(self, storage) -> None:
        key = id(storage)
        if key in self.live or key in self.ignore:
            return
        size = storage.nbytes()
        self.live[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def reset_peak(self) -> None:
        self.peak = self.current


def _storage_bytes(tensors) -> int:
    seen = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[id(storage)] = storage.nbytes()
    return sum(seen.values())


def measure_step(
    model: Any,
    make_batch: Callable[[], tuple],
    mode: Mode,
    optimizer_factory: Callable[[Any], Any] | None = None,
    is_fused_attention: bool = True,
) -> StepMemory:
    """Measure one training step (or one inference forward) of `model` on its device.

    Works on meta tensors and on real ones (the tests compare the two). `make_batch` returns
    ``(x, t, y, target)``; it is called inside the measurement, so the batch counts.
    `is_fused_attention`: SDPA saves what a fused kernel saves (`fused_attention_mode`).
    """
    import torch
    import torch.nn.functional as F

    params = list(model.parameters())
    param_storages = {id(p.untyped_storage()) for p in params}
    param_bytes = _storage_bytes(params)
    if mode is Mode.INFER:
        tracker = _StorageTracker(param_storages)
        with torch.no_grad(), tracker.mode():
            x, t, y, _ = make_batch()
            out = model(x, t, y)
            held = tracker.current
            del out, x, t, y
        return StepMemory(0, 0, 0, 0, held, tracker.peak, tracker.peak, 0, 0, param_bytes)

    optimizer = optimizer_factory(params)

    def step(hooks=None, tracker=None, marks=None):
        x, t, y, target = make_batch()
        ctx = hooks if hooks is not None else contextlib.nullcontext()
        with ctx:
            loss = F.mse_loss(model(x, t, y), target)
        del x, t, y, target
        if marks is not None:
            marks["held"] = tracker.current
            marks["peak_forward"] = tracker.peak
        loss.backward()
        del loss
        optimizer.step()

    prime_optimizer(optimizer, params)  # the measured step is then a steady-state step
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    ignore = param_storages | {id(v.untyped_storage()) for v in state}
    saved: dict[int, int] = {}
    counts = {"tensors": 0, "raw": 0}
    keep: list[Any] = []  # holds the saved storages, so their ids stay unique

    def pack(tensor):
        counts["tensors"] += 1
        storage = tensor.untyped_storage()
        if id(storage) not in param_storages:
            counts["raw"] += storage.nbytes()
            saved[id(storage)] = storage.nbytes()
            keep.append(storage)
        return tensor

    tracker = _StorageTracker(ignore)
    marks: dict[str, int] = {}
    hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)
    with fused_attention_mode() if is_fused_attention else contextlib.nullcontext(), tracker.mode():
        step(hooks, tracker, marks)
    grads = [p.grad for p in params if p.grad is not None]
    result = StepMemory(
        saved_bytes=sum(saved.values()),
        saved_tensors=counts["tensors"],
        saved_storages=len(saved),
        saved_bytes_undeduplicated=counts["raw"],
        held_after_forward=marks["held"],
        peak_forward=marks["peak_forward"],
        peak_step=tracker.peak,
        grad_bytes=_storage_bytes(grads),
        optimizer_bytes=_storage_bytes(state),
        param_bytes=param_bytes,
    )
    keep.clear()
    optimizer.zero_grad(set_to_none=True)
    return result


def fused_attention_mode():
    """A TorchFunctionMode making ``scaled_dot_product_attention`` save what a fused GPU kernel
    saves (q, k, v, the output and an fp32 logsumexp per query row), not the math path's
    attention matrix: on the meta device SDPA runs its math path, whose saved (B, H, N, N)
    scores no FlashAttention or memory-efficient kernel keeps. The output has the fused
    kernels' memory layout (B, N, H, D), so a following ``transpose(1, 2).reshape`` is a view, as
    on a GPU (and on a CPU, whose SDPA is fused too: the tests compare the two)."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    class _FusedSDPA(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v, kwargs):
            with torch.no_grad():
                out = F.scaled_dot_product_attention(q, k, v, **kwargs)
                if (
                    out.dim() == 4
                ):  # fused kernels write (B, N, H, D) and return a (B, H, N, D) view
                    out = out.transpose(1, 2).contiguous().transpose(1, 2)
            lse = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)
            ctx.save_for_backward(q, k, v, out, lse)
            ctx.kwargs = kwargs
            return out

        @staticmethod
        def backward(ctx, grad):
            q, k, v, _, _ = ctx.saved_tensors
            with torch.enable_grad():
                inputs = [t.detach().requires_grad_(True) for t in (q, k, v)]
                out = F.scaled_dot_product_attention(*inputs, **ctx.kwargs)
                grads = torch.autograd.grad(out, inputs, grad)
            return (*grads, None)

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention and torch.is_grad_enabled():
                q, k, v, *rest = args
                names = ("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
                options = {**dict(zip(names, rest, strict=False)), **kwargs}
                return _FusedSDPA.apply(q, k, v, options)
            return func(*args, **kwargs)

    return _Mode()


def _build(spec: Any, config: MemoryConfig) -> tuple[Any, str]:
    """The model on the meta device (the flops command's construction path) and a description
    of its checkpointing (`fcdmbench.throughput.workloads.build_for_training`; the recomputation
    of blocks fcdmbench wraps re-enters the fused-attention mode)."""

    from fcdmbench.throughput.workloads import build_for_training

    fused = config.attention == "fused"
    model, description = build_for_training(
        spec,
        config.resolution,
        config.grad_checkpointing,
        fused_attention_mode if fused else contextlib.nullcontext,
    )
    model.train(config.mode is Mode.TRAIN)
    return model, description


def measure_memory(
    models: Sequence[str],
    config: MemoryConfig,
    progress: Callable[[str], None] = lambda message: None,
) -> MemoryRecord:
    """Measure every model of `models` under `config` on the meta device.

    Returns:
        The complete record (run, environment, settings, one result per model).
    """
    import torch

    from fcdmbench.catalog.spec import VAE_FACTOR
    from fcdmbench.env import collect_env
    from fcdmbench.flops.inputs import make_inputs
    from fcdmbench.records._base import RunInfo
    from fcdmbench.registry import resolve

    run = RunInfo.current()
    card = None
    if config.card is not None:
        from fcdmbench.devices import get_device

        device = get_device(config.card)
        if device.memory_gib is None:
            raise ConfigError(
                f"device {device.key} has no memory figure in the device table",
                hint="choose a card with one, e.g. rtx-4090, a100-80gb-sxm, h100-sxm",
            )
        card = MemoryCard(
            key=device.key,
            name=device.name,
            memory_gib=device.memory_gib,
            source=device.memory_figure.source if device.memory_figure else None,
        )
    results = []
    require_models(models)
    for name in models:
        spec, tag = resolve(name)
        model_config = config  # a resolution tag applies to its own model only
        if tag and tag != config.resolution:
            model_config = dataclasses.replace(config, resolution=tag)
        progress(f"measuring {spec.name} ({config.mode.value}) on the meta device")
        model, description = _build(spec, model_config)
        side = model_config.resolution // VAE_FACTOR
        latent = (spec.latent_channels, side, side)
        out_channels = getattr(model, "out_channels", spec.latent_channels)
        target = (config.rows_per_gpu, out_channels, side, side)

        def make_batch(latent=latent, target=target):
            x, t, y = make_inputs(latent, target[0], device="meta")
            return x, t, y, torch.empty(target, device="meta")

        step = measure_step(
            model,
            make_batch,
            config.mode,
            lambda params: make_adamw(params, foreach=True),
            is_fused_attention=config.attention == "fused",
        )
        results.append(
            MemoryResult(
                model=spec.name,
                display_name=spec.display_name,
                config=model_config,
                checkpointing=description,
                step=step,
                card=card,
            )
        )
    return MemoryRecord(
        run=run,
        env=collect_env("cpu"),  # the meta device holds nothing; the host ran the step
        models=tuple(models),
        config=config,
        results=tuple(results),
    )
