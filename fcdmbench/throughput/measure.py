"""`measure_throughput`: images/s per network evaluation under one fixed protocol.

Protocol (docs/throughput.md, "Protocol"): every item (the canary, then each model variant) is built
and warmed up (at least `warmup_calls` calls and `warmup_s` seconds, which also sizes a block to
at least `min_block_s`); then `blocks` timed blocks per item, interleaved A B C A B C with a pause
between items, each block preceded by an untimed call. CUDA blocks are timed with CUDA events and
a synchronize; CPU blocks with ``time.perf_counter``. A batch that runs out of memory is halved
and retried, and the result says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fcdmbench.errors import ConfigError, DeviceError
from fcdmbench.precision import apply_precision
from fcdmbench.records.throughput import FcdmCheckpointing, Order, ProtocolConfig, ThroughputConfig
from fcdmbench.registry import DEFAULT_REF, get_spec
from fcdmbench.throughput.canary import build_canary, canary_spec_for
from fcdmbench.throughput.protocol import (
    ItemResult,
    Timer,
    Workload,
    prepare_with_oom_retry,
    run_protocol,
)
from fcdmbench.throughput.workloads import (
    Step,
    StepOptions,
    build_model_step,
    count_gflops_per_image,
)

if TYPE_CHECKING:  # the records package is imported when a run starts, not with the CLI
    from fcdmbench.records.throughput import ThroughputRecord

__all__ = [
    "DEFAULT_PROTOCOL",
    "DEFAULT_REF",
    "FcdmCheckpointing",
    "ItemResult",
    "Order",
    "PlannedItem",
    "ProtocolConfig",
    "ThroughputConfig",
    "step_options",
    "Workload",
    "measure_throughput",
    "estimate_seconds",
    "plan_items",
    "prepare_with_oom_retry",
    "resolve_device",
]


DEFAULT_PROTOCOL = ProtocolConfig()


def step_options(config: ThroughputConfig) -> StepOptions:
    """How every model step of `config` is built. Raises `ConfigError` for a combination of
    options that does not apply (CFG or CUDA graphs in train mode, an unknown compile mode)."""
    return StepOptions(
        resolution=config.resolution,
        precision=config.precision,
        mode=config.mode,
        cfg=config.cfg,
        channels_last=config.channels_last,
        compile_mode=config.compile,
    )


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


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One item a run will time: its record key, model, variant and why it is in the run."""

    key: str
    model: str | None  # None for the canary
    checkpointing: str | None = None
    cuda_graphs: bool = False
    variant: tuple[str, ...] = ()
    reason: str = ""


def _model_items(config: ThroughputConfig) -> list[PlannedItem]:
    """Every model variant `config` times, in order, each with the reason it is there."""

    names = dict.fromkeys(get_spec(name).name for name in config.measured_models())
    explicit_ref = config.ref is not None and config.ref.lower() != "none"
    ref_name = get_spec(config.ref).name if explicit_ref else None
    asked = {get_spec(m).name for m in config.models}
    items: list[PlannedItem] = []
    for name in names:
        spec = get_spec(name)
        has_ckpt = hasattr(spec.config, "checkpointing")
        base = "asked for" if name in asked else "the --ref model (explicit: added to the run)"
        if name == ref_name and name in asked:
            base = "asked for; the --ref model"
        reasons: dict[str | None, str] = {}
        if spec.family == "fcdm":
            ckpts: tuple[str | None, ...] = config.fcdm_checkpointing
            both = len(ckpts) > 1
            reasons = {
                "off": base
                + (
                    ", per-block checkpointing bypassed (as model.eval() runs)"
                    if both
                    else ", checkpointing off"
                ),
                "always": (
                    "FCDM's per-block checkpointing as published: upstream runs it even at "
                    "inference, so both are timed (--fcdm-checkpointing off drops this)"
                    if both
                    else base + ", checkpointing always (as published)"
                ),
            }
        elif config.grad_checkpointing:
            if not has_ckpt:
                raise ConfigError(
                    f"{name} does not support gradient checkpointing",
                    hint="drop --grad-checkpointing or this model",
                )
            ckpts = ("always",)
            reasons = {"always": base + ", gradient checkpointing (--grad-checkpointing)"}
        else:
            ckpts = ("off",) if has_ckpt else (None,)
        for ckpt in ckpts:
            for graphs in (False, True) if config.cuda_graphs else (False,):
                variant = tuple(
                    v
                    for v, on in (("ckpt-always", ckpt == "always"), ("cuda-graphs", graphs))
                    if on
                )
                key = name + (f"[{','.join(variant)}]" if variant else "")
                reason = reasons.get(ckpt, base)
                if graphs:
                    reason = "replayed from a CUDA graph (--cuda-graphs)"
                items.append(PlannedItem(key, name, ckpt, graphs, variant, reason))
    return items


