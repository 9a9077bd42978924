"""Preflights of `fcdmbench sample` and `fcdmbench analyze spectral`: names, checkpoints, the VAE,
images, outputs and the device, all problems at once, before torch is imported."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fcdmbench.checkpoints import check_checkpoint_format
from fcdmbench.errors import ConfigError
from fcdmbench.evaluation.npz import inspect_images
from fcdmbench.preflight import (
    Preflight,
    check_cuda,
    check_input_file,
    check_output,
    check_vae_folder,
)
from fcdmbench.registry import get_spec

__all__ = ["preflight_sample", "preflight_spectral"]


def preflight_sample(
    *,
    model: str,
    out: Path,
    ckpt: Path | None,
    smoke: bool,
    vae: str | None,
    device: str,
    resolution: int,
) -> None:
    """Check `fcdmbench sample`'s inputs before torch is imported or a model is built.

    Checks the model name and its resolution, exactly one of --ckpt and --smoke, the checkpoint
    file, the VAE folder, the output path (.npz, the output-path rule) and, for --device cuda,
    that CUDA exists (the only check that imports torch).
    """

    pf = Preflight()
    spec = pf.check(get_spec, model)
    if spec is not None:
        pf.check(spec.input_shape, resolution)
    if smoke == (ckpt is not None):
        pf.add(
            ConfigError(
                "give exactly one of --ckpt PATH and --smoke",
                hint="--smoke samples from random weights (for tests; stamped in the output)",
            )
        )
    if ckpt is not None and pf.check(
        check_input_file,
        ckpt,
        "checkpoint",
        hint="check --ckpt (an upstream .pt or a fcdmbench checkpoint)",
    ):
        pf.check(check_checkpoint_format, ckpt)
    if not smoke:
        pf.check(check_vae_folder, vae)
    out = Path(out)
    if out.suffix != ".npz":
        pf.add(ConfigError(f"--out must end in .npz, got {out}", hint=f"e.g. --out {out.stem}.npz"))
    else:
        pf.check(check_output, out)
    pf.check(check_cuda, device)  # imports torch, for --device cuda only
    pf.raise_all()


def preflight_spectral(
    *,
    models: Iterable[str],
    ckpts: Iterable[Path],
    images: Path | None,
    vae: str | None,
    device: str,
    out: Path,
) -> None:
    """`fcdmbench analyze spectral`: names, checkpoints, images, VAE, device and the 4 outputs."""

    pf = Preflight()
    for model in models:
        pf.check(get_spec, model)
    for ckpt in ckpts:
        if pf.check(check_input_file, ckpt, "checkpoint", hint="check --ckpt (one per model)"):
            pf.check(check_checkpoint_format, ckpt)
    if images is not None:
        pf.check(inspect_images, images)
        pf.check(check_vae_folder, vae)
    before = len(pf.problems)
    for ext in ("json", "csv", "png", "svg"):  # one folder: its fault is reported once
        pf.check(check_output, Path(out).with_name(f"{Path(out).name}.{ext}"))
        if len(pf.problems) > before:
            break
    pf.check(check_cuda, device)
    pf.raise_all()
