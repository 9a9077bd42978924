"""``fcdmbench.throughput/2`` (one `fcdmbench throughput` run) and ``fcdmbench.baseline/2``.

Layout (docs/throughput.md, "Records"): ``run``, ``env``, ``config`` (precision mode and the flags
read back from torch, batch, resolution, ...), ``protocol``, ``canary`` (the fixed workload every
model is divided by: ``name``, raw block times), ``results`` (one row per model variant, raw
per-block times kept), ``notes``, and ``check`` (the gate's `Verdict`) once the regression gate
ran.

Unit: ``img_per_s`` = images per second through one network evaluation in infer mode (the
papers' "it/s"; CFG counts an image once although the network sees two rows), through one
optimiser step in train mode. ``ratio_to_canary`` is a model's median images/s over the canary's
calls/s; ``ratio_to_ref`` divides by the reference model (DiT-XL/2 by default) measured in the
same run. Memory is in GiB (2**30 bytes).
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from fcdmbench.env import EnvInfo
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.precision import Precision
from fcdmbench.records._base import Record, RunInfo, dump, parse, schema_parts
from fcdmbench.records.gate import Verdict

__all__ = [
    "BaselineRecord",
    "CanaryResult",
    "FcdmCheckpointing",
    "Mode",
    "Order",
    "ProtocolConfig",
    "Summary",
    "ThroughputPoint",
    "ThroughputRecord",
    "ThroughputConfig",
    "ThroughputResult",
]


class Mode(enum.StrEnum):
    """``infer``: one network evaluation per call; ``train``: forward + backward + AdamW step."""

    INFER = "infer"
    TRAIN = "train"


class Order(enum.StrEnum):
    """``interleaved``: A B C A B C (all models resident); ``sequential``: A A A B B B."""

    INTERLEAVED = "interleaved"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True, slots=True)
class Summary:
    """Median, quartiles (inclusive method) and IQR of per-block samples, samples kept raw.

    The one summary of a timing: the record stores it, the regression gate judges by it.
    """

    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    samples: tuple[float, ...] = ()

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        """The summary of `samples` (every statistic None when there is none)."""
        values = tuple(float(v) for v in samples)
        if not values:
            return cls(None, None, None, None)
        if len(values) == 1:
            q1 = median = q3 = values[0]
        else:
            q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(median, q1, q3, q3 - q1, values)

    @property
    def relative_dispersion(self) -> float:
        """IQR / median (0 for one sample, inf when there is no positive median)."""
        if self.median is None or self.iqr is None or self.median <= 0:
            return float("inf")
        return self.iqr / self.median


class FcdmCheckpointing(enum.Enum):
    """FCDM per-block checkpointing: ``always`` as published (even in eval), ``off`` bypassed."""

    OFF = "off"
    ALWAYS = "always"
    BOTH = "both"

    @property
    def variants(self) -> tuple[str, ...]:
        """The checkpointing values timed: ``("off", "always")`` for ``both``."""
        return ("off", "always") if self is FcdmCheckpointing.BOTH else (self.value,)


@dataclass(frozen=True, slots=True)
class ThroughputConfig:
    """One throughput run: what `measure_throughput` takes and the record's ``config`` section.

    The run fills the fields marked "run" (the device type, the precision flags read back from
    torch, the SDPA backends, the unit) and stores the reference model it resolved.

    Args:
        models: registry names (any spelling), measured in this order.
        mode: ``infer`` or ``train`` (a string is taken too).
        device: ``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: the precision mode (a string is taken too).
        batch: images per call (CFG runs 2 x batch network rows).
        cudnn_benchmark: asked for; in a record, as read back from torch.
        compile: a torch.compile mode, or None.
        cuda_graphs: also time every model replayed from a CUDA graph (both are reported).
        fcdm_checkpointing: the FCDM variants timed; given as a `FcdmCheckpointing` or None
            (``both`` for infer, ``off`` for train, ``always`` with grad_checkpointing), stored
            as the values, e.g. ``("off", "always")``.
        grad_checkpointing: train mode: checkpoint every model that supports it.
        ref: model for "vs reference" ratios; None = `DEFAULT_REF` if registered and measured,
            ``"none"`` = off; in a record, the model the ratios used (None: none).
    """

    models: tuple[str, ...]
    mode: Mode = Mode.INFER
    device: str = "auto"
    device_type: str | None = None  # run: cpu or cuda
    precision: Precision = Precision.PAPER_DEFAULT
    batch: int = 64
    resolution: int = 256
    cfg: bool = False
    tf32_matmul: bool | None = None  # run: the flags read back from torch, to tf32_effective
    tf32_cudnn: bool | None = None
    matmul_fp32_precision: str | None = None
    conv_fp32_precision: str | None = None
    float32_matmul_precision: str | None = None
    autocast_dtype: str | None = None
    cudnn_benchmark: bool | None = True
    tf32_effective: bool | None = None
    sdpa: dict[str, Any] = dataclasses.field(default_factory=dict)  # run
    channels_last: bool = False
    compile: str | None = None
    cuda_graphs: bool = False
    fcdm_checkpointing: tuple[str, ...] | None = None
    grad_checkpointing: bool = False
    ref: str | None = None
    unit: str = ""  # run

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "mode", Mode(self.mode))
        object.__setattr__(self, "precision", Precision(self.precision))
        if not self.models:
            raise ConfigError(
                "no model given", hint="pass --models, e.g. --models fcdm-xl dit-xl-2"
            )
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")
        if self.grad_checkpointing and self.mode is not Mode.TRAIN:
            raise ConfigError("--grad-checkpointing applies to --mode train only")
        choice = self.fcdm_checkpointing
        if self.grad_checkpointing and choice in (FcdmCheckpointing.OFF, ("off",)):
            raise ConfigError("--grad-checkpointing contradicts --fcdm-checkpointing off")
        if choice is None:
            choice = FcdmCheckpointing.OFF if self.mode is Mode.TRAIN else FcdmCheckpointing.BOTH
            choice = FcdmCheckpointing.ALWAYS if self.grad_checkpointing else choice
        if isinstance(choice, FcdmCheckpointing):
            object.__setattr__(self, "fcdm_checkpointing", choice.variants)

    def measured_models(self) -> tuple[str, ...]:
        """`models` plus an explicitly given reference model (not the default one)."""
        if self.ref is None or self.ref.lower() == "none" or self.ref in self.models:
            return self.models
        return (*self.models, self.ref)


@dataclass(frozen=True, slots=True)
class ProtocolConfig:
    """Warm-up and block schedule (defaults: docs/throughput.md, "Protocol"): what a run is
    given and, with ``order`` resolved and ``timer`` set by the run, its record's ``protocol``.

    Args:
        order: None: interleaved for infer, sequential for train (`for_mode`).
        timer: what timed the blocks, ``cuda_event`` or ``perf_counter`` (set by the run).
    """

    warmup_calls: int = 10
    warmup_s: float = 2.0
    blocks: int = 7
    min_block_s: float = 1.0
    pause_s: float = 1.0
    order: Order | None = None
    timer: str | None = None
    block_warmup_calls: int = 1

    def __post_init__(self) -> None:
        if self.warmup_calls < 1 or self.blocks < 1 or self.block_warmup_calls < 0:
            raise ConfigError("warmup_calls and blocks must be >= 1, block_warmup_calls >= 0")
        if min(self.warmup_s, self.min_block_s, self.pause_s) < 0:
            raise ConfigError("warmup_s, min_block_s and pause_s must be >= 0")

    def for_mode(self, mode: Mode) -> Order:
        """The order a run in `mode` uses: `order`, else interleaved (infer) or sequential."""
        if self.order is not None:
            return self.order
        return Order.INTERLEAVED if mode is Mode.INFER else Order.SEQUENTIAL


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """The canary's raw timings (`name`: e.g. ``canary-v1-cuda``; `spec`: its sizes)."""

    name: str
    key: str
    spec: dict[str, Any]
    status: str
    calls_per_block: int
    block_s: tuple[float, ...]
    calls_per_s: Summary
    error: str | None = None
    gflops_per_call: float | None = None
    tflops_achieved: float | None = None

    def rates(self) -> list[float]:
        """Calls per second of every timed block."""
        return [self.calls_per_block / s for s in self.block_s if s > 0]


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    """One model variant's row: raw blocks and what follows from them."""

    key: str  # "fcdm-xl", "fcdm-xl[ckpt-always]", "dit-xl-2[cuda-graphs]"
    model: str
    status: str  # ok, oom (not even batch 1 fit) or failed
    batch: int  # the batch that ran (halved after an OOM)
    calls_per_block: int
    images_per_call: int
    block_s: tuple[float, ...]
    img_per_s: Summary
    variant: tuple[str, ...] = ()
    error: str | None = None
    checkpointing: str | None = None
    cuda_graphs: bool = False
    batch_requested: int | None = None
    batch_halved: bool = False
    oom_retries: tuple[int, ...] = ()
    rows_per_call: int | None = None
    ms_per_forward: float | None = None
    forward_calls_per_s: float | None = None
    first_call_s: float | None = None
    compile_s: float | None = None
    warmup_calls: int | None = None
    warmup_s: float | None = None
    peak_mem_gib: float | None = None
    gflops_per_img: float | None = None
    gmacs_per_img: float | None = None
    flops_basis: str = ""
    tflops_achieved: float | None = None
    mfu: float | None = None
    ratio_to_canary: float | None = None
    ratio_to_canary_paired: Summary | None = None
    ratio_to_ref: float | None = None
    paper_ratio_to_ref: float | None = None

    def rates(self) -> list[float]:
        """Images per second of every timed block."""
        return [self.calls_per_block * self.images_per_call / s for s in self.block_s if s > 0]


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    """One model's median images/s with everything needed to label or compare it.

    What the report and other readers take from a `ThroughputRecord` (`ThroughputRecord.points`).
    """

    model: str
    key: str
    variant: tuple[str, ...]
    img_per_s: float
    iqr: float | None
    batch: int
    batch_requested: int | None
    resolution: int
    precision: str
    mode: str
    cfg: bool
    device_type: str
    device_name: str
    device_slug: str
    torch: str
    ms_per_forward: float | None = None
    peak_mem_gib: float | None = None
    gmacs_per_img: float | None = None
    tflops_achieved: float | None = None
    mfu: float | None = None
    source: str = ""

    @property
    def is_gpu(self) -> bool:
        return self.device_type == "cuda"

    @property
    def on(self) -> str:
        """``"h100-80gb-hbm3 bf16 bs64"``: device, precision and batch of the number."""
        extra = " cfg" if self.cfg else ""
        return f"{self.device_slug} {self.precision} bs{self.batch}{extra}"


