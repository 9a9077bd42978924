"""`EvalConfig`: what `fcdmbench eval` evaluates and how (checked by `preflight_eval`, run by
`evaluate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcdmbench.errors import ConfigError, UnknownModelError
from fcdmbench.evaluation.dinov2.fd_dinov2 import ADM_METRICS, Metric
from fcdmbench.evaluation.dinov2.network import ResizeMode
from fcdmbench.evaluation.distance import DistanceBackend
from fcdmbench.evaluation.inception.backends import EvalDevice, InceptionBackend
from fcdmbench.evaluation.metrics import SqrtmMethod
from fcdmbench.registry import resolve

__all__ = ["EvalConfig", "canonical_model"]


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """What to evaluate and how.

    Args:
        model: registry name of the model that made the samples, when no sample record says it
            (a sample record naming another model is an error).
        training_steps: training iterations of the checkpoint (puts the result in the report's
            row for that many steps).
        meta: settings given by the user (``--meta steps=250,cfg=1.5``), recorded as given.
        backend: the engine that runs ADM's Inception graph (`InceptionBackend`).
        device: where the torch backend runs.
    """

    samples: Path
    ref: str = "imagenet256"
    num: int = 50_000
    allow_fewer: bool = False
    batch_size: int = 64
    split_size: int = 5000
    k: int = 3
    sqrtm: SqrtmMethod = SqrtmMethod.ADM
    distance: DistanceBackend = DistanceBackend.ADM
    inception_path: Path | None = None
    reference_dir: Path | None = None
    cache_dir: Path | None = None
    sample_record: Path | None = None
    model: str | None = None
    training_steps: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    backend: InceptionBackend = InceptionBackend.TORCH
    device: EvalDevice = EvalDevice.CPU
    # FD-DINOv2 (issue 32; docs/evaluation.md "FD-DINOv2"): which metrics, the weights (None:
    # $FCDMBENCH_DINOV2 or the manifest), the resize, and an optional reference for it alone
    # (an edm2 .pkl or an npz; None: the images of `ref`).
    metrics: tuple[Metric, ...] = ADM_METRICS
    dinov2_path: Path | None = None
    dinov2_resize: ResizeMode = ResizeMode.TORCH
    dinov2_ref: Path | None = None

    @property
    def wants_fd_dinov2(self) -> bool:
        return Metric.FD_DINOV2 in self.metrics

    @property
    def steps(self) -> int | None:
        """The checkpoint's training steps: ``training_steps``, else an integer
        ``training_steps`` given in ``meta``, else None."""
        if self.training_steps is None and isinstance(self.meta.get("training_steps"), int):
            return self.meta["training_steps"]
        return self.training_steps

    def __post_init__(self) -> None:
        for name in ("num", "batch_size", "split_size", "k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name, kind in (
            ("sqrtm", SqrtmMethod),
            ("distance", DistanceBackend),
            ("backend", InceptionBackend),
            ("device", EvalDevice),
        ):
            if not isinstance(getattr(self, name), kind):
                value = getattr(self, name)
                raise ConfigError(f"{name} must be a {kind.__name__} member, not {value!r}")


def canonical_model(name: Any, what: str) -> str:
    """The registry name of the model `name`; an unknown one is a `ConfigError` naming `what`
    (the option that gave it: ``"--model"``)."""
    try:
        return resolve(str(name))[0].name
    except UnknownModelError as exc:
        raise ConfigError(f"{what}: {exc.message}", hint=exc.hint) from None
