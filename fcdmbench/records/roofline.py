"""``fcdmbench.roofline/2``: what `fcdmbench roofline` (and `run_roofline`) predicted.

Layout: ``run``, ``env``, ``label`` (every figure is a model, never a measurement), ``config``
(`RooflineConfig`: what `run_roofline` was given, kernels resolved), ``device``
(`RooflineDevice`: the roofs used, dense TFLOP/s per unit and memory bandwidth with the source of
each, and for ``cpu`` the `CpuCalibration` measured on the machine), ``assumptions``,
``results`` (one `RooflineResult` per model), ``notes``.
``config.kernels`` and each result's ``kernels`` (`Kernels`) name the kernels that priced the
fused regions; records written before they were recorded have null there (SDPA priced as one
kernel under the matmul rules, DiG's GLA op by op).

A result's ``time_s`` sums, over every traced call, ``max(compute_s, memory_s)``;
``memory_bound_s`` is the part of it spent in memory-bound calls; ``flops`` counts the whole
forward (all ``batch`` images). ``ops`` lists every operator group (one operator in one module
pattern, block indices folded to ``*``, on one unit), costliest first; ``by_unit`` sums them per
unit. A group's time is the larger of its summed compute and summed memory times, so the groups'
times can add up to a little less than the model's ``time_s``. Seconds, FLOPs and bytes are SI
(GB/s = 1e9 bytes/s).

The CPU calibration has no file of its own: it is read from the roofline record of a
``--gpu cpu`` run (`RooflineRecord.device.calibration`).

``fcdmbench.roofline-train/2`` (`TrainRooflineRecord`, ``train-roofline``) holds the
training-step bound instead: per model the step's phases (forward, backward, recompute,
optimizer, EMA, DDP copies) on one GPU, the gradient all-reduce over the GPUs' link, the step
time with the all-reduce overlapped and without, and the step's operator groups; its
``assumptions`` add `TRAIN_ASSUMPTIONS` to `ASSUMPTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.errors import ConfigError
from fcdmbench.precision import Precision
from fcdmbench.records._base import Record, RunInfo
from fcdmbench.records.memory import split_batch
from fcdmbench.registry import require_models

__all__ = [
    "ASSUMPTIONS",
    "AllReduce",
    "CpuCalibration",
    "Kernels",
    "MeasuredThroughput",
    "OpTime",
    "ROOFLINE_LABEL",
    "RooflineDevice",
    "RooflineRecord",
    "RooflineResult",
    "RooflineConfig",
    "TRAIN_ASSUMPTIONS",
    "TrainPhase",
    "TrainResult",
    "TrainRooflineRecord",
    "TrainConfig",
]

#: The autocast dtype a precision mode traces with (None: fp32).
AUTOCAST = {Precision.BF16: "bfloat16", Precision.FP16: "float16"}


def store_paths_as_text(config: Any) -> None:
    """Store a config's ``records`` and ``calibration`` paths as the text the record holds."""
    object.__setattr__(config, "records", tuple(str(p) for p in config.records))
    if config.calibration is not None:
        object.__setattr__(config, "calibration", str(config.calibration))


#: Printed beside every roofline figure.
ROOFLINE_LABEL = "predicted upper bound (roofline model), not a measurement"

#: What every roofline prediction assumes (stored in each record).
ASSUMPTIONS = (
    "every kernel runs at its unit's dense peak or at full memory bandwidth, whichever binds",
    "no kernel-launch overhead, no overlap between kernels, no L2 reuse between kernels",
    "unfused: each operator reads its inputs from and writes its outputs to device memory; "
    "attention and DiG's linear attention priced as the kernels that run them (the record's "
    "kernels: SDPA backend per dtype, FlashAttention-2 with its casts, flash-linear-attention's "
    "Triton kernels, or SDPA's math path or hand-written attention op by op)",
    "bytes at the dtypes the precision mode runs (bf16/fp16: CUDA autocast replayed on the meta "
    "device, casts included)",
    "depthwise convolutions and elementwise work on FP32 SIMT units in every mode",
    "fp32 dense 3x3 stride-1 convolutions at the faster of the mode's unit and cuDNN's Winograd "
    "F(2x2, 3x3) (unit fp32-winograd: 2.25 x the FP32 SIMT peak)",
    "FLOPs = 2 x the MACs of `fcdmbench flops` (same counter, same per-operator counts)",
)


