"""Build the ``fcdmbench.throughput/2`` record of a run (docs/throughput.md, "Records").

`ThroughputReport` holds a finished run's raw timings; `ThroughputReport.to_record` derives
images/s, ratios, TFLOP/s and MFU and returns the typed `fcdmbench.records.ThroughputRecord`
(layout and units: `fcdmbench.records.throughput`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcdmbench.devices import peak_tflops
from fcdmbench.errors import UnknownModelError
from fcdmbench.records._base import RunInfo
from fcdmbench.records.throughput import (
    CanaryResult,
    ProtocolSettings,
    Summary,
    ThroughputRecord,
    ThroughputResult,
    ThroughputSettings,
)
from fcdmbench.registry import DEFAULT_REF, get_spec

__all__ = ["SCHEMA", "ThroughputReport", "default_record_path", "resolve_ref"]

SCHEMA = ThroughputRecord.SCHEMA

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


@dataclass(frozen=True, slots=True)
class ThroughputReport:
    """A finished run: configuration, environment, raw timings; `to_record()` derives the rest."""

    config: Any
    env: Any
    precision_state: Any
    timer: str
    canary_spec: Any
    canary: Any
    results: list[Any]
    ref: str | None = None
    notes: list[str] = field(default_factory=list)
    run: RunInfo | None = None
    sdpa: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> ThroughputRecord:
        """The complete, typed record of this run."""

        cfg = self.config
        peak, peak_source = peak_tflops(self.env.device_slug, cfg.precision.peak_basis)
        canary_rate = [self.canary.calls_per_block / s for s in self.canary.block_s if s > 0]
        canary = CanaryResult(
            name=self.canary_spec.name,
            key=self.canary.key,
            spec=dataclasses.asdict(self.canary_spec),
            status=self.canary.status,
            error=self.canary.error,
            calls_per_block=self.canary.calls_per_block,
            block_s=tuple(self.canary.block_s),
            calls_per_s=Summary.of(canary_rate),
            gflops_per_call=self.canary.gflops_per_image,
            tflops_achieved=_tflops(self.canary.gflops_per_image, _median(canary_rate)),
        )
        rows = [self._result_row(r, canary_rate, peak) for r in self.results]
        state = {
            k: v for k, v in dataclasses.asdict(self.precision_state).items() if k != "precision"
        }
        protocol = cfg.protocol
        return ThroughputRecord(
            run=self.run or RunInfo.current(),
            env=self.env,
            config=ThroughputSettings(
                models=tuple(cfg.models),
                mode=cfg.mode.value,
                device=cfg.device,
                device_type=self.env.device_type,
                precision=cfg.precision.value,
                batch=cfg.batch,
                resolution=cfg.resolution,
                cfg=cfg.cfg,
                **state,
                sdpa=dict(self.sdpa),
                channels_last=cfg.channels_last,
                compile=cfg.compile_mode,
                cuda_graphs=cfg.cuda_graphs,
                fcdm_checkpointing=tuple(cfg.fcdm_variants),
                grad_checkpointing=cfg.grad_checkpointing,
                ref=self.ref,
                unit=UNITS[cfg.mode.value],
            ),
            protocol=ProtocolSettings(
                warmup_calls=protocol.warmup_calls,
                warmup_s=protocol.warmup_s,
                blocks=protocol.blocks,
                min_block_s=protocol.min_block_s,
                pause_s=protocol.pause_s,
                block_warmup_calls=protocol.block_warmup_calls,
                order=cfg.order.value,
                timer=self.timer,
            ),
            canary=canary,
            results=tuple(self._add_ref_ratios(rows)),
            peak_tflops=peak,
            peak_source=peak_source,
            notes=tuple(self.notes),
        )

    def _result_row(self, r: Any, canary_rate: list[float], peak: float | None) -> ThroughputResult:
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
            compile_s=r.first_call_s if self.config.compile_mode else None,
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

    def _add_ref_ratios(self, rows: list[ThroughputResult]) -> list[ThroughputResult]:
        """`ratio_to_ref` (measured, same variant basis) and `paper_ratio_to_ref` (published)."""

        ref_row = next((row for row in rows if row.model == self.ref and not row.variant), None)
        ref_rate = ref_row.img_per_s.median if ref_row else None
        res = self.config.resolution
        ref_paper = get_spec(self.ref).published_value("throughput_it_s", res) if self.ref else None
        out = []
        for row in rows:
            rate = row.img_per_s.median
            paper = get_spec(row.model).published_value("throughput_it_s", res)
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