@dataclass(frozen=True, slots=True)
class ThroughputRecord(Record):
    """One throughput run (see the module docstring for the layout)."""

    SCHEMA: ClassVar[str] = "fcdmbench.throughput/2"

    run: RunInfo
    env: EnvInfo
    config: ThroughputConfig
    protocol: ProtocolConfig
    canary: CanaryResult
    results: tuple[ThroughputResult, ...]
    peak_tflops: float | None = None
    peak_source: str | None = None
    notes: tuple[str, ...] = ()
    check: Verdict | None = None  # the regression gate's verdict, when it ran

    def result(self, key: str) -> ThroughputResult | None:
        """The row with `key` (``"fcdm-xl"``, ``"fcdm-xl[ckpt-always]"``), or None."""
        return next((r for r in self.results if r.key == key), None)

    def with_check(self, check: Verdict | None) -> Self:
        return dataclasses.replace(self, check=check)

    def points(self, source: str = "", variants: bool = False) -> tuple[ThroughputPoint, ...]:
        """Median images/s of every model that ran, labelled with device, precision and batch.

        Args:
            source: where the record came from (kept on each point).
            variants: include rows such as ``fcdm-xl[ckpt-always]`` (default: plain models only).
        """
        out = []
        for row in self.results:
            if row.status != "ok" or row.img_per_s.median is None:
                continue
            if row.variant and not variants:
                continue
            out.append(
                ThroughputPoint(
                    model=row.model,
                    key=row.key,
                    variant=row.variant,
                    img_per_s=row.img_per_s.median,
                    iqr=row.img_per_s.iqr,
                    batch=row.batch,
                    batch_requested=row.batch_requested,
                    resolution=self.config.resolution,
                    precision=self.config.precision.value,
                    mode=self.config.mode.value,
                    cfg=self.config.cfg,
                    device_type=self.env.device_type,
                    device_name=self.env.device_name,
                    device_slug=self.env.device_slug,
                    torch=self.env.torch,
                    ms_per_forward=row.ms_per_forward,
                    peak_mem_gib=row.peak_mem_gib,
                    gmacs_per_img=row.gmacs_per_img,
                    tflops_achieved=row.tflops_achieved,
                    mfu=row.mfu,
                    source=source,
                )
            )
        return tuple(out)

    def median_img_per_s(self, model: str) -> float | None:
        """Median images/s of the plain (no-variant) row of registry name `model`, or None."""
        point = next((p for p in self.points() if p.model == model), None)
        return None if point is None else point.img_per_s