@dataclass(frozen=True, slots=True)
class CpuCalibration:
    """This CPU's roofs as `fcdmbench.perfmodel.cpu_calibration.calibrate_cpu` measured them.

    ``matmul_gflops`` (GFLOP/s) and ``copy_gbs`` (GB/s = 1e9 bytes/s) are the best of the timed
    blocks whose rates are kept in the ``*_samples``; the load average (1, 5, 15 min) before and
    after says whether another process shared the machine.
    """

    cpu_name: str
    device_slug: str
    threads: int
    matmul_n: int
    matmul_gflops: float
    matmul_gflops_samples: tuple[float, ...]
    copy_mib: int
    copy_gbs: float
    copy_gbs_samples: tuple[float, ...]
    seconds: float
    loadavg_before: tuple[float, float, float]
    loadavg_after: tuple[float, float, float]
    torch: str
    created: str


@dataclass(frozen=True, slots=True)
class RooflineDevice:
    """The roofs a prediction is made for: dense TFLOP/s per unit (``fp32-simt``, ``tf32-tc``,
    ``bf16-tc``, ``fp16-tc``; ``cpu-fp32`` on a CPU), memory bandwidth (GB/s), memory (GiB) and
    the source of every figure (keys: the units and ``bandwidth``)."""

    key: str
    name: str
    units_tflops: dict[str, float]
    bandwidth_gbs: float
    memory_gib: float | None
    sources: dict[str, str]
    calibration: CpuCalibration | None = None  # ``cpu`` only


@dataclass(frozen=True, slots=True)
class Kernels:
    """Which kernels run the fused regions (`fcdmbench.perfmodel.kernels`, docs/perfmodel.md):
    ``attention`` is ``sdpa``, ``flash2``, ``sdpa-math`` or ``unfused`` (written by hand);
    ``linear_attention`` (DiG's GLA) is ``fla``, ``fla-tf32`` or ``torch``."""

    attention: str = "sdpa"
    linear_attention: str = "fla"

    def describe(self) -> str:
        return f"attention {self.attention}, linear attention {self.linear_attention}"


