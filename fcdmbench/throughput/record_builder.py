"""Build the ``fcdmbench.throughput/2`` record of a run (docs/throughput.md, "Records").

`build_record` takes a finished run's raw timings (`ItemResult`, canary first), derives images/s,
ratios, TFLOP/s and MFU and returns the typed `fcdmbench.records.throughput.ThroughputRecord`
(layout and units: `fcdmbench.records.throughput`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcdmbench.devices import peak_tflops
from fcdmbench.errors import UnknownModelError
from fcdmbench.records._base import RunInfo
from fcdmbench.records.throughput import (
    CanaryResult,
    Summary,
    ThroughputConfig,
    ThroughputRecord,
    ThroughputResult,
)
from fcdmbench.registry import DEFAULT_REF, get_spec

if TYPE_CHECKING:
    from fcdmbench.env import EnvInfo
    from fcdmbench.precision import PrecisionState
    from fcdmbench.records.throughput import ProtocolConfig
    from fcdmbench.throughput.canary import CanarySpec
    from fcdmbench.throughput.protocol import ItemResult

__all__ = ["build_record", "default_record_path", "resolve_ref"]

UNITS = {
    "infer": "images/s through one network evaluation (it/s; CFG: per guided image)",
    "train": "images/s through one training step (forward + backward + AdamW)",
}


def resolve_ref(config: Any) -> tuple[str | None, list[str]]:
    """The reference model for "vs ref" ratios, and notes when there is none.

    The default (`DEFAULT_REF`) is used only when it is registered and among the models: timing
    DiT-XL/2 behind a user's back could take an hour on a CPU. An explicit ``--ref`` must exist
    and is added to the run (`ThroughputConfig.measured_models`); ``none`` switches ratios off.
    """

    if config.ref is not None and config.ref.lower() == "none":
        return None, []
    measured = [get_spec(m).name for m in config.measured_models()]
    if config.ref is not None:
        return get_spec(config.ref).name, []
    try:
        ref = get_spec(DEFAULT_REF).name
    except UnknownModelError:
        return None, [
            f"reference model {DEFAULT_REF} is not registered in this install: "
            "no 'vs reference' ratios"
        ]
    if ref not in measured:
        return None, [f"no 'vs {ref}' ratios: add {ref} to --models (or pass --ref {ref})"]
    return ref, []


def default_record_path(env: Any, config: Any, folder: str | Path = "reports/throughput") -> Path:
    """``reports/throughput/<date>-<device>-<precision>-bs<B>-<res>-<mode>-<pt/cu tag>.json``."""
    stamp = env.created.replace(":", "").replace("-", "")[:15]
    name = (
        f"{stamp}-{env.device_slug}-{config.precision.value}-bs{config.batch}-"
        f"{config.resolution}-{config.mode.value}-{env.torch_tag}.json"
    )
    return Path(folder) / name


def _median(values: list[float]) -> float | None:
    return Summary.of(values).median


def build_record(
    config: ThroughputConfig,
    protocol: ProtocolConfig,
    env: EnvInfo,
    state: PrecisionState,
    timer: str,
    canary_spec: CanarySpec,
    timings: Sequence[ItemResult],
    ref: str | None,
    notes: Sequence[str],
    run: RunInfo,
    sdpa: dict[str, Any],
) -> ThroughputRecord:
    """The complete, typed record of a finished run.

    Args:
        state: the precision flags read back from torch while the run was timed.
        timer: what timed the blocks (``cuda_event`` or ``perf_counter``).
        timings: raw timings, the canary's first, then one per model variant.
        ref: the resolved reference model (`resolve_ref`), or None.
        sdpa: the SDPA backends enabled during the run.
    """
    peak, peak_source = peak_tflops(env.device_slug, config.precision.peak_basis)
    canary = timings[0]
    canary_rate = [canary.calls_per_block / s for s in canary.block_s if s > 0]
    rows = [_result_row(r, config, canary_rate, peak) for r in timings[1:]]
    readings = {k: v for k, v in dataclasses.asdict(state).items() if k != "precision"}
    return ThroughputRecord(
        run=run,
        env=env,
        config=dataclasses.replace(
            config,
            device_type=env.device_type,
            **readings,
            sdpa=dict(sdpa),
            ref=ref,
            unit=UNITS[config.mode.value],
        ),
        protocol=dataclasses.replace(protocol, order=protocol.for_mode(config.mode), timer=timer),
        canary=_canary(canary_spec, canary, canary_rate),
        results=tuple(_add_ref_ratios(rows, ref, config.resolution)),
        peak_tflops=peak,
        peak_source=peak_source,
        notes=tuple(notes),
    )


def _canary(spec: CanarySpec, timing: ItemResult, rate: list[float]) -> CanaryResult:
    return CanaryResult(
        name=spec.name,
        key=timing.key,
        spec=dataclasses.asdict(spec),
        status=timing.status,
        error=timing.error,
        calls_per_block=timing.calls_per_block,
        block_s=tuple(timing.block_s),
        calls_per_s=Summary.of(rate),
        gflops_per_call=timing.gflops_per_image,
        tflops_achieved=_tflops(timing.gflops_per_image, _median(rate)),
    )


def _result_row(
    r: ItemResult, config: ThroughputConfig, canary_rate: list[float], peak: float | None
) -> ThroughputResult:
    img_per_s = r.img_per_s
    median_img_s = _median(img_per_s)
    paired = [m / c for m, c in zip(img_per_s, canary_rate, strict=False) if c > 0]
    ms_per_forward = None
    if r.block_s and r.calls_per_block:
        ms_per_forward = _median([s / r.calls_per_block * 1000.0 for s in r.block_s])
    tflops = _tflops(r.gflops_per_image, median_img_s)
    ratio = None
    if median_img_s is not None and _median(canary_rate):
        ratio = median_img_s / _median(canary_rate)
    return ThroughputResult(
        key=r.key,
        model=r.model,
        variant=tuple(r.variant),
        status=r.status,
        error=r.error,
        checkpointing=r.checkpointing,
        cuda_graphs=r.cuda_graphs,
        batch_requested=r.batch_requested,
        batch=r.batch,
        batch_halved=bool(r.oom_retries),
        oom_retries=tuple(r.oom_retries),
        images_per_call=r.images_per_call,
        rows_per_call=r.rows_per_call,
        calls_per_block=r.calls_per_block,
        block_s=tuple(r.block_s),
        img_per_s=Summary.of(img_per_s),
        ms_per_forward=ms_per_forward,
        forward_calls_per_s=1000.0 / ms_per_forward if ms_per_forward else None,
        first_call_s=r.first_call_s,
        compile_s=r.first_call_s if config.compile else None,
        warmup_calls=r.warmup_calls,
        warmup_s=r.warmup_s,
        peak_mem_gib=r.peak_mem_gib,
        gflops_per_img=r.gflops_per_image,
        gmacs_per_img=r.gflops_per_image / 2 if r.gflops_per_image else None,
        flops_basis=r.flops_basis,
        tflops_achieved=tflops,
        mfu=tflops / peak if tflops is not None and peak else None,
        ratio_to_canary=ratio,
        ratio_to_canary_paired=Summary.of(paired),
    )


def _add_ref_ratios(
    rows: list[ThroughputResult], ref: str | None, resolution: int
) -> list[ThroughputResult]:
    """`ratio_to_ref` (measured, same variant basis) and `paper_ratio_to_ref` (published)."""

    ref_row = next((row for row in rows if row.model == ref and not row.variant), None)
    ref_rate = ref_row.img_per_s.median if ref_row else None
    ref_paper = get_spec(ref).published_value("throughput_it_s", resolution) if ref else None
    out = []
    for row in rows:
        rate = row.img_per_s.median
        paper = get_spec(row.model).published_value("throughput_it_s", resolution)
        out.append(
            dataclasses.replace(
                row,
                ratio_to_ref=rate / ref_rate if rate and ref_rate else None,
                paper_ratio_to_ref=paper / ref_paper if paper and ref_paper else None,
            )
        )
    return out


def _tflops(gflops_per_item: float | None, items_per_s: float | None) -> float | None:
    if gflops_per_item is None or items_per_s is None:
        return None
    return gflops_per_item * items_per_s / 1000.0
