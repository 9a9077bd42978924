"""The Stable Diffusion VAE every model here samples through (diffusers ``AutoencoderKL``).

Latents are divided by 0.18215 before decoding, and decoded images map to uint8 exactly as DiT's
``sample_ddp.py`` does before the ADM evaluator sees them: ``clamp(127.5 x + 128, 0, 255)`` then a
truncating cast, NHWC.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fcdmbench.errors import InputError, require
from fcdmbench.files import file_sha256
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.records.sampling import VAEInfo

__all__ = [
    "LATENT_SCALE",
    "VAE_NAMES",
    "LoadedVAE",
    "decode_to_uint8",
    "encode_uint8",
    "load_vae",
    "random_vae",
    "tiny_vae",
]

#: The SD VAE's latent scale factor (DiT, DiC, DiCo, FCDM all use it).
LATENT_SCALE = 0.18215
#: Short names accepted for `--vae` (as DiT's `--vae ema|mse`).
VAE_NAMES = {"ema": "stabilityai/sd-vae-ft-ema", "mse": "stabilityai/sd-vae-ft-mse"}
_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


@dataclass(frozen=True, slots=True)
class LoadedVAE:
    """A VAE module and what to record about it."""

    module: torch.nn.Module
    source: str  # what the user asked for
    resolved: str  # local folder or hub id actually loaded
    weights_sha256: str | None  # of the weight file, when loaded from a folder
    is_random: bool = False

    def to_record(self) -> VAEInfo:
        return VAEInfo(
            source=self.source,
            resolved=self.resolved,
            weights_sha256=self.weights_sha256,
            random_weights=self.is_random,
            latent_scale=LATENT_SCALE,
            decode="uint8(clamp(127.5 * x + 128, 0, 255)), NHWC",
        )


def load_vae(source: str, device: torch.device | str = "cpu") -> LoadedVAE:
    """Load an ``AutoencoderKL`` from a local folder, a short name (``ema``, ``mse``) or a hub id.

    Raises:
        MissingExtraError: diffusers is not installed.
        InputError: the folder holds no VAE, or the hub cannot be reached.
    """
    diffusers = require("diffusers", "sample", "decoding latents with the SD VAE")
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            vae = diffusers.AutoencoderKL.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"no diffusers AutoencoderKL in {path}: {exc}",
                hint="the folder needs config.json and diffusion_pytorch_model.safetensors",
            ) from exc
        weights = next((path / f for f in _WEIGHT_FILES if (path / f).is_file()), None)
        sha = file_sha256(weights) if weights else None
        return LoadedVAE(vae.to(device).eval(), source, str(path.resolve()), sha)
    if path.exists() or source.startswith((".", "/", "~")):
        raise InputError(f"VAE path {source} is not a folder")
    name = VAE_NAMES.get(source, source)
    try:
        vae = diffusers.AutoencoderKL.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 - network and hub errors all mean the same to a user
        raise InputError(
            f"cannot load VAE {name!r} from the hub: {exc}",
            hint="without a network, save it once with AutoencoderKL.save_pretrained(DIR) and "
            "pass --vae DIR",
        ) from exc
    return LoadedVAE(vae.to(device).eval(), source, name, None)


def tiny_vae(seed: int = 0) -> torch.nn.Module:
    """A tiny AutoencoderKL (factor 8, 4 latent channels) with seeded deterministic weights.

    The weights come from `fcdmbench.parity.deterministic_state_dict` (float64 draws per tensor),
    so they are the same on every CPU, torch and diffusers version; torch's global generator is
    left untouched.
    """

    diffusers = require("diffusers", "sample", "decoding latents with the SD VAE")
    with torch.random.fork_rng(devices=[]):
        vae = diffusers.AutoencoderKL(**TINY_VAE_CONFIG)
    vae.load_state_dict(deterministic_state_dict(vae.state_dict(), seed=seed))
    return vae.eval()


def random_vae(seed: int = 0, device: torch.device | str = "cpu") -> LoadedVAE:
    """`tiny_vae` for smoke runs (recorded as random weights)."""
    vae = tiny_vae(seed)
    return LoadedVAE(vae.to(device).eval(), "random-tiny", "random-tiny", None, is_random=True)


#: Four blocks (three downsamplings: factor 8), 8 channels each: ~30k parameters.
TINY_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(8, 8, 8, 8),
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=4,
    sample_size=32,
)


@torch.no_grad()
def decode_to_uint8(vae: torch.nn.Module, latents: torch.Tensor) -> np.ndarray:
    """(B, 4, h, w) scaled latents -> (B, 8h, 8w, 3) uint8 images, DiT's mapping."""
    images = vae.decode(latents.float() / LATENT_SCALE).sample
    images = torch.clamp(127.5 * images + 128.0, 0, 255).permute(0, 2, 3, 1)
    return images.to("cpu", dtype=torch.uint8).numpy()


@torch.no_grad()
def encode_uint8(
    vae: torch.nn.Module, images: np.ndarray, device: torch.device | str
) -> torch.Tensor:
    """(B, H, W, 3) uint8 images -> scaled latents (posterior mean x 0.18215)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(
            f"images must be uint8 NHWC with 3 channels, got {images.dtype} {images.shape}"
        )
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return vae.encode(x).latent_dist.mean * LATENT_SCALE