@dataclass(frozen=True, slots=True)
class OpTime:
    """One operator call, or a group of them, priced on the device (FLOPs, bytes, seconds)."""

    DERIVED: ClassVar[tuple[str, ...]] = ("time_s", "intensity", "bound")

    op: str
    module: str
    kind: str
    unit: str
    calls: int
    flops: float
    bytes: float
    compute_s: float
    memory_s: float

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s)

    @property
    def is_memory_bound(self) -> bool:
        return self.memory_s > self.compute_s

    @property
    def bound(self) -> str:
        return "memory" if self.is_memory_bound else "compute"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per byte (unfused)."""
        return self.flops / self.bytes if self.bytes else 0.0


@dataclass(frozen=True, slots=True)
class MeasuredThroughput:
    """The measured images/s set beside a prediction: the median of a throughput record's model
    row on the same device (CPU: the same CPU model), precision, batch and resolution."""

    img_per_s: float
    iqr: float | None
    source: str  # the throughput record's path
    device_slug: str
    precision: str
    torch: str | None
    device_name: str | None = None

    @classmethod
    def from_point(cls, point: Any) -> MeasuredThroughput:
        """From a `fcdmbench.records.ThroughputPoint`."""
        return cls(
            img_per_s=point.img_per_s,
            iqr=point.iqr,
            source=point.source,
            device_slug=point.device_slug,
            precision=point.precision,
            torch=point.torch,
            device_name=point.device_name,
        )


@dataclass(frozen=True, slots=True)
class RooflineResult:
    """The prediction for one model (see the module docstring for what the figures sum)."""

    DERIVED: ClassVar[tuple[str, ...]] = (
        "img_per_s",
        "ms_per_forward",
        "memory_bound_share",
        "tflops_at_bound",
        "measured_over_predicted",
    )

    model: str
    display_name: str
    resolution: int
    batch: int
    precision: str
    attention: str
    gmacs_per_image: float
    time_s: float  # one forward of `batch` images
    memory_bound_s: float
    flops: float
    ops: tuple[OpTime, ...]  # operator groups, costliest first
    by_unit: tuple[OpTime, ...]  # per unit, costliest first
    measured: MeasuredThroughput | None = None
    notes: tuple[str, ...] = ()
    kernels: Kernels | None = None  # None: written before kernels were recorded

    @property
    def img_per_s(self) -> float:
        """Predicted upper bound of images/s through one network evaluation."""
        return self.batch / self.time_s if self.time_s else float("inf")

    @property
    def ms_per_forward(self) -> float:
        return self.time_s * 1e3

    @property
    def memory_bound_share(self) -> float:
        return self.memory_bound_s / self.time_s if self.time_s else 0.0

    @property
    def tflops_at_bound(self) -> float:
        return self.flops / self.time_s / 1e12 if self.time_s else 0.0

    @property
    def measured_over_predicted(self) -> float | None:
        return self.measured.img_per_s / self.img_per_s if self.measured else None

    def top_ops(self, n: int = 10) -> tuple[OpTime, ...]:
        """The `n` costliest operator groups."""
        return self.ops[:n]


@dataclass(frozen=True, slots=True)
class RooflineConfig:
    """One roofline run: what `run_roofline` takes and the record's ``config`` section.

    Args:
        models: registry names.
        device: device table key (``a100-80gb-sxm``, ``cpu``).
        kernels: the kernels that run attention and linear attention (None: `resolve_kernels`;
            the record stores the resolved ones; None in records written before they were).
        records: throughput records (files or folders) to set measured beside predicted.
        calibration: a saved CPU calibration (``cpu`` only; default: measure now).
    """

    models: tuple[str, ...]
    device: str = "a100-80gb-sxm"
    precision: Precision = Precision.TF32
    batch: int = 64
    resolution: int = 256
    attention: str = "fused"
    records: tuple[str, ...] = ()  # paths given as Path are stored as text
    calibration: str | None = None
    kernels: Kernels | None = None

    def __post_init__(self) -> None:
        require_models(self.models)
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")
        store_paths_as_text(self)

    @property
    def autocast(self) -> str | None:
        return AUTOCAST.get(self.precision)


@dataclass(frozen=True, slots=True)
class RooflineRecord(Record):
    """One `fcdmbench roofline` run: settings, roofs, assumptions and one result per model.

    Example:
        >>> record = run_roofline(RooflineConfig(models=("fcdm-xl", "dit-xl-2")))  # doctest: +SKIP
        >>> record.result("fcdm-xl").img_per_s  # a bound, not a measurement  # doctest: +SKIP
    """

    SCHEMA: ClassVar[str] = "fcdmbench.roofline/2"

    run: RunInfo
    env: EnvInfo
    config: RooflineConfig
    device: RooflineDevice
    results: tuple[RooflineResult, ...]
    assumptions: tuple[str, ...] = ASSUMPTIONS
    label: str = ROOFLINE_LABEL
    notes: tuple[str, ...] = ()

    def result(self, model: str) -> RooflineResult | None:
        """The result for registry name `model`, or None."""
        return next((r for r in self.results if r.model == model), None)


#: What every training-step prediction assumes besides `ASSUMPTIONS` (stored in each record).
TRAIN_ASSUMPTIONS = (
    "one data-parallel training step per GPU on batch / gpus rows: forward, epsilon MSE loss and "
    "backward traced on the meta device from the real autograd graph, gradient checkpointing's "
    "recomputation included where it runs (inside backward)",
    "every traced kernel priced as in the inference roofline: its unit's dense peak or the full "
    "memory bandwidth, whichever binds; no launch overhead, no overlap between kernels",
    "AdamW (foreach, fp32 moments) and the per-parameter EMA update priced by their traced bytes",
    "DDP: gradients copied into buckets, divided by the GPU count and copied back (PyTorch's "
    "default gradient_as_bucket_view=False), 6 x the gradient bytes at memory bandwidth; the "
    "gradient all-reduce as a ring, 2(N-1)/N x the gradient bytes over the link's "
    "per-direction bandwidth (NVLink where the card has it for the GPUs of a node, else PCIe); "
    "over several nodes the faster of NCCL's ring over every GPU and the hierarchical "
    "all-reduce (reduce-scatter in the node, all-reduce of each GPU's shard between nodes over "
    "its own network adapter, all-gather in the node, pipelined), every link at its peak",
    "the all-reduce overlaps backward (DDP starts each bucket's all-reduce as soon as its "
    "gradients are ready): step = forward + max(backward + recompute, all-reduce) + DDP copies "
    "+ optimizer + EMA; the serial step (no overlap) is reported beside it",
    "not included: data loading, the VAE encoder (DiT's train.py encodes images every step; "
    "FCDM's trains on pre-extracted latents), DiT's variational-bound loss term, logging, and "
    "the SMs and memory bandwidth NCCL takes while it overlaps",
)


@dataclass(frozen=True, slots=True)
class TrainPhase:
    """One part of a training step priced on the device (``forward``, ``backward``,
    ``recompute``, ``optimizer``, ``ema``, ``ddp-copies``), per GPU."""

    name: str
    calls: int
    flops: float
    bytes: float
    time_s: float
    memory_bound_s: float


@dataclass(frozen=True, slots=True)
class AllReduce:
    """The DDP gradient all-reduce of one step over `gpus` GPUs (``nodes`` x ``gpus_per_node``).

    One node: a ring, each GPU sends (and receives) ``wire_bytes = 2 (gpus - 1) / gpus x
    grad_bytes`` at ``link_gbs`` per direction. Several nodes
    (`fcdmbench.perfmodel.train_roofline.allreduce_cost`): NCCL's ring over every GPU
    (``ring_s``) and the hierarchical all-reduce (``intra_s`` in the node over ``link``,
    ``inter_s`` between nodes over ``fabric``; ``hierarchical_s`` pipelined); ``time_s`` is the
    faster, named by ``algorithm``."""

    link: str  # "nvlink" or "pcie": inside a node
    link_gbs: float
    source: str
    gpus: int
    grad_bytes: float
    wire_bytes: float
    time_s: float
    overlaps_backward: bool
    nodes: int = 1
    gpus_per_node: int = 0  # 0: written before nodes were modelled (= gpus)
    fabric: str = ""  # the inter-node network ("" on one node)
    fabric_gbs: float = 0.0  # per GPU, per direction
    fabric_source: str = ""
    algorithm: str = "ring"  # "ring" or "hierarchical"
    ring_s: float = 0.0
    hierarchical_s: float = 0.0
    intra_s: float = 0.0
    inter_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TrainResult:
    """The training-step prediction for one model: ``time_s`` is the step's bound (see
    `TRAIN_ASSUMPTIONS`), ``serial_time_s`` the same without overlapping the all-reduce.
    ``measured``: a ``throughput --mode train`` record of the same single-process setup."""

    DERIVED: ClassVar[tuple[str, ...]] = (
        "steps_per_s",
        "images_per_s",
        "serial_steps_per_s",
        "ms_per_step",
        "tflops_at_bound",
        "measured_steps_per_s",
        "measured_over_predicted",
    )

    model: str
    display_name: str
    resolution: int
    global_batch: int
    gpus: int
    rows_per_gpu: int
    precision: str
    attention: str
    checkpointing: str
    ema: bool
    params: int
    trainable_params: int
    flops: float  # one GPU's step
    time_s: float
    serial_time_s: float
    phases: tuple[TrainPhase, ...]
    allreduce: AllReduce | None
    ops: tuple[OpTime, ...]  # operator groups of the whole step, costliest first
    by_unit: tuple[OpTime, ...]
    measured: MeasuredThroughput | None = None  # a train-mode throughput record's images/s
    notes: tuple[str, ...] = ()

    @property
    def steps_per_s(self) -> float:
        """Predicted upper bound of optimizer steps per second."""
        return 1.0 / self.time_s if self.time_s else float("inf")

    @property
    def images_per_s(self) -> float:
        return self.global_batch * self.steps_per_s

    @property
    def serial_steps_per_s(self) -> float:
        return 1.0 / self.serial_time_s if self.serial_time_s else float("inf")

    @property
    def ms_per_step(self) -> float:
        return self.time_s * 1e3

    @property
    def tflops_at_bound(self) -> float:
        """One GPU's traced FLOPs over the step's bound."""
        return self.flops / self.time_s / 1e12 if self.time_s else 0.0

    @property
    def measured_steps_per_s(self) -> float | None:
        """The matched throughput record's training steps/s (its images/s over the batch)."""
        return self.measured.img_per_s / self.global_batch if self.measured else None

    @property
    def measured_over_predicted(self) -> float | None:
        measured = self.measured_steps_per_s
        return measured / self.steps_per_s if measured is not None else None

    def phase(self, name: str) -> TrainPhase | None:
        return next((p for p in self.phases if p.name == name), None)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """One training-step roofline: what `run_train_roofline` takes and the record's ``config``.

    Args:
        models: registry names (a ``.512`` tag sets that model's resolution).
        device: device table key; ``cpu`` (calibrated on this machine) takes ``gpus=1``.
        batch: the global batch; each GPU runs ``batch / (gpus x nodes)`` rows.
        gpus: data-parallel GPUs per node.
        grad_checkpointing: checkpoint every block.
        kernels: as in `RooflineConfig` (the record stores the resolved ones).
        ema: price DiT's and FCDM's per-parameter EMA update.
        calibration: ``cpu`` only: a saved calibration (default: measure now).
        records: ``throughput --mode train`` records (files or folders) to set measured steps/s
            beside the bound (one process: ``gpus=1``, no checkpointing, same batch).
        nodes: nodes (the all-reduce crosses the inter-node fabric when more than one).
    """

    models: tuple[str, ...]
    device: str = "a100-80gb-sxm"
    precision: Precision = Precision.TF32
    batch: int = 256
    gpus: int = 1  # per node
    resolution: int = 256
    grad_checkpointing: bool = False
    kernels: Kernels | None = None
    ema: bool = True
    calibration: str | None = None
    records: tuple[str, ...] = ()
    nodes: int = 1

    def __post_init__(self) -> None:
        require_models(self.models)
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 1:
            raise ConfigError(f"nodes must be an integer >= 1, got {self.nodes!r}")
        split_batch(self.batch, self.world)
        store_paths_as_text(self)

    @property
    def world(self) -> int:
        """Every data-parallel GPU: ``gpus`` per node x ``nodes``."""
        return self.gpus * self.nodes

    @property
    def attention(self) -> str:
        """How the trace records attention: ``unfused`` for SDPA's math path (``sdpa-math``),
        ``manual`` for attention written out by hand (``unfused``), else one fused kernel
        (FlashAttention's forward and backward)."""
        kernel = self.kernels.attention if self.kernels else "sdpa"
        return {"sdpa-math": "unfused", "unfused": "manual"}.get(kernel, "fused")

    @property
    def rows_per_gpu(self) -> int:
        return split_batch(self.batch, self.world)

    @property
    def autocast(self) -> str | None:
        return AUTOCAST.get(self.precision)


@dataclass(frozen=True, slots=True)
class TrainRooflineRecord(Record):
    """One ``fcdmbench train-roofline`` run: a predicted upper bound of training
    steps/s per model (a model, not a measurement)."""

    SCHEMA: ClassVar[str] = "fcdmbench.roofline-train/2"

    run: RunInfo
    env: EnvInfo
    config: TrainConfig
    device: RooflineDevice
    results: tuple[TrainResult, ...]
    assumptions: tuple[str, ...] = ASSUMPTIONS + TRAIN_ASSUMPTIONS
    label: str = ROOFLINE_LABEL
    notes: tuple[str, ...] = ()

    def result(self, model: str) -> TrainResult | None:
        """The result for registry name `model`, or None."""
        return next((r for r in self.results if r.model == model), None)
