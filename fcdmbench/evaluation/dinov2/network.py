"""DINOv2 ViT/14 feature extractor for FD-DINOv2 (Stein et al. 2023, arXiv 2306.04675).

The network is facebookresearch/dinov2 ``dinov2_vitl14`` (b8931f7,
``dinov2/models/vision_transformer.py`` with ``init_values`` set, i.e. layer scale; no
registers, ``interpolate_offset`` 0.1, no antialias on the position-embedding resize),
reimplemented in plain torch with the official checkpoint's key layout, so
``dinov2_vitl14_pretrain.pth`` loads with ``strict=True``. The feature is the final LayerNorm's
class token (1024-d for ViT-L), what the upstream model returns from ``forward``.

Preprocessing follows NVlabs/edm2 4bf8162 ``calculate_metrics.py`` ``DINOv2Detector``: a bicubic
resize of the uint8 images to 224x224, either with PIL (``pil``: what layer6ai-labs/dgm-eval
74c79f7 does through torchvision's ``Resize`` on PIL images) or with torch's antialiased
``interpolate`` (``torch``: fast, edm2's default); then ``/255`` and ImageNet mean/std.

timm's ViT was the first choice for the network, but timm 1.x imports torchvision at import time
and needs a torchvision build matching torch; this plain-torch module avoids that
dependency, and the parity test (tests/evaluation/test_dinov2.py) checks it against upstream.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcdmbench.errors import InputError

__all__ = [
    "DINOV2_TINY",
    "DINOV2_VITL14",
    "DINOV2_VITS14",
    "DinoV2Config",
    "DinoV2Extractor",
    "ResizeMode",
    "build_dinov2",
    "load_dinov2_state_dict",
    "preprocess_images",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224
EXTRACTOR_VERSION = 1  # bump when the features for the same weights change


class ResizeMode(enum.Enum):
    """How images are resized to 224x224 (edm2 ``DINOv2Detector(resize_mode=...)``)."""

    TORCH = "torch"
    PIL = "pil"


@dataclass(frozen=True, slots=True)
class DinoV2Config:
    """Architecture of one DINOv2 ViT (upstream ``vit_small``/``vit_large`` with hub defaults)."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int = 14
    img_size: int = 518  # the position embedding is a 37x37 grid (+ class token)
    mlp_ratio: int = 4
    interpolate_offset: float = 0.1

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size


DINOV2_VITL14 = DinoV2Config("dinov2-vitl14", embed_dim=1024, depth=24, num_heads=16)
DINOV2_VITS14 = DinoV2Config("dinov2-vits14", embed_dim=384, depth=12, num_heads=6)
#: A two-block ViT/14 for fast tests: the same code path as ViT-L at a fraction of the cost.
DINOV2_TINY = DinoV2Config("dinov2-tiny", embed_dim=64, depth=2, num_heads=4)


