"""FLOP counting: one counter, one convention, every number labelled.

Convention (MEASUREMENT.md section 1.1): ``gmacs`` are multiply-accumulates per image for one
forward pass at the stated batch, no CFG doubling -- the "GFLOPs" column of DiT and of the FCDM
paper's Table 2. ``gflops`` is 2 x ``gmacs``. The canonical counter is
`torch.utils.flop_counter.FlopCounterMode` run on a model built on the meta device (no memory, no
compute, attention included) with fcdmbench's operator table (`fcdmbench.profiling.op_table`):
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

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.profiling.op_table import ModuleCount, OpCount, OpTally, count_with_flop_counter
from fcdmbench.registry import VAE_FACTOR, ModelSpec, import_object, resolve, with_overrides

__all__ = [
    "CFG_FACTOR",
    "CONVENTION",
    "Counter",
    "FlopReport",
    "TRAIN_FACTOR",
    "build_for_counting",
    "count_flops",
]

#: Label printed beside every MAC figure.
CONVENTION = "GMACs (DiT/paper convention): multiply-adds per image, one forward, no CFG"
#: Classifier-free guidance runs the conditional and unconditional rows: 2 forwards per image.
CFG_FACTOR = 2
#: Training cost per image, forward + backward ~ 3 x forward (the FCDM paper's Figure 6 assumption).
TRAIN_FACTOR = 3


class Counter(StrEnum):
    """Which tool counts. Only ``flop_counter`` runs on the meta device."""

    FLOP_COUNTER = "flop_counter"
    FVCORE = "fvcore"
    TORCHPROFILE = "torchprofile"


@dataclass(frozen=True, slots=True)
class FlopReport:
    """MACs of one model at one resolution and batch, by one counter.

    ``macs`` is the total over every row the counter ran (``rows = batch``, or ``2 * batch`` with
    CFG); per-image figures divide by the rows. ``ratio_to_ref`` is filled by `run_flops`.
    """

    model: str
    display_name: str
    family: str
    resolution: int
    batch: int
    cfg: bool
    counter: str
    device: str
    params: int
    macs: float
    dense_macs: float
    ops: tuple[OpCount, ...] = ()
    modules: tuple[ModuleCount, ...] = ()
    published_gmacs: float | None = None
    ref_model: str | None = None
    ratio_to_ref: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def rows(self) -> int:
        return self.batch * (CFG_FACTOR if self.cfg else 1)

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        """GMACs per image, one forward (the paper column)."""
        return self.macs / self.rows / 1e9

    @property
    def gflops(self) -> float:
        return 2 * self.gmacs

    @property
    def dense_gmacs(self) -> float:
        """GMACs per image in matmuls, convolutions and attention only."""
        return self.dense_macs / self.rows / 1e9

    @property
    def cfg_gmacs_per_image(self) -> float:
        """GMACs per generated image per sampling step with CFG (2 rows per image)."""
        return CFG_FACTOR * self.gmacs

    @property
    def train_gmacs_per_image(self) -> float:
        """Approximate training GMACs per image: forward + backward ~ 3 x forward."""
        return TRAIN_FACTOR * self.gmacs

    @property
    def delta_pct(self) -> float | None:
        """Counted minus published, in percent of published."""
        if not self.published_gmacs:
            return None
        return 100.0 * (self.gmacs - self.published_gmacs) / self.published_gmacs

    @property
    def zero_ops(self) -> tuple[OpCount, ...]:
        """Operators that ran but count zero MACs (compute ops first, then views)."""
        return tuple(o for o in self.ops if o.kind in ("zero", "view", "skipped"))

    def to_record(self) -> dict[str, Any]:
        """Plain JSON-ready dict (every derived figure included)."""
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        body["ops"] = [dataclasses.asdict(o) for o in self.ops]
        body["modules"] = [dataclasses.asdict(m) for m in self.modules]
        body.update(
            rows=self.rows,
            params_m=self.params_m,
            gmacs=self.gmacs,
            gflops=self.gflops,
            dense_gmacs=self.dense_gmacs,
            cfg_gmacs_per_image=self.cfg_gmacs_per_image,
            train_gmacs_per_image=self.train_gmacs_per_image,
            delta_pct=self.delta_pct,
            convention=CONVENTION,
            train_factor=TRAIN_FACTOR,
            cfg_factor=CFG_FACTOR,
        )
        return body


def _config_for(spec: ModelSpec, resolution: int) -> Any:
    if resolution <= 0 or resolution % VAE_FACTOR:
        raise ConfigError(
            f"resolution must be a positive multiple of {VAE_FACTOR} (the VAE factor), "
            f"got {resolution}",
            hint="use --resolution 256 or 512",
        )
    if resolution in spec.resolutions:
        return spec.config_for(resolution)
    try:
        return with_overrides(spec.config, {"input_size": resolution // VAE_FACTOR})
    except ConfigError as exc:
        raise ConfigError(
            f"{spec.name} cannot take resolution {resolution}: {exc.message}",
            hint=exc.hint or f"registered resolutions: {list(spec.resolutions)}",
        ) from exc


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


def build_for_counting(spec: ModelSpec, resolution: int, device: str = "meta") -> Any:
    """Build `spec` at `resolution` on `device` (meta: allocates nothing), in eval mode."""
    import contextlib

    import torch

    config = _config_for(spec, resolution)
    builder = import_object(spec.builder)
    is_meta = device == "meta"
    with torch.device(device), _skip_meta_init() if is_meta else contextlib.nullcontext():
        if not is_meta:
            torch.manual_seed(0)
        return builder(config).eval()


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


def _tally(counter: Counter, model: Any, inputs: tuple) -> OpTally:
    if counter is Counter.FLOP_COUNTER:
        return count_with_flop_counter(model, inputs)
    from fcdmbench.profiling import jit_counters

    if counter is Counter.FVCORE:
        return jit_counters.count_with_fvcore(model, inputs)
    return jit_counters.count_with_torchprofile(model, inputs)


def count_flops(
    target: str | ModelSpec | Any,
    resolution: int = 256,
    batch: int = 1,
    cfg: bool = False,
    counter: Counter | str = Counter.FLOP_COUNTER,
    device: str | None = None,
    input_shape: tuple[int, int, int] | None = None,
) -> FlopReport:
    """Count the MACs of one forward pass.

    Args:
        target: a registry name (any spelling, e.g. ``"DiT-XL/2"``), a `ModelSpec`, or an
            ``nn.Module`` called as ``model(x, t, y)``.
        resolution: image side in pixels (latent side = resolution / 8).
        batch: images per forward (at least 1).
        cfg: run ``2 * batch`` rows, as classifier-free guidance sampling does.
        counter: ``flop_counter`` (canonical), ``fvcore`` or ``torchprofile``.
        device: where a registry model is built; defaults to ``meta`` for ``flop_counter`` and
            ``cpu`` for the tracing counters (which need real tensors). Ignored for a module.
        input_shape: latent (C, H, W) for a module without a fcdmbench config.

    Returns:
        A `FlopReport`; ``report.gmacs`` is the paper column.

    Raises:
        ConfigError: bad batch or a resolution the model cannot take.
        UnknownModelError: an unregistered name (with suggestions).
        MissingExtraError: fvcore or torchprofile not installed.
    """
    from fcdmbench.profiling.inputs import make_inputs

    counter = Counter(counter)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
    rows = batch * (CFG_FACTOR if cfg else 1)
    spec: ModelSpec | None = None
    if isinstance(target, str):
        spec, tag = resolve(target)
        resolution = tag or resolution
    elif isinstance(target, ModelSpec):
        spec = target
    if spec is not None:
        if device is None:
            device = "meta" if counter is Counter.FLOP_COUNTER else "cpu"
        if device == "meta" and counter is not Counter.FLOP_COUNTER:
            raise ConfigError(f"counter {counter.value} traces real tensors; use device 'cpu'")
        model = build_for_counting(spec, resolution, device)
        shape = (
            spec.input_shape(resolution)
            if resolution in spec.resolutions
            else (spec.latent_channels, resolution // VAE_FACTOR, resolution // VAE_FACTOR)
        )
        num_classes = getattr(spec.config, "num_classes", 1000)
    else:
        model = target
        shape = _latent_shape(target, input_shape, resolution)
        first = next(iter(model.parameters()), None)
        device = str(first.device) if first is not None else "cpu"
        num_classes = getattr(getattr(model, "config", None), "num_classes", 1000)
    inputs = make_inputs(shape, batch=rows, device=device, num_classes=num_classes)
    try:
        tally = _tally(counter, model, inputs)
    except RuntimeError as exc:
        if spec is None or resolution in spec.resolutions:
            raise
        raise ConfigError(
            f"{spec.name} cannot take resolution {resolution}: {exc}",
            hint=f"registered resolutions: {list(spec.resolutions)}",
        ) from exc
    params = sum(p.numel() for p in model.parameters())
    return FlopReport(
        model=spec.name if spec else type(model).__name__,
        display_name=spec.display_name if spec else type(model).__name__,
        family=spec.family if spec else "",
        resolution=resolution,
        batch=batch,
        cfg=cfg,
        counter=counter.value,
        device=device,
        params=params,
        macs=tally.macs,
        dense_macs=tally.dense_macs,
        ops=tally.ops,
        modules=tally.modules,
        published_gmacs=spec.published_value("gmacs", resolution) if spec else None,
    )