@dataclass(frozen=True, slots=True)
class BaselineRecord(Record):
    """A throughput record stored as the baseline of its device and configuration.

    JSON: ``{"schema": "fcdmbench.baseline/2", "baseline": {source, updated, ...},
    "record": <the throughput record>}``. Only `fcdmbench baseline update` (or
    ``throughput --update-baseline``) writes one.
    """

    SCHEMA: ClassVar[str] = "fcdmbench.baseline/2"

    record: ThroughputRecord
    source: str
    updated: str
    canary_dispersion: float | None = None
    forced: bool = False
    forced_reason: str | None = None  # why it would have been refused, when forced

    def to_json(self) -> dict[str, Any]:
        info = {k: v for k, v in dump(self).items() if k != "record"}
        return {"schema": self.SCHEMA, "baseline": info, "record": self.record.to_json()}

    @classmethod
    def from_json(cls, obj: Any, source: Any = None) -> Self:
        where = str(source) if source is not None else "record"
        parts = schema_parts(obj.get("schema")) if isinstance(obj, dict) else None
        if parts != ("baseline", cls.version()):
            return super().from_json(obj, source)  # the standard schema errors
        info, body = obj.get("baseline"), obj.get("record")
        if not isinstance(info, dict) or not isinstance(body, dict):
            raise InputError(
                f"{where}: a baseline needs 'baseline' and 'record' objects",
                hint="re-create it with `fcdmbench baseline update RECORD`",
            )
        record = ThroughputRecord.from_json(body, source=f"{where} (record)")
        fields = parse(_BaselineInfo, info, source, "baseline")
        return cls(record=record, **{f.name: getattr(fields, f.name) for f in _INFO_FIELDS})


@dataclass(frozen=True, slots=True)
class _BaselineInfo:
    source: str
    updated: str
    canary_dispersion: float | None = None
    forced: bool = False
    forced_reason: str | None = None


_INFO_FIELDS = dataclasses.fields(_BaselineInfo)