def _modules():
    """The torch modules, defined on first use (``import fcdmbench`` does not import torch)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class LayerScale(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * self.gamma

    class Attention(nn.Module):
        def __init__(self, dim: int, num_heads: int) -> None:
            super().__init__()
            self.num_heads = num_heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape  # (B, N, C)
            qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
            q, k, v = (t.transpose(1, 2) for t in torch.unbind(qkv, 2))
            x = F.scaled_dot_product_attention(q, k, v)
            return self.proj(x.transpose(1, 2).contiguous().view(b, n, c))

    class Mlp(nn.Module):
        def __init__(self, dim: int, hidden: int) -> None:
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self, cfg: DinoV2Config) -> None:
            super().__init__()
            dim = cfg.embed_dim
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention(dim, cfg.num_heads)
            self.ls1 = LayerScale(dim)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = Mlp(dim, dim * cfg.mlp_ratio)
            self.ls2 = LayerScale(dim)

        def forward(self, x):
            x = x + self.ls1(self.attn(self.norm1(x)))
            return x + self.ls2(self.mlp(self.norm2(x)))

    return torch, nn, F, Block


def build_dinov2(config: DinoV2Config = DINOV2_VITL14):
    """The DINOv2 network (eval mode, no gradients), parameters uninitialised (zeros/ones)."""
    torch, nn, F, Block = _modules()

    class PatchEmbed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            p = config.patch_size
            self.proj = nn.Conv2d(3, config.embed_dim, kernel_size=p, stride=p)

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, C)

    class DinoV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dim = config.embed_dim
            self.config = config
            self.patch_embed = PatchEmbed()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, config.grid**2 + 1, dim))
            self.mask_token = nn.Parameter(torch.zeros(1, dim))  # in the checkpoint; unused
            self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
            self.norm = nn.LayerNorm(dim, eps=1e-6)

        def _pos_embed(self, height: int, width: int):
            """Upstream ``interpolate_pos_encoding``: bicubic, scale factors with the 0.1 offset."""
            h0, w0, m = height // config.patch_size, width // config.patch_size, config.grid
            if h0 == m and w0 == m:
                return self.pos_embed
            pos = self.pos_embed.float()
            grid = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
            off = config.interpolate_offset
            grid = F.interpolate(
                grid, scale_factor=((h0 + off) / m, (w0 + off) / m), mode="bicubic"
            )
            grid = grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
            return torch.cat((pos[:, :1], grid), dim=1).to(self.pos_embed.dtype)

        def forward(self, x):
            _, _, height, width = x.shape  # (B, 3, H, W), normalised
            tokens = self.patch_embed(x)
            tokens = torch.cat((self.cls_token.expand(len(tokens), -1, -1), tokens), dim=1)
            tokens = tokens + self._pos_embed(height, width)
            for block in self.blocks:
                tokens = block(tokens)
            return self.norm(tokens)[:, 0]  # (B, C): the class token

    return DinoV2().eval().requires_grad_(False)


def load_dinov2_state_dict(path: Path, config: DinoV2Config = DINOV2_VITL14):
    """The network with the weights of `path` (a ``torch.save``-d state dict, loaded with
    ``weights_only=True``), checked key by key and shape by shape.

    Raises:
        InputError: the file is not a state dict, or its keys or shapes are not `config`'s.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors alike: the file is not usable
        raise InputError(
            f"{path} is not a loadable torch checkpoint ({type(exc).__name__}: {exc})"[:400],
            hint="pass the official dinov2_vitl14_pretrain.pth (fcdmbench reference fetch dinov2)",
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    model = build_dinov2(config)
    _check_keys(path, state, model.state_dict(), config)
    model.load_state_dict(state, strict=True)
    return model


def _check_keys(path: Path, state, expected: dict, config: DinoV2Config) -> None:
    hint = (
        f"the file must be the official {config.name} checkpoint "
        "(dinov2_vitl14_pretrain.pth, a state dict of upstream's DinoVisionTransformer)"
    )
    if not isinstance(state, dict):
        raise InputError(f"{path} holds a {type(state).__name__}, not a state dict", hint=hint)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InputError(
            f"{path} does not have {config.name}'s keys: {len(missing)} missing "
            f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}), {len(unexpected)} "
            f"unexpected ({', '.join(unexpected[:3])}{'...' if len(unexpected) > 3 else ''})",
            hint=hint,
        )
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise InputError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, {config.name} needs "
                f"{tuple(ref.shape)} (another architecture?)",
                hint=hint,
            )


def preprocess_images(images, mode: ResizeMode):
    """uint8 NCHW tensor -> normalised float32 NCHW at 224x224, as edm2's ``DINOv2Detector``."""
    import torch

    if mode is ResizeMode.PIL:
        from PIL import Image

        hwc = images.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        resized = np.stack(
            [
                np.asarray(
                    Image.fromarray(im, "RGB").resize(
                        (INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC
                    ),
                    dtype=np.uint8,
                )
                for im in hwc
            ]
        )
        x = torch.from_numpy(resized).permute(0, 3, 1, 2).to(images.device)
    else:
        x = torch.nn.functional.interpolate(
            images.to(torch.float32), size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True
        )
    x = x.to(torch.float32) / 255
    x = x - torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    return x / torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)


class DinoV2Extractor:
    """DINOv2 features of uint8 NHWC image batches (float32, one row per image).

    Args:
        model: a network from `load_dinov2_state_dict` (or `build_dinov2` + weights).
        weights_sha256: content hash of the weights; part of `extractor_id` (the cache key).
    """

    def __init__(
        self,
        model,
        weights_sha256: str,
        *,
        resize: ResizeMode = ResizeMode.TORCH,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> None:
        self.model = model.to(device)
        self.weights_sha256 = weights_sha256
        self.resize = resize
        self.batch_size = batch_size
        self.device = device
        self.feature_dim = model.config.embed_dim
        self.extractor_id = (
            f"{model.config.name}:{weights_sha256[:16]}:{resize.value}:v{EXTRACTOR_VERSION}"
        )

    def features(self, images: np.ndarray) -> np.ndarray:
        """Features of one ``(B, H, W, 3)`` uint8 batch, ``(B, D)`` float32."""
        import torch

        if images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(
                f"images must be (B, H, W, 3) uint8, got shape {images.shape}",
                hint="pass RGB images as arr_0 of an npz",
            )
        x = torch.tensor(images, device=self.device).permute(
            0, 3, 1, 2
        )  # a copy: npz reads are read-only
        with torch.inference_mode():
            return self.model(preprocess_images(x, self.resize)).float().cpu().numpy()

    def extract(self, batches: Iterable[np.ndarray]) -> np.ndarray:
        """Features of every image in `batches`, in order, ``(N, D)`` float32."""
        rows = [self.features(b) for b in batches]
        if not rows:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(rows)
