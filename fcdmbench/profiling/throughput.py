"""`measure_throughput`: images/s per network evaluation under one fixed protocol.

Protocol (MEASUREMENT.md section 2.4): every item (the canary, then each model variant) is built
and warmed up (at least `warmup_calls` calls and `warmup_s` seconds, which also sizes a block to
at least `min_block_s`); then `blocks` timed blocks per item, interleaved A B C A B C with a pause
between items, each block preceded by an untimed call. CUDA blocks are timed with CUDA events and
a synchronize; CPU blocks with ``time.perf_counter``. A batch that runs out of memory is halved
and retried, and the result says so.
"""

from __future__ import annotations

import enum
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fcdmbench.errors import ConfigError, DeviceError
from fcdmbench.profiling.precision import Precision
from fcdmbench.profiling.workloads import Mode, Step, StepOptions

__all__ = [
    "FcdmCheckpointing",
    "ItemResult",
    "Order",
    "ProtocolConfig",
    "ThroughputConfig",
    "Workload",
    "measure_throughput",
    "prepare_with_oom_retry",
    "resolve_device",
]

#: The model whose throughput divides every other for the paper's "vs DiT" column.
DEFAULT_REF = "dit-xl-2"


class Order(enum.Enum):
    """``interleaved``: A B C A B C (all models resident); ``sequential``: A A A B B B."""

    INTERLEAVED = "interleaved"
    SEQUENTIAL = "sequential"


class FcdmCheckpointing(enum.Enum):
    """FCDM per-block checkpointing: ``always`` = as published (even in eval), ``off`` = bypassed."""

    OFF = "off"
    ALWAYS = "always"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class ProtocolConfig:
    """Warm-up and block schedule (defaults: MEASUREMENT.md section 2.4)."""

    warmup_calls: int = 10
    warmup_s: float = 2.0
    blocks: int = 7
    min_block_s: float = 1.0
    pause_s: float = 1.0
    block_warmup_calls: int = 1
    order: Order | None = None  # None: interleaved for infer, sequential for train

    def __post_init__(self) -> None:
        if self.warmup_calls < 1 or self.blocks < 1 or self.block_warmup_calls < 0:
            raise ConfigError("warmup_calls and blocks must be >= 1, block_warmup_calls >= 0")
        if min(self.warmup_s, self.min_block_s, self.pause_s) < 0:
            raise ConfigError("warmup_s, min_block_s and pause_s must be >= 0")


@dataclass(frozen=True, slots=True)
class ThroughputConfig:
    """One throughput run.

    Args:
        models: registry names (any spelling), measured in this order.
        batch: images per call (CFG runs 2 x batch network rows).
        device: ``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        fcdm_checkpointing: FCDM variants to time; None = ``both`` for infer, ``off`` for train.
        grad_checkpointing: train mode: checkpoint every model that supports it.
        ref: model for "vs reference" ratios; None = `DEFAULT_REF` if registered, ``"none"`` = off.
        cuda_graphs: also time every model replayed from a CUDA graph (both are reported).
    """

    models: tuple[str, ...]
    batch: int = 64
    resolution: int = 256
    precision: Precision = Precision.PAPER_DEFAULT
    mode: Mode = Mode.INFER
    device: str = "auto"
    cfg: bool = False
    channels_last: bool = False
    compile_mode: str | None = None
    cuda_graphs: bool = False
    cudnn_benchmark: bool = True
    fcdm_checkpointing: FcdmCheckpointing | None = None
    grad_checkpointing: bool = False
    ref: str | None = None
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("no model given", hint="pass --models, e.g. --models fcdm-xl dit-xl-2")
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")
        if self.grad_checkpointing and self.mode is not Mode.TRAIN:
            raise ConfigError("--grad-checkpointing applies to --mode train only")
        if self.grad_checkpointing and self.fcdm_checkpointing is FcdmCheckpointing.OFF:
            raise ConfigError("--grad-checkpointing contradicts --fcdm-checkpointing off")
        self.step_options()  # validates the combination

    def measured_models(self) -> tuple[str, ...]:
        """`models` plus an explicitly given reference model (not the default one)."""
        if self.ref is None or self.ref.lower() == "none" or self.ref in self.models:
            return self.models
        return (*self.models, self.ref)

    def step_options(self) -> StepOptions:
        return StepOptions(
            resolution=self.resolution, precision=self.precision, mode=self.mode, cfg=self.cfg,
            channels_last=self.channels_last, compile_mode=self.compile_mode,
        )

    @property
    def order(self) -> Order:
        if self.protocol.order is not None:
            return self.protocol.order
        return Order.INTERLEAVED if self.mode is Mode.INFER else Order.SEQUENTIAL

    @property
    def fcdm_variants(self) -> tuple[str, ...]:
        """Checkpointing values timed for FCDM models."""
        choice = self.fcdm_checkpointing
        if choice is None:
            if self.grad_checkpointing:
                choice = FcdmCheckpointing.ALWAYS
            else:
                choice = FcdmCheckpointing.BOTH if self.mode is Mode.INFER else FcdmCheckpointing.OFF
        return ("off", "always") if choice is FcdmCheckpointing.BOTH else (choice.value,)


