"""The network and the VAE of a sampling run, and what to record about them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fcdmbench.checkpoints import WEIGHT_KEYS, load_checkpoint, read_checkpoint
from fcdmbench.files import file_sha256
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.records.sampling import CheckpointInfo
from fcdmbench.registry import create_model
from fcdmbench.sampling.config import SampleConfig
from fcdmbench.sampling.vae import load_vae, random_vae

__all__ = ["load_network", "load_sampling_vae", "network_overrides"]


def network_overrides(spec: Any, config: SampleConfig) -> dict[str, Any]:
    """`--set` overrides, plus ``learn_sigma=False`` for flow samplers (velocity-only outputs)."""
    overrides = dict(config.overrides)
    names = {f.name for f in dataclasses.fields(spec.config)}
    if config.sampler.is_flow and "learn_sigma" in names and "learn_sigma" not in overrides:
        overrides["learn_sigma"] = False
    return overrides


def load_network(spec: Any, config: SampleConfig, overrides: dict, device: Any) -> tuple:
    """Build the model, load its weights (EMA when present), move it to `device`, eval mode.

    Returns:
        (model, checkpoint info for the record: path, sha256, weights_used, weights_available,
        smoke).

    Raises:
        InputError: missing or unreadable checkpoint, or one that does not fit the model.
    """

    model = create_model(spec.name, resolution=config.resolution, **overrides)
    if config.smoke:
        model.load_state_dict(deterministic_state_dict(model.state_dict(), seed=config.seed))
        info = CheckpointInfo(None, None, "random (smoke mode)", smoke=True)
    else:
        path = Path(config.checkpoint)
        obj = read_checkpoint(path)
        info = CheckpointInfo(
            path=str(path.resolve()),
            sha256=file_sha256(path),
            weights_used=load_checkpoint(model, spec, obj),
            weights_available=tuple(k for k in WEIGHT_KEYS if isinstance(obj, dict) and k in obj),
        )
    return model.to(device).eval(), info


def load_sampling_vae(config: SampleConfig, device: Any):
    """`--vae`, or the tiny random VAE in smoke mode without one (a `LoadedVAE`)."""

    if config.vae is None and config.smoke:
        return random_vae(config.seed, device)
    return load_vae(config.vae or "ema", device)
