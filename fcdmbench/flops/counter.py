"""FLOP counting: one counter, one convention, every number labelled.

Convention (docs/flops.md, "Convention"): ``gmacs`` are multiply-accumulates per image for one
forward pass at the stated batch, no CFG doubling -- the "GFLOPs" column of DiT and of the FCDM
paper's Table 2. ``gflops`` is 2 x ``gmacs``. The canonical counter is
`torch.utils.flop_counter.FlopCounterMode` run on a model built on the meta device (no memory, no
compute, attention included) with fcdmbench's operator table (`fcdmbench.flops.op_table`):
matmul/conv/attention MACs plus the per-element products torchprofile counts, so the totals match
the torchprofile numbers the papers printed. ``dense_gmacs`` keeps matmul/conv/attention only.

fvcore and torchprofile can be run on the same model (`Counter`); they trace real CPU tensors.

DiG (gated linear attention): upstream runs GLA in Triton kernels that no counter sees, so its
golden value is upstream's count of everything else plus the kernel's MACs in closed form
(`DiGConfig.gla_core_macs`: per head and 16-token chunk, the intra-chunk scores and their product
with the values, the query-state product and the state update). fcdmbench's GLA does the same
products with the same chunk, so it is counted like any matmul; the published DiG GMACs omit the
GLA and the SwiGLU down projection (tests/fixtures/PROVENANCE.md).

Example:
    >>> report = count_flops("fcdm-xl", resolution=256)
    >>> round(report.gmacs, 1)
    64.6
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fcdmbench.catalog.spec import VAE_FACTOR, ModelSpec
from fcdmbench.errors import ConfigError
from fcdmbench.flops.inputs import make_inputs
from fcdmbench.flops.op_table import OpTally, count_with_flop_counter
from fcdmbench.records.flops import CFG_FACTOR, FlopsResult
from fcdmbench.registry import create_model, resolve

__all__ = ["Counter", "build_for_counting", "count_flops"]


class Counter(StrEnum):
    """Which tool counts (``--counter``). Only ``flop_counter`` runs on the meta device; ``all``
    is `fcdmbench.flops.run.run_flops`'s: the canonical count, cross-checked by the other two."""

    FLOP_COUNTER = "flop_counter"
    FVCORE = "fvcore"
    TORCHPROFILE = "torchprofile"
    ALL = "all"