@dataclass(slots=True)
class Workload:
    """One item of the rotation: builds a `Step` for a batch size."""

    key: str
    build: Callable[[int], Step]
    model: str | None = None  # None for the canary
    variant: tuple[str, ...] = ()
    checkpointing: str | None = None
    cuda_graphs: bool = False
    gflops_per_image: float | None = None
    flops_basis: str = ""


@dataclass(slots=True)
class ItemResult:
    """Raw timings of one workload (derived figures are computed in the record)."""

    key: str
    model: str | None
    variant: tuple[str, ...]
    batch_requested: int
    batch: int
    status: str = "ok"  # "ok", "oom" (even batch 1 did not fit) or "failed"
    error: str | None = None
    oom_retries: list[int] = field(default_factory=list)  # batch sizes that ran out of memory
    images_per_call: int = 0
    rows_per_call: int = 0
    calls_per_block: int = 0
    block_s: list[float] = field(default_factory=list)
    first_call_s: float | None = None
    warmup_calls: int = 0
    warmup_s: float = 0.0
    peak_mem_gib: float | None = None
    checkpointing: str | None = None
    cuda_graphs: bool = False
    gflops_per_image: float | None = None
    flops_basis: str = ""
    _step: Step | None = None

    @property
    def img_per_s(self) -> list[float]:
        return [self.calls_per_block * self.images_per_call / s for s in self.block_s if s > 0]


def resolve_device(name: str):
    """``auto`` -> CUDA when present, else CPU. Raises `DeviceError` (exit 4) for absent CUDA."""
    import torch

    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"--device {name} requested but CUDA is not available (torch {torch.__version__}"
                f"{', a CPU-only build' if torch.version.cuda is None else ''})",
                hint="run with --device cpu (results are labelled CPU) or install a CUDA torch",
            )
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{name}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return device
    if text == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unsupported device {name!r}", hint="use auto, cpu, cuda or cuda:N")