def plan_items(config: ThroughputConfig, device_type: str) -> list[PlannedItem]:
    """What a run of `config` on `device_type` times: the canary first, then every variant."""
    canary = PlannedItem(
        canary_spec_for(device_type).name,
        None,
        reason="the canary: a fixed GEMM + convolution workload timed in the same process; "
        "--check divides every model by it, cancelling clock and neighbour effects (always run)",
    )
    return [canary, *_model_items(config)]


def estimate_seconds(protocol: ProtocolConfig, items: int) -> float:
    """Lower bound on a run's wall time from its protocol alone (calls taking 0 s).

    Each item warms up for at least ``warmup_s``, then runs ``blocks`` blocks of at least
    ``min_block_s`` with a ``pause_s`` pause before each; building models and calls longer than
    those settings come on top.
    """
    p = protocol
    return items * (p.warmup_s + p.blocks * (p.min_block_s + p.pause_s))


def plan_workloads(config: ThroughputConfig, device: Any) -> list[Workload]:
    """The models' workloads (variants expanded)."""

    workloads: list[Workload] = []
    for item in _model_items(config):
        name, ckpt, graphs = item.model, item.checkpointing, item.cuda_graphs
        overrides = {} if ckpt is None else {"checkpointing": ckpt}
        options = step_options(config)
        if graphs:
            options = dataclasses.replace(options, cuda_graphs=True)
        gflops, basis = count_gflops_per_image(name, overrides, options)

        def build(batch: int, _n=name, _o=overrides, _opt=options) -> Step:
            return build_model_step(_n, _o, batch, _opt, device)

        workloads.append(Workload(item.key, build, name, item.variant, ckpt, graphs, gflops, basis))
    return workloads


def measure_throughput(
    config: ThroughputConfig,
    protocol: ProtocolConfig = DEFAULT_PROTOCOL,
    log: Callable[[str], None] = lambda _m: None,
) -> ThroughputRecord:
    """Run `protocol` for every model of `config` and return the complete record.

    Example:
        >>> record = measure_throughput(ThroughputConfig(models=("fcdm-s",), device="cpu"))
        >>> record.median_img_per_s("fcdm-s")  # doctest: +SKIP
        13.3

    Raises:
        DeviceError: CUDA requested but absent (exit 4).
        ConfigError: an option does not apply to the device or mode (exit 2).
    """
    # Imported when a run starts: with them the CLI would load the records package at start-up.
    from fcdmbench.env import collect_env
    from fcdmbench.records._base import RunInfo
    from fcdmbench.throughput.record_builder import build_record, resolve_ref

    device = resolve_device(config.device)
    if config.cuda_graphs and device.type != "cuda":
        raise ConfigError("--cuda-graphs needs a CUDA device", hint="drop --cuda-graphs on CPU")
    ref, notes = resolve_ref(config)
    run = RunInfo.current()
    env = collect_env(str(device))
    timer = Timer(device)
    canary_spec = canary_spec_for(device.type)
    with apply_precision(
        config.precision, device.type, config.cudnn_benchmark, env.capability
    ) as state:
        workloads = plan_workloads(config, device)
        canary = Workload(
            canary_spec.name,
            lambda _b: Step(build_canary(canary_spec, device), 1, 1, 0),
            gflops_per_image=2 * canary_spec.gmacs_per_call,
            flops_basis="analytic (2 GEMMs + depthwise 7x7 + dense 3x3)",
        )
        results = run_protocol(
            [canary, *workloads], config.batch, protocol, protocol.for_mode(config.mode), timer, log
        )
    return build_record(
        config,
        protocol,
        env,
        state,
        timer.kind,
        canary_spec,
        results,
        ref=ref,
        notes=notes,
        run=run,
        sdpa=_sdpa_flags(device),
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