def _resolution_overrides(spec: ModelSpec, resolution: int) -> tuple[int, dict[str, Any]]:
    """(registered resolution to build at, overrides) for any multiple of the VAE factor.

    An unregistered resolution (e.g. 384) is built at the first registered one with its latent
    side (``input_size``) replaced, so every model can be counted at any size it can take.
    """
    if resolution <= 0 or resolution % VAE_FACTOR:
        raise ConfigError(
            f"resolution must be a positive multiple of {VAE_FACTOR} (the VAE factor), "
            f"got {resolution}",
            hint="use --resolution 256 or 512",
        )
    if resolution in spec.resolutions:
        return resolution, {}
    return spec.resolutions[0], {"input_size": resolution // VAE_FACTOR}


#: In-place initialisers that are no-ops on data-less meta tensors.
_INIT_METHODS = frozenset(
    {
        "normal_",
        "uniform_",
        "zero_",
        "fill_",
        "constant_",
        "trunc_normal_",
        "copy_",
        "exponential_",
        "bernoulli_",
        "random_",
        "xavier_uniform_",
        "xavier_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "orthogonal_",
    }
)


def _skip_meta_init():
    """A TorchFunctionMode that skips weight initialisers on meta tensors.

    Meta tensors hold no values, so initialising them changes nothing, but torch routes meta
    ``normal_`` through its Python reference implementations, whose first import costs seconds.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    class _SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if getattr(func, "__name__", "") in _INIT_METHODS:
                # torch.nn.init passes the tensor by keyword, Tensor methods positionally
                tensor = args[0] if args else kwargs.get("tensor")
                if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                    return tensor
            return func(*args, **kwargs)

    return _SkipMetaInit()


def build_for_counting(
    spec: ModelSpec, resolution: int, device: str = "meta", overrides: dict[str, Any] | None = None
) -> Any:
    """Build `spec` at `resolution` with config `overrides` on `device`, in eval mode.

    The one construction path of every FLOP count (`fcdmbench flops`, the report's meta counts,
    throughput's GMACs column): `create_model` on `device`; on ``meta`` nothing is allocated and
    weight initialisers are skipped.

    Raises:
        ConfigError: a bad resolution or an unknown override key.
    """

    import torch

    at, size = _resolution_overrides(spec, resolution)
    is_meta = device == "meta"
    if not is_meta:
        torch.manual_seed(0)
    try:
        with _skip_meta_init() if is_meta else contextlib.nullcontext():
            return create_model(
                spec.name, resolution=at, device=device, **size, **(overrides or {})
            )
    except ConfigError as exc:
        if not size:
            raise
        raise ConfigError(
            f"{spec.name} cannot take resolution {resolution}: {exc.message}",
            hint=exc.hint or f"registered resolutions: {list(spec.resolutions)}",
        ) from exc


def _latent_shape(target: Any, input_shape: tuple[int, int, int] | None, resolution: int):
    if input_shape is not None:
        return tuple(input_shape)
    config = getattr(target, "config", None)
    if config is not None and hasattr(config, "input_size"):
        side = resolution // VAE_FACTOR
        return (getattr(config, "in_channels", 4), side, side)
    raise ConfigError(
        f"cannot infer the input shape of a {type(target).__name__}",
        hint="pass input_shape=(C, H, W) for a module without a fcdmbench config",
    )


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a model is built and counted (what was on is
    on again afterwards). A count allocates tens of thousands of short-lived objects, which
    trigger collections that walk every object alive, torch's and sympy's included (a full one:
    0.1-0.2 s, a third of counting both XL models); reference counting frees the count's objects
    as before, and cycles wait for the next collection. Used for meta counts only, which hold
    no tensor memory. torch is imported before the pause, with the collector on as in
    ``python -c 'import torch'``: the pause covers what the count adds, not torch's own import
    (which it would make 0.1-0.2 s faster than the baseline the start-up target compares with)."""
    import gc

    import torch  # noqa: F401 - imported, if not yet, with the collector on (docstring)

    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _tally(counter: Counter, model: Any, inputs: tuple) -> OpTally:
    if counter is Counter.FLOP_COUNTER:
        return count_with_flop_counter(model, inputs)
    from fcdmbench.flops import jit_counters  # fvcore, torchprofile: loaded when asked for

    if counter is Counter.FVCORE:
        return jit_counters.count_with_fvcore(model, inputs)
    return jit_counters.count_with_torchprofile(model, inputs)


@dataclass(frozen=True, slots=True)
class _Target:
    """What is counted: the model built (or given), its latent shape, device and classes."""

    spec: ModelSpec | None
    model: Any
    resolution: int
    shape: tuple[int, ...]
    device: str
    num_classes: int

    @property
    def name(self) -> str:
        return self.spec.name if self.spec else type(self.model).__name__


def _registry_target(
    spec: ModelSpec, resolution: int, counter: Counter, device: str | None, overrides: Any
) -> _Target:
    """`spec` built for `counter` (meta for the canonical counter, CPU for the tracing ones)."""
    if device is None:
        device = "meta" if counter is Counter.FLOP_COUNTER else "cpu"
    if device == "meta" and counter is not Counter.FLOP_COUNTER:
        raise ConfigError(f"counter {counter.value} traces real tensors; use device 'cpu'")
    model = build_for_counting(spec, resolution, device, overrides)
    side = resolution // VAE_FACTOR  # `spec.input_shape` without its check of the resolution
    shape = (spec.latent_channels, side, side)
    classes = getattr(spec.config, "num_classes", 1000)
    return _Target(spec, model, resolution, shape, device, classes)


def _module_target(model: Any, resolution: int, input_shape: Any, overrides: Any) -> _Target:
    """A built module, counted where its parameters are."""
    if overrides:
        raise ConfigError("overrides apply to registry models, not to a built module")
    shape = _latent_shape(model, input_shape, resolution)
    first = next(iter(model.parameters()), None)
    device = str(first.device) if first is not None else "cpu"
    classes = getattr(getattr(model, "config", None), "num_classes", 1000)
    return _Target(None, model, resolution, shape, device, classes)


def count_flops(
    target: str | ModelSpec | Any,
    resolution: int = 256,
    batch: int = 1,
    cfg: bool = False,
    counter: Counter | str = Counter.FLOP_COUNTER,
    device: str | None = None,
    input_shape: tuple[int, int, int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> FlopsResult:
    """Count the MACs of one forward pass.

    Args:
        target: a registry name (any spelling, e.g. ``"DiT-XL/2"``), a `ModelSpec`, or an
            ``nn.Module`` called as ``model(x, t, y)``.
        resolution: image side in pixels (latent side = resolution / 8).
        batch: images per forward (at least 1; checked here, once, for every caller).
        cfg: run ``2 * batch`` rows, as classifier-free guidance sampling does.
        counter: ``flop_counter`` (canonical), ``fvcore`` or ``torchprofile``.
        device: where a registry model is built; defaults to ``meta`` for ``flop_counter`` and
            ``cpu`` for the tracing counters (which need real tensors). Ignored for a module.
        input_shape: latent (C, H, W) for a module without a fcdmbench config.
        overrides: config fields to replace for a registry model (ablations, e.g.
            ``{"kernel_size": 5}``); the count is then of that configuration.

    Returns:
        A `FlopsResult`; ``result.gmacs`` is the paper column.

    Raises:
        ConfigError: bad batch or counter, or a resolution the model cannot take.
        UnknownModelError: an unregistered name (with suggestions).
        MissingExtraError: fvcore or torchprofile not installed.
    """
    counter = Counter(counter)
    if counter is Counter.ALL:
        raise ConfigError("count_flops runs one counter; 'all' is run_flops's side-by-side run")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
    spec = target if isinstance(target, ModelSpec) else None
    if isinstance(target, str):
        spec, tag = resolve(target)
        resolution = tag or resolution
    meta = counter is Counter.FLOP_COUNTER  # the tracing counters hold real tensors
    with _collection_paused() if meta else contextlib.nullcontext():
        if spec is not None:
            it = _registry_target(spec, resolution, counter, device, overrides)
        else:
            it = _module_target(target, resolution, input_shape, overrides)
        rows = batch * (CFG_FACTOR if cfg else 1)
        inputs = make_inputs(it.shape, batch=rows, device=it.device, num_classes=it.num_classes)
        try:
            tally = _tally(counter, it.model, inputs)
        except RuntimeError as exc:
            if spec is None or resolution in spec.resolutions:
                raise
            raise ConfigError(
                f"{spec.name} cannot take resolution {resolution}: {exc}",
                hint=f"registered resolutions: {list(spec.resolutions)}",
            ) from exc
    return _result(it, tally, batch, cfg, counter, overrides or {})


def _result(
    it: _Target, tally: OpTally, batch: int, cfg: bool, counter: Counter, overrides: dict
) -> FlopsResult:
    spec = it.spec
    return FlopsResult(
        model=it.name,
        display_name=spec.display_name if spec else it.name,
        family=spec.family if spec else "",
        resolution=it.resolution,
        batch=batch,
        cfg=cfg,
        counter=counter.value,
        device=it.device,
        params=sum(p.numel() for p in it.model.parameters()),
        macs=tally.macs,
        dense_macs=tally.dense_macs,
        ops=tally.ops,
        modules=tally.modules,
        published_gmacs=(
            spec.published_value("gmacs", it.resolution) if spec and not overrides else None
        ),
        overrides=dict(sorted(overrides.items())),
    )