class _Timer:
    """Times n calls of a function: CUDA events + synchronize, or perf_counter on CPU."""

    def __init__(self, device: Any) -> None:
        import torch

        self.device = device
        self.is_cuda = device.type == "cuda"
        self._torch = torch
        self.kind = "cuda_event" if self.is_cuda else "perf_counter"

    def sync(self) -> None:
        if self.is_cuda:
            self._torch.cuda.synchronize(self.device)

    def time_calls(self, fn: Callable[[], Any], calls: int) -> float:
        if self.is_cuda:
            start = self._torch.cuda.Event(enable_timing=True)
            end = self._torch.cuda.Event(enable_timing=True)
            self.sync()
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
        begin = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - begin

    def reset_peak(self) -> int:
        if not self.is_cuda:
            return 0
        self.sync()
        self._torch.cuda.reset_peak_memory_stats(self.device)
        return self._torch.cuda.memory_allocated(self.device)

    def peak_since(self, allocated_before: int, own_bytes: int) -> float | None:
        """Peak bytes attributable to the item: weights + inputs + activations, in GiB."""
        if not self.is_cuda:
            return None
        peak = self._torch.cuda.max_memory_allocated(self.device)
        return round((peak - allocated_before + own_bytes) / 2**30, 3)

    def free(self) -> None:
        if self.is_cuda:  # return the cached blocks so the next model (or batch) can use them
            gc.collect()
            self._torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    """True for CUDA (or host allocator) out-of-memory errors."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def prepare_with_oom_retry(
    workload: Workload, batch: int, protocol: ProtocolConfig, timer: _Timer
) -> ItemResult:
    """Build and warm up `workload`; on out-of-memory halve the batch and retry (down to 1).

    The warm-up runs at least `protocol.warmup_calls` calls and `protocol.warmup_s` seconds and
    sizes a block (`calls_per_block`) from the median warm-up call. The peak memory is read over
    the warm-up, which runs exactly the timed call.
    """
    result = ItemResult(key=workload.key, model=workload.model, variant=workload.variant,
                        batch_requested=batch, batch=batch, checkpointing=workload.checkpointing,
                        cuda_graphs=workload.cuda_graphs,
                        gflops_per_image=workload.gflops_per_image,
                        flops_basis=workload.flops_basis)
    while True:
        step = None
        try:
            before = timer.reset_peak()
            step = workload.build(result.batch)
            call_s = [timer.time_calls(step, 1)]
            total_s = call_s[0]
            while len(call_s) < protocol.warmup_calls or total_s < protocol.warmup_s:
                call_s.append(timer.time_calls(step, 1))
                total_s += call_s[-1]
            result.first_call_s = call_s[0]
            result.warmup_calls, result.warmup_s = len(call_s), total_s
            result.peak_mem_gib = timer.peak_since(before, step.state_bytes)
            steady = sorted(call_s[1:] or call_s)[len(call_s[1:] or call_s) // 2]
            result.calls_per_block = max(1, math.ceil(protocol.min_block_s / max(steady, 1e-9)))
            result.images_per_call, result.rows_per_call = step.images_per_call, step.rows_per_call
            result._step = step
            return result
        except Exception as exc:
            if step is not None:
                step.release()
            del step
            timer.free()
            if not is_oom(exc):
                result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
                return result
            result.oom_retries.append(result.batch)
            if result.batch == 1:
                result.status, result.error = "oom", "out of memory even at batch 1"
                return result
            result.batch //= 2


def _run_block(result: ItemResult, protocol: ProtocolConfig, timer: _Timer) -> None:
    step = result._step
    if step is None or result.status != "ok":
        return
    try:
        for _ in range(protocol.block_warmup_calls):
            step()
        result.block_s.append(timer.time_calls(step, result.calls_per_block))
    except Exception as exc:  # noqa: BLE001 - recorded, the other items go on
        result.status, result.error = "failed", f"during a timed block: {type(exc).__name__}: {exc}"
        _release(result, timer)


def _release(result: ItemResult, timer: _Timer) -> None:
    if result._step is not None:
        result._step.release()
        result._step = None
    timer.free()


def _batch_for(workload: Workload, batch: int) -> int:
    return batch if workload.model is not None else 1  # the canary has a fixed size


def run_protocol(
    workloads: list[Workload], batch: int, protocol: ProtocolConfig, order: Order, timer: _Timer,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[ItemResult]:
    """Prepare and time every workload; the first is the canary (batch is ignored for it)."""
    results: list[ItemResult] = []
    if order is Order.SEQUENTIAL:
        for workload in workloads:
            log(f"warming up {workload.key}")
            result = prepare_with_oom_retry(workload, _batch_for(workload, batch), protocol, timer)
            for _ in range(protocol.blocks):
                _run_block(result, protocol, timer)
            _release(result, timer)
            results.append(result)
            time.sleep(protocol.pause_s)
        return results
    for workload in workloads:
        log(f"warming up {workload.key}")
        results.append(prepare_with_oom_retry(workload, _batch_for(workload, batch), protocol, timer))
    for round_index in range(protocol.blocks):
        log(f"block {round_index + 1}/{protocol.blocks}")
        for result in results:
            time.sleep(protocol.pause_s)
            _run_block(result, protocol, timer)
    for result in results:
        _release(result, timer)
    return results


def plan_workloads(config: ThroughputConfig, device: Any) -> tuple[list[Workload], list[str]]:
    """The models' workloads (variants expanded) and notes about what was skipped."""
    from fcdmbench.profiling.workloads import build_model_step, count_gflops_per_image
    from fcdmbench.registry import get_spec

    notes: list[str] = []
    workloads: list[Workload] = []
    names: list[str] = []
    for name in config.measured_models():
        canonical = get_spec(name).name
        if canonical not in names:
            names.append(canonical)
    for name in names:
        spec = get_spec(name)
        has_ckpt = hasattr(spec.config, "checkpointing")
        if spec.family == "fcdm":
            ckpts: tuple[str | None, ...] = config.fcdm_variants
        elif config.grad_checkpointing:
            if not has_ckpt:
                raise ConfigError(f"{name} does not support gradient checkpointing",
                                  hint="drop --grad-checkpointing or this model")
            ckpts = ("always",)
        else:
            ckpts = ("off",) if has_ckpt else (None,)
        for ckpt in ckpts:
            overrides = {} if ckpt is None else {"checkpointing": ckpt}
            for graphs in (False, True) if config.cuda_graphs else (False,):
                variant = tuple(v for v, on in (("ckpt-always", ckpt == "always"),
                                                ("cuda-graphs", graphs)) if on)
                key = name + (f"[{','.join(variant)}]" if variant else "")
                options = config.step_options()
                if graphs:
                    options = StepOptions(**{**_fields(options), "cuda_graphs": True})
                gflops, basis = count_gflops_per_image(name, overrides, options)

                def build(batch: int, _n=name, _o=overrides, _opt=options) -> Step:
                    return build_model_step(_n, _o, batch, _opt, device)

                workloads.append(Workload(key, build, name, variant, ckpt, graphs, gflops, basis))
    return workloads, notes


