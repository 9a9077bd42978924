"""``fcdmbench.eval/3``: ADM-compatible metrics of one samples ``.npz`` and what produced it.

``model`` (a registry name) and ``sampler`` come from the ``samples.npz.json`` record that
`fcdmbench sample` wrote beside the npz, or from ``--model`` / ``--meta`` when there is none; the
report places an eval record in a table row by model, resolution, training steps and guidance.
``mode`` says whether every stage was ADM-exact; ``num_samples`` below 50,000 (the papers' FID-50K)
or a smoke sample makes a value incomparable with a published one.

Version 3 stores ``mode.adm_exact`` as a JSON bool (version 2 had the string ``"true"``) and names
each timing for what it measures (version 2's ``hash_s`` also held TensorFlow's import and the
Inception graph's build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.records._base import Record, RunInfo
from fcdmbench.records.sampling import SampleRecord

__all__ = [
    "CrossCheckRecord",
    "EvalMode",
    "EvalRecord",
    "EvalTimings",
    "FDDinoV2Result",
    "InceptionGraph",
    "MetricPair",
    "OutputDifference",
    "PAPER_NUM_SAMPLES",
    "ReferenceFile",
    "SamplerSettings",
    "SamplesFile",
    "TensorFlowInfo",
]

#: The papers' FID-50K: metrics on fewer samples are not comparable with published ones.
PAPER_NUM_SAMPLES = 50_000


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """What moves FID, as far as it is known (`source`: the sample record's path or "--meta")."""

    source: str
    name: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    precision: str | None = None
    vae: str | None = None
    smoke: bool | None = None
    checkpoint_sha256: str | None = None
    network_evaluations_per_image: int | None = None
    rng: str | None = None

    @property
    def is_guided(self) -> bool:
        return self.cfg_scale is not None and self.cfg_scale > 1.0

    @classmethod
    def from_sample_record(cls, record: SampleRecord, source: str) -> SamplerSettings:
        vae = record.vae.resolved or record.vae.source
        return cls(
            source=source,
            name=record.sampler.name,
            steps=record.sampler.steps,
            cfg_scale=record.cfg.scale,
            seed=record.seed,
            precision=record.precision.mode,
            vae=vae,
            smoke=record.smoke,
            checkpoint_sha256=record.checkpoint.sha256,
            network_evaluations_per_image=record.sampler.network_evaluations_per_image,
            rng=record.rng,
        )

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> SamplerSettings | None:
        """Settings given as ``--meta steps=250,cfg=1.5,...``; None when none is recognised."""

        def pick(*keys):
            return next((meta[k] for k in keys if meta.get(k) is not None), None)

        values = {
            "name": pick("sampler"),
            "steps": pick("steps", "sampling_steps"),
            "cfg_scale": pick("cfg_scale", "cfg"),
            "seed": pick("seed"),
            "precision": pick("precision"),
            "vae": pick("vae"),
        }
        if all(v is None for v in values.values()):
            return None
        return cls(
            source="--meta",
            name=None if values["name"] is None else str(values["name"]),
            steps=values["steps"] if isinstance(values["steps"], int) else None,
            cfg_scale=(
                float(values["cfg_scale"])
                if isinstance(values["cfg_scale"], (int, float))
                else None
            ),
            seed=values["seed"] if isinstance(values["seed"], int) else None,
            precision=None if values["precision"] is None else str(values["precision"]),
            vae=None if values["vae"] is None else str(values["vae"]),
        )


@dataclass(frozen=True, slots=True)
class EvalMode:
    """How the metric stages ran.

    `sqrtm` and `distance` are the methods asked for; `sqrtm_fallback` says where ``eigh`` was
    replaced by ADM's exact square root because a covariance was singular (None: it was not);
    `adm_exact`: every stage reproduced ADM's evaluator bit for bit; `mirrored_products`: the
    block shapes whose ``V U^T`` was checked against ``(U V^T)^T`` and reused only where equal;
    `inexact_distance_blocks`: distance blocks that overflowed float16 and were recomputed in
    torch float32 rather than by ADM's TensorFlow graph (the torch backend never imports
    TensorFlow), which makes the run not ADM-exact.
    """

    sqrtm: str
    distance: str
    adm_exact: bool
    mirrored_products: str = "not used"
    sqrtm_fallback: str | None = None
    inexact_distance_blocks: int = 0


@dataclass(frozen=True, slots=True)
class SamplesFile:
    """The evaluated npz: content hash, image size, whether its activations came from the cache."""

    path: str
    sha256: str
    resolution: tuple[int, int]
    activations_cached: bool


@dataclass(frozen=True, slots=True)
class ReferenceFile:
    """The reference batch as given (`name_or_path`) and as used.

    `sha256_status`: the manifest check (``ok``, or ``not in manifest`` for a path); `stats`:
    whether its FID statistics were stored in the file (as ADM uses them) or computed here.
    """

    name_or_path: str
    path: str
    sha256: str
    sha256_status: str
    stats: str
    activations_cached: bool


@dataclass(frozen=True, slots=True)
class InceptionGraph:
    """The Inception graph that made the activations (`extractor_id` keys the cache).

    `backend`: the engine that ran it (``torch`` or ``tensorflow``; records written before the
    torch backend existed were all ``tensorflow``); `device`: where (``cpu``, ``cuda``; the
    TensorFlow backend places the graph itself, see the record's ``tensorflow.gpus``).
    """

    path: str
    sha256: str
    extractor_id: str
    batch_size: int
    backend: str = "tensorflow"
    device: str = "cpu"


@dataclass(frozen=True, slots=True)
class EvalTimings:
    """Seconds per stage, each named for what it measures.

    `checks_s`: the preflight (headers, manifest, records); `hash_s`: sha256 of the samples and
    of the reference batch; `inception_load_s`: the graph's sha256 checks, TensorFlow's import and
    the graph build (0 when the caller passed an extractor); `extract_s`: activations of both
    sets (or reading them from the cache); `fid_sfid_s`, `inception_score_s`,
    `precision_recall_s`: the metrics.
    """

    checks_s: float = 0.0
    hash_s: float = 0.0
    inception_load_s: float = 0.0
    extract_s: float = 0.0
    fid_sfid_s: float = 0.0
    inception_score_s: float = 0.0
    precision_recall_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TensorFlowInfo:
    """TensorFlow's version and the GPUs it saw (the Inception graph runs there)."""

    version: str
    gpus: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FDDinoV2Result:
    """FD-DINOv2 (Stein et al. 2023, as NVlabs/edm2 computes it) and what produced it.

    `weights_status`: the manifest's sha256 check of the weights (``ok``, ``unverified``, ``not
    in manifest`` for a ``--dinov2`` path); `ref_source`: ``images of <npz>`` (statistics computed
    here from `num_ref` images) or ``stats in <pkl>`` (edm2's published statistics, `num_ref` 0:
    unknown); `resize`: ``torch`` or ``pil`` (docs/evaluation.md, "FD-DINOv2").
    """

    value: float
    weights_path: str
    weights_sha256: str
    weights_status: str
    extractor_id: str
    resize: str
    num_samples: int
    num_ref: int
    ref_source: str
    ref_sha256: str
    samples_cached: bool = False
    ref_cached: bool = False
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class EvalRecord(Record):
    """One `fcdmbench eval` run (metrics are None only if they could not be computed)."""

    SCHEMA: ClassVar[str] = "fcdmbench.eval/3"

    run: RunInfo
    env: EnvInfo
    inception_score: float | None
    fid: float | None
    sfid: float | None
    precision: float | None
    recall: float | None
    num_samples: int
    num_available: int
    num_ref: int
    allow_fewer: bool
    resolution: int
    mode: EvalMode
    samples: SamplesFile
    reference: ReferenceFile
    inception: InceptionGraph
    model: str | None = None
    model_source: str | None = None  # "sample record", "--model" or "--meta"
    training_steps: int | None = None
    sampler: SamplerSettings | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    sample_record: str | None = None
    timings_s: EvalTimings = EvalTimings()
    tensorflow: TensorFlowInfo | None = None
    # FD-DINOv2 (issue 32): None when not requested (every record written before it).
    fd_dinov2: FDDinoV2Result | None = None
    metrics_requested: tuple[str, ...] = ("fid", "sfid", "is", "pr")
    notes: tuple[str, ...] = ()  # e.g. what a one-pass `sample --eval` could not compute

    @property
    def cfg_scale(self) -> float | None:
        return None if self.sampler is None else self.sampler.cfg_scale

    @property
    def is_adm_exact(self) -> bool:
        return self.mode.adm_exact

    @property
    def is_paper_protocol(self) -> bool:
        """FID-50K, ADM-exact, against an ADM reference batch, from trained weights."""
        smoke = self.sampler is not None and bool(self.sampler.smoke)
        ref = self.reference.name_or_path
        return (
            self.num_samples >= PAPER_NUM_SAMPLES
            and self.is_adm_exact
            and ref.startswith("imagenet")
            and not smoke
        )


@dataclass(frozen=True, slots=True)
class OutputDifference:
    """How far the torch backend's values of one output are from TensorFlow's.

    `max_abs`: the largest absolute difference; `max_rel`: that over the largest absolute
    TensorFlow value of the output (a scale-free figure); `tolerance`: the bound on `max_rel` the
    validation measured (docs/evaluation.md), `within` whether it held.
    """

    name: str
    max_abs: float
    max_rel: float
    tolerance: float
    within: bool


@dataclass(frozen=True, slots=True)
class MetricPair:
    """One metric computed from each backend's features, and their relative difference."""

    name: str
    torch: float
    tensorflow: float
    rel_diff: float
    tolerance: float
    within: bool


@dataclass(frozen=True, slots=True)
class CrossCheckRecord(Record):
    """``fcdmbench eval --cross-check``: both Inception backends on the same images.

    The metrics compare the first half of the images with the second half (FID, sFID) and score
    all of them (Inception Score), once from each backend's features: no reference batch is
    needed. `agrees`: every difference within its tolerance.
    """

    SCHEMA: ClassVar[str] = "fcdmbench.cross-check/1"

    run: RunInfo
    env: EnvInfo
    samples: SamplesFile
    inception: InceptionGraph
    num_images: int
    outputs: tuple[OutputDifference, ...]
    metrics: tuple[MetricPair, ...]
    tensorflow: TensorFlowInfo | None = None

    @property
    def agrees(self) -> bool:
        return all(o.within for o in self.outputs) and all(m.within for m in self.metrics)
