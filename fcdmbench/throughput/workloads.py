"""What one timed call runs: a model's inference NFE or training step, built for a batch size.

`build_model_step` returns a `Step`: a no-argument callable plus what it computes (images and
network rows per call). Inputs have the real sampling shapes (docs/throughput.md): x
(B, 4, H/8, W/8), t and y (B,) int64; with CFG the network sees 2B rows for B images.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.precision import Precision
from fcdmbench.records.throughput import Mode

__all__ = [
    "EMA_DECAY",
    "Mode",
    "Step",
    "StepOptions",
    "build_for_training",
    "build_model_step",
    "count_gflops_per_image",
    "epsilon_loss",
    "make_adamw",
    "prime_optimizer",
    "update_ema",
]

#: torch.compile modes accepted by `--compile`.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: Guidance scale used for CFG timing (DiT sample.py's default; it does not change the cost).
CFG_SCALE = 4.0
#: The EMA decay of DiT's and FCDM's train.py (paper: 0.9999).
EMA_DECAY = 0.9999


@dataclass(frozen=True, slots=True)
class StepOptions:
    """How a model is run; shared by every model of a run."""

    resolution: int = 256
    precision: Precision = Precision.PAPER_DEFAULT
    mode: Mode = Mode.INFER
    cfg: bool = False
    channels_last: bool = False
    compile_mode: str | None = None
    cuda_graphs: bool = False

    def __post_init__(self) -> None:
        if self.compile_mode is not None and self.compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"--compile {self.compile_mode!r} is not a torch.compile mode",
                hint=f"use one of: {', '.join(COMPILE_MODES)}",
            )
        if self.mode is Mode.TRAIN and self.cfg:
            raise ConfigError(
                "--cfg is a sampling setting; it does not apply to --mode train",
                hint="drop --cfg, or use --mode infer",
            )
        if self.mode is Mode.TRAIN and self.cuda_graphs:
            raise ConfigError(
                "--cuda-graphs is supported for --mode infer only",
                hint="drop --cuda-graphs, or use --mode infer",
            )


@dataclass(slots=True)
class Step:
    """One timed call: ``step()`` runs it. `release()` drops the model and buffers."""

    run: Callable[[], Any]
    images_per_call: int
    rows_per_call: int
    state_bytes: int  # parameters + buffers (+ optimizer state after the first train step)
    _keep: list[Any] = field(default_factory=list)

    def __call__(self) -> Any:
        return self.run()

    def release(self) -> None:
        self._keep.clear()
        self.run = _released


def _released() -> None:
    raise RuntimeError("this step was released")


def _inputs(spec: Any, batch: int, rows: int, resolution: int, device: Any, channels_last: bool):
    import torch

    gen = torch.Generator(device="cpu").manual_seed(0)
    c, h, w = spec.input_shape(resolution)
    x = torch.randn(rows, c, h, w, generator=gen).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 1000, (rows,), generator=gen).to(device)
    y = torch.randint(0, 1000, (rows,), generator=gen)
    if rows != batch:  # CFG: conditional half, then the null label (index num_classes)
        y[batch:] = getattr(spec.config, "num_classes", 1000)
    return x, t, y.to(device)


def build_model_step(
    name: str, overrides: dict[str, Any], batch: int, options: StepOptions, device: Any
) -> Step:
    """Build model `name` on `device` and return the call to time.

    Args:
        name: registry name.
        overrides: config fields to replace (e.g. ``{"checkpointing": "always"}``).
        batch: images per call (CFG doubles the network rows).
        options: precision, mode and compilation settings.
        device: a ``torch.device``.
    """

    import torch

    from fcdmbench.registry import create_model, get_spec

    spec = get_spec(name)
    model = create_model(name, resolution=options.resolution, device=device, **overrides)
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    rows = 2 * batch if options.cfg else batch
    x, t, y = _inputs(spec, batch, rows, options.resolution, device, options.channels_last)
    dtype = options.precision.autocast_dtype()

    def autocast():
        if dtype is None:
            return contextlib.nullcontext()
        # The autocast weight cache is unsafe under CUDA-graph capture.
        return torch.autocast(device.type, dtype=dtype, cache_enabled=not options.cuda_graphs)

    state = sum(p.numel() * p.element_size() for p in model.parameters())
    state += sum(b.numel() * b.element_size() for b in model.buffers())

    if options.mode is Mode.TRAIN:
        return _train_step(model, x, t, y, batch, rows, state, options, autocast, device)

    if options.cfg:
        method = getattr(model, spec.cfg_method)

        def forward(x, t, y):
            return method(x, t, y, CFG_SCALE)
    else:
        forward = model
    if options.compile_mode is not None:
        forward = torch.compile(forward, mode=options.compile_mode)

    def infer():
        with torch.inference_mode(), autocast():
            return forward(x, t, y)

    step = Step(infer, images_per_call=batch, rows_per_call=rows, state_bytes=state)
    step._keep.extend([model, x, t, y])
    if options.cuda_graphs:
        step.run = _capture_graph(infer, device, step._keep)
    return step


def _capture_graph(fn: Callable[[], Any], device: Any, keep: list[Any]) -> Callable[[], None]:
    """Warm `fn` up on a side stream, capture it once, and return the replay."""
    import torch

    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    keep.extend([graph, out])
    return graph.replay


def make_adamw(params: Any, foreach: bool | None = None) -> Any:
    """AdamW as DiT's and FCDM's train.py build it (lr 1e-4, no weight decay); `foreach`:
    torch's default (None: the multi-tensor kernels on CUDA, a per-tensor loop on a CPU)."""
    import torch

    return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, foreach=foreach)