def _fields(obj: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def measure_throughput(config: ThroughputConfig, log: Callable[[str], None] = lambda _m: None):
    """Run the protocol for every model of `config` and return a `ThroughputReport`.

    Raises:
        DeviceError: CUDA requested but absent (exit 4).
        ConfigError: an option does not apply to the device or mode (exit 2).
    """
    from fcdmbench.env import collect_env
    from fcdmbench.profiling.canary import build_canary, canary_spec_for
    from fcdmbench.profiling.precision import apply_precision
    from fcdmbench.profiling.throughput_record import ThroughputReport, resolve_ref

    device = resolve_device(config.device)
    if config.cuda_graphs and device.type != "cuda":
        raise ConfigError("--cuda-graphs needs a CUDA device", hint="drop --cuda-graphs on CPU")
    ref, notes = resolve_ref(config)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    env = collect_env(str(device))
    timer = _Timer(device)
    canary_spec = canary_spec_for(device.type)
    with apply_precision(config.precision, device.type, config.cudnn_benchmark,
                         env.capability) as state:
        workloads, plan_notes = plan_workloads(config, device)
        canary = Workload(canary_spec.name, lambda _b: Step(build_canary(canary_spec, device), 1,
                                                            1, 0),
                          gflops_per_image=2 * canary_spec.gmacs_per_call,
                          flops_basis="analytic (2 GEMMs + depthwise 7x7 + dense 3x3)")
        results = run_protocol([canary, *workloads], config.batch, config.protocol,
                               config.order, timer, log)
    return ThroughputReport(
        config=config, env=env, precision_state=state, timer=timer.kind, canary_spec=canary_spec,
        canary=results[0], results=results[1:], ref=ref, notes=notes + plan_notes,
        started=started, sdpa=_sdpa_flags(device),
    )


def _sdpa_flags(device: Any) -> dict[str, Any]:
    import torch

    if device.type != "cuda":
        return {"backend": "cpu"}
    cuda = torch.backends.cuda
    return {
        "backend": "cuda",
        "flash": cuda.flash_sdp_enabled(),
        "mem_efficient": cuda.mem_efficient_sdp_enabled(),
        "math": cuda.math_sdp_enabled(),
        "cudnn": getattr(cuda, "cudnn_sdp_enabled", lambda: None)(),
    }
