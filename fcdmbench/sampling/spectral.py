"""Spectral energy of the predicted noise per diffusion timestep (FCDM paper, App. F, Figure 7).

For each clean latent x0 and timestep t: x_t = q_sample(x0, t, n) with a fixed per-sample noise n,
the network predicts eps (the first C output channels); the spectral energy is
sum over channels and frequencies of log(1 + |FFT2(eps)|), averaged over the samples. The paper
uses 128 validation images and all 1000 timesteps of 512 px models trained 400k iterations.

Choices the paper does not state, fixed here and recorded: x0 is the VAE posterior mean of the
images (x 0.18215); the noise n of a sample is the same at every timestep; labels come from the
image file's ``arr_1`` when present, else the null (unconditional) label; no guidance.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fcdmbench.checkpoints import load_checkpoint
from fcdmbench.env import collect_env
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.files import atomic_output
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.records._base import RunInfo, now_iso
from fcdmbench.records.io import write_record
from fcdmbench.records.sampling import SpectralCurve, SpectralRecord, SpectralSource
from fcdmbench.registry import create_model, get_spec

__all__ = ["SpectralConfig", "run_spectral", "spectral_energy"]


@dataclass(frozen=True)
class SpectralConfig:
    """Settings of one `fcdmbench analyze spectral` run.

    Args:
        models: registered names, one curve each.
        checkpoints: one per model (same order); empty with `smoke`.
        images: ADM-style npz of uint8 NHWC images (``arr_0``; optional ``arr_1`` labels).
        synthetic: use x0 ~ N(0, 1) latents instead of images (tests; stamped).
        every: timestep stride (1 = all 1000 steps, as the paper).
        out: output prefix: writes PREFIX.csv, .png, .svg and .json.
    """

    models: tuple[str, ...]
    out: Path
    checkpoints: tuple[Path, ...] = ()
    smoke: bool = False
    images: Path | None = None
    synthetic: bool = False
    vae: str | None = None
    num: int = 128
    every: int = 1
    batch_size: int = 32
    seed: int = 0
    resolution: int = 256
    device: str = "auto"
    overrides: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if not self.models:
            raise ConfigError("name at least one model")
        if self.smoke == bool(self.checkpoints):
            raise ConfigError(
                "give one --ckpt per model, or --smoke for random weights",
                hint="e.g. fcdmbench analyze spectral fcdm-xl --ckpt FCDM-XL.pt --images val.npz "
                "--vae ./sd-vae-ft-ema --out fig7, or add --smoke to try it on random weights",
            )
        if not self.smoke and len(self.checkpoints) != len(self.models):
            raise ConfigError(
                f"{len(self.models)} model(s) but {len(self.checkpoints)} --ckpt",
                hint="pass --ckpt once per model, in the same order",
            )
        if (self.images is None) == (not self.synthetic):
            raise ConfigError(
                "give exactly one of --images NPZ and --synthetic",
                hint="the paper uses 128 validation images: --images val.npz",
            )
        if self.num < 1 or self.every < 1 or self.batch_size < 1:
            raise ConfigError("num, every and batch_size must be >= 1")


def spectral_energy(eps):
    """(B, C, H, W) -> (B,): sum of log(1 + |FFT2|) over channels and frequencies (float64)."""
    import torch

    magnitude = torch.fft.fft2(eps.double(), dim=(-2, -1)).abs()
    return torch.log1p(magnitude).sum(dim=(1, 2, 3))


def _inputs(config: SpectralConfig, device, num_classes: int):
    import torch

    from fcdmbench.sampling.vae import encode_uint8, load_vae, random_vae

    channels, side, _ = get_spec(config.models[0]).input_shape(config.resolution)
    if config.synthetic:
        gen = torch.Generator().manual_seed(config.seed)
        x0 = torch.randn((config.num, channels, side, side), generator=gen)
        labels = np.full(config.num, num_classes, dtype=np.int64)
        return x0, labels, SpectralSource("synthetic N(0, 1) latents", "null")
    path = Path(config.images)
    if not path.is_file():
        raise InputError(f"images file {path} not found")
    with np.load(path) as data:
        if "arr_0" not in data.files:
            raise InputError(f"{path} has no arr_0 (ADM format)")
        images = data["arr_0"][: config.num]
        labels = data["arr_1"][: config.num].astype(np.int64) if "arr_1" in data.files else None
    if len(images) < config.num:
        raise InputError(f"{path} holds {len(images)} images, {config.num} requested")
    if images.shape[1] != config.resolution:
        raise InputError(
            f"{path} images are {images.shape[1]} px, --resolution is {config.resolution}"
        )
    vae = (
        random_vae(config.seed, device)
        if config.vae is None and config.smoke
        else load_vae(config.vae or "ema", device)
    )
    x0 = torch.cat(
        [
            encode_uint8(vae.module, images[i : i + config.batch_size], device).cpu()
            for i in range(0, len(images), config.batch_size)
        ]
    )
    label_note = "arr_1" if labels is not None else "null"
    if labels is None:
        labels = np.full(config.num, num_classes, dtype=np.int64)
    return x0, labels, SpectralSource("images", label_note, str(path.resolve()), vae.to_record())


def run_spectral(config: SpectralConfig, on_progress=None):
    """Compute the curves, write PREFIX.csv/.png/.svg/.json, return the `SpectralRecord`."""
    import torch

    from fcdmbench.sampling.diffusion import create_diffusion

    started = now_iso()
    device = torch.device("cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu")
    diffusion = create_diffusion(steps=None)
    timesteps = list(range(0, diffusion.num_steps, config.every))
    overrides = dict(config.overrides)
    curves: dict[str, dict[str, list[float]]] = {}
    weights: dict[str, str] = {}
    x0 = labels = source = None
    total = len(config.models) * len(timesteps)
    with torch.inference_mode():
        for m, name in enumerate(config.models):
            spec = get_spec(name)
            model = create_model(spec.name, resolution=config.resolution, **overrides)
            if config.smoke:
                model.load_state_dict(deterministic_state_dict(model.state_dict(), config.seed))
                weights[spec.name] = "random (smoke mode)"
            else:
                weights[spec.name] = load_checkpoint(model, spec, config.checkpoints[m])
            model = model.to(device).eval()
            num_classes = int(
                getattr(spec.config_for(config.resolution, **overrides), "num_classes", 1000)
            )
            if x0 is None:
                x0, labels, source = _inputs(config, device, num_classes)
                gen = torch.Generator().manual_seed(config.seed + 1)
                noise = torch.randn(x0.shape, generator=gen)
            means, stds = [], []
            for k, step in enumerate(timesteps):
                values = []
                for i in range(0, len(x0), config.batch_size):
                    xb = x0[i : i + config.batch_size].to(device)
                    t = torch.full((len(xb),), step, device=device, dtype=torch.long)
                    x_t = diffusion.q_sample(xb, t, noise[i : i + len(xb)].to(device))
                    y = torch.from_numpy(labels[i : i + len(xb)]).to(device)
                    eps = model(x_t, t, y)[:, : x0.shape[1]]
                    values.append(spectral_energy(eps).cpu())
                v = torch.cat(values)
                means.append(float(v.mean()))
                stds.append(float(v.std()) if len(v) > 1 else 0.0)
                if on_progress is not None:
                    on_progress(m * len(timesteps) + k + 1, total)
            curves[spec.name] = {"mean": means, "std": stds}
    warning = _figure_warning(config.smoke, source.kind)
    paths = _write_outputs(config.out, timesteps, curves, warning)
    record = SpectralRecord(
        run=RunInfo.current(started=started),
        env=collect_env(str(device)),
        models=tuple(curves),
        weights=weights,
        smoke=config.smoke,
        num_samples=config.num,
        timesteps=tuple(timesteps),
        resolution=config.resolution,
        seed=config.seed,
        source=source,
        curves={k: SpectralCurve(tuple(c["mean"]), tuple(c["std"])) for k, c in curves.items()},
        definition="mean over samples of "
        "sum_{c,u,v} log(1 + |FFT2(eps_c)|(u, v)); eps = first C output channels",
        checkpoints=tuple(str(p) for p in config.checkpoints),
        overrides=overrides,
        files={k: str(v) for k, v in paths.items()},
        rng="fcdmbench",
    )
    write_record(paths["json"], record)
    return record


def _figure_warning(smoke: bool, source_kind: str) -> str | None:
    """The banner a figure from random weights or synthetic latents carries (None: real run)."""
    parts = []
    if smoke:
        parts.append("RANDOM WEIGHTS (--smoke): not a trained model")
    if source_kind.startswith("synthetic"):
        parts.append("synthetic N(0, 1) latents, not images")
    return "; ".join(parts) or None


def _write_outputs(
    prefix: Path, timesteps: list[int], curves: dict, warning: str | None = None
) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {
        ext: prefix.with_name(prefix.name + "." + ext) for ext in ("csv", "png", "svg", "json")
    }
    with atomic_output(paths["csv"]) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestep"] + [f"{m}_{s}" for m in curves for s in ("mean", "std")])
        for i, step in enumerate(timesteps):
            row = [step]
            for c in curves.values():
                row += [f"{c['mean'][i]:.6f}", f"{c['std'][i]:.6f}"]
            writer.writerow(row)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in curves.items():
        ax.plot(timesteps, c["mean"], label=name)
    ax.set_xlabel("diffusion timestep t")
    ax.set_ylabel("spectral energy  Σ log(1 + |FFT(ε̂)|)")
    ax.set_title("Spectral energy of predicted noise")
    ax.legend()
    if warning:  # on the figure itself, not only the console: PNGs travel without their logs
        ax.text(
            0.5,
            0.5,
            warning.replace("; ", "\n"),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color="red",
            alpha=0.6,
            weight="bold",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "red"},
        )
        ax.set_title("Spectral energy of predicted noise (not the paper's setting)", color="red")
    fig.tight_layout()
    with atomic_output(paths["png"]) as tmp:
        fig.savefig(tmp, dpi=150)
    with atomic_output(paths["svg"]) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return paths
