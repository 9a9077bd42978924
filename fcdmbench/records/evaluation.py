"""``fcdmbench.eval/2``: ADM-compatible metrics of one samples ``.npz`` and what produced it.

``model`` (a registry name) and ``sampler`` come from the ``samples.npz.json`` record that
`fcdmbench sample` wrote beside the npz, or from ``--model`` / ``--meta`` when there is none; the
report places an eval record in a table row by model, resolution, training steps and guidance.
``mode`` says whether every stage was ADM-exact; ``num_samples`` below 50,000 (the papers' FID-50K)
or a smoke sample makes a value incomparable with a published one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.records._base import Record, RunInfo
from fcdmbench.records.sampling import SampleRecord

__all__ = ["EvalRecord", "SamplerSettings", "PAPER_NUM_SAMPLES"]

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
        vae = record.vae.get("resolved") or record.vae.get("source")
        return cls(
            source=source,
            name=record.sampler.name,
            steps=record.sampler.steps,
            cfg_scale=record.cfg.scale,
            seed=record.seed,
            precision=record.precision.mode,
            vae=None if vae is None else str(vae),
            smoke=record.smoke,
            checkpoint_sha256=record.checkpoint.get("sha256"),
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
class EvalRecord(Record):
    """One `fcdmbench eval` run (metrics are None only if they could not be computed)."""

    SCHEMA: ClassVar[str] = "fcdmbench.eval/2"

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
    mode: dict[str, str]
    samples: dict[str, Any]
    reference: dict[str, Any]
    inception: dict[str, Any]
    model: str | None = None
    model_source: str | None = None  # "sample record", "--model" or "--meta"
    training_steps: int | None = None
    sampler: SamplerSettings | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    sample_record: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    tensorflow: dict[str, Any] | None = None

    @property
    def cfg_scale(self) -> float | None:
        return None if self.sampler is None else self.sampler.cfg_scale

    @property
    def is_adm_exact(self) -> bool:
        return self.mode.get("adm_exact") == "true"

    @property
    def is_paper_protocol(self) -> bool:
        """FID-50K, ADM-exact, against an ADM reference batch, from trained weights."""
        smoke = self.sampler is not None and bool(self.sampler.smoke)
        ref = str(self.reference.get("name_or_path", ""))
        return (
            self.num_samples >= PAPER_NUM_SAMPLES
            and self.is_adm_exact
            and ref.startswith("imagenet")
            and not smoke
        )