def prime_optimizer(optimizer: Any, params: list[Any]) -> None:
    """Create the optimizer's state with one update on zero gradients, so that the next step is
    a steady-state step (as every step after a run's first)."""
    import torch

    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def epsilon_loss(out: Any, noise: Any) -> Any:
    """The epsilon-prediction MSE of a training step (the first ``C`` output channels; DiT's
    learned-sigma channels are left out, as is its variational-bound term)."""
    import torch.nn.functional as F

    return F.mse_loss(out[:, : noise.shape[1]].float(), noise)


def update_ema(ema_params: list[Any], params: list[Any], decay: float = EMA_DECAY) -> None:
    """DiT's and FCDM's ``update_ema``: per parameter ``ema.mul_(decay).add_(p, 1 - decay)``."""
    import torch

    with torch.no_grad():
        for ema, p in zip(ema_params, params, strict=True):
            ema.mul_(decay).add_(p, alpha=1 - decay)


def checkpoint_blocks(model: Any, recompute: Callable[[], Any]) -> str:
    """Wrap every block in non-reentrant checkpointing: those ``model.blocks()`` returns where
    the model has that method (FCDM), else every element of its top-level ``nn.ModuleList``s.
    Returns a description (raises ConfigError when there is nothing to wrap).

    The recomputation in backward runs outside the step's function modes (TorchFunctionMode is
    not active inside autograd's backward), so `recompute()` gives a context entered around it
    (``context_fn``)."""

    from torch import nn
    from torch.utils.checkpoint import checkpoint

    def contexts():
        return contextlib.nullcontext(), recompute()

    def wrapped(forward, *args, **kwargs):
        return checkpoint(forward, *args, use_reentrant=False, context_fn=contexts, **kwargs)

    blocks_method = getattr(model, "blocks", None)
    if callable(blocks_method) and not isinstance(blocks_method, nn.Module):  # FCDM.blocks()
        lists = [("blocks()", blocks_method())]
    else:
        lists = [(n, m) for n, m in model.named_children() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ConfigError(
            f"{type(model).__name__} has no block list to checkpoint",
            hint="drop --grad-checkpointing for this model",
        )
    for _, blocks in lists:
        for block in blocks:
            block.forward = functools.partial(wrapped, block.forward)
    return "applied by fcdmbench per block of " + ", ".join(n for n, _ in lists)


def build_for_training(
    spec: Any,
    resolution: int,
    grad_checkpointing: bool,
    recompute: Callable[[], Any] | None = None,
    upstream: bool = True,
    device: str = "meta",
) -> tuple[Any, str]:
    """`spec` built as `fcdmbench flops` builds it, in train mode, and a description of its
    gradient checkpointing: with `upstream`, FCDM's own per-block checkpointing (the code path
    upstream runs); for other models, or without `upstream`, each block is wrapped here
    (`checkpoint_blocks`, with `recompute` as the recomputation's context; default none). The
    two are the same per-block non-reentrant checkpointing; only the wrapper takes a context."""

    from fcdmbench.flops.counter import build_for_counting

    has_own = upstream and hasattr(spec.config, "checkpointing")
    overrides = {}
    description = "off"
    if hasattr(spec.config, "checkpointing"):
        # FCDM: "train" = its per-block checkpointing when training (upstream always wraps)
        overrides["checkpointing"] = "train" if grad_checkpointing and has_own else "off"
        if grad_checkpointing:
            description = "upstream per-block (torch.utils.checkpoint, non-reentrant)"
    model = build_for_counting(spec, resolution, device, overrides)
    if grad_checkpointing and not has_own:
        description = checkpoint_blocks(model, recompute or contextlib.nullcontext)
    model.train()
    return model, description


def _train_step(model, x, t, y, batch, rows, state, options, autocast, device) -> Step:
    import torch

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_adamw(params)
    scaler = torch.amp.GradScaler(device.type) if options.precision is Precision.FP16 else None
    noise = torch.randn_like(x, memory_format=torch.contiguous_format)
    forward = model
    if options.compile_mode is not None:
        forward = torch.compile(model, mode=options.compile_mode)

    def train():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = epsilon_loss(forward(x, t, y), noise)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        return loss.detach()

    # AdamW keeps two fp32 moments per parameter, plus the gradients.
    step = Step(train, images_per_call=batch, rows_per_call=rows, state_bytes=state * 4)
    step._keep.extend([model, optimizer, x, t, y, noise])
    return step


def count_gflops_per_image(
    name: str, overrides: dict[str, Any], options: StepOptions
) -> tuple[float | None, str]:
    """GFLOPs (2 per MAC) per image for one call, from `count_flops` (the same paper-convention
    count `fcdmbench flops` prints: FlopCounterMode on a meta-device model, batch 1).

    CFG counts the `CFG_FACTOR` rows an image needs; train counts forward + backward as
    `TRAIN_FACTOR` x forward (the optimizer step is elementwise and not counted). Returns (None,
    reason) if counting fails.
    """
    from fcdmbench.flops.counter import count_flops
    from fcdmbench.records.flops import CFG_FACTOR, TRAIN_FACTOR

    overrides = {k: v for k, v in overrides.items() if k != "checkpointing"}
    try:
        report = count_flops(name, resolution=options.resolution, overrides=overrides)
        rows = CFG_FACTOR if options.cfg else 1
        gflops = report.gflops * rows
        if options.mode is Mode.TRAIN:
            # Not counted through autograd: torch 2.13's FlopCounterMode ignores `groups` in the
            # convolution backward formula and counts a depthwise conv's backward as dense (66x
            # the forward for 64 channels instead of 2x). Backward = 2 x forward for conv/linear.
            how = f"{TRAIN_FACTOR} x forward (count_flops on meta); optimizer step not counted"
            return TRAIN_FACTOR * gflops, how
        return gflops, f"count_flops on meta (paper convention), {rows} row(s) per image"
    except Exception as exc:  # noqa: BLE001 - a counting failure must not stop the timing
        return None, f"FLOP count failed: {type(exc).__name__}: {exc}"
