"""DiT: the latent diffusion transformer with adaLN-Zero blocks, reimplemented.

Paper: "Scalable Diffusion Models with Transformers", Peebles & Xie, arXiv 2212.09748 (Sec. 3.2,
Fig. 3, Table 1). Checked against facebookresearch/DiT @ ed81ce2, models.py (read, not copied;
CC-BY-NC 4.0): exact parameter counts of all 12 variants at 256 and 512 px, strict loading of the
upstream state_dict through `map_upstream_keys`, and forward / CFG outputs (tests/fixtures/parity,
baselines/PROVENANCE.md). No timm: patch embedding, attention and MLP are written out here with
timm's parameter names (``x_embedder.proj``, ``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``).

Shape: latent (B, 4, H, W) -> p x p patches -> T = (H/p)**2 tokens of width D, plus a frozen 2-D
sin-cos positional embedding -> `depth` blocks -> linear to p*p*out channels per token ->
unpatchify.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fcdmbench.catalog.dit import AttentionImpl, DiTConfig
from fcdmbench.checkpoints import rename_keys
from fcdmbench.models.layers import CFGMixin, LabelEmbedder, TimestepEmbedder, modulate

__all__ = ["DiT", "DiTBlock", "map_upstream_keys", "sincos_pos_embed_2d"]


def sincos_pos_embed_2d(dim: int, grid_side: int) -> torch.Tensor:
    """Fixed 2-D sin-cos positional embedding (MAE form), (grid_side**2, dim), float32.

    Tokens are in row-major order. The first half of the channels encodes the column index and the
    second half the row index; each half is [sin(pos * w_k), cos(pos * w_k)] with
    w_k = 10000 ** (-k / (dim / 4)), computed in float64.
    """
    quarter = dim // 4
    omega = 1.0 / 10000.0 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (D/4,)
    coords = torch.arange(grid_side, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")  # (G, G) each

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega[None]  # (G*G, D/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (G*G, D/2)

    return torch.cat([encode(cols), encode(rows)], dim=1).float()


class PatchEmbed(nn.Module):
    """Non-overlapping p x p conv: (B, C, H, W) -> (B, (H/p)*(W/p), D)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (qkv bias on)."""

    def __init__(self, dim: int, num_heads: int, impl: AttentionImpl = AttentionImpl.SDPA) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.impl = AttentionImpl(impl)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, T, head_dim) each
        if self.impl is AttentionImpl.SDPA:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            weights = (q * self.head_dim**-0.5) @ k.transpose(-2, -1)  # (B, heads, T, T)
            out = weights.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Linear -> GELU (tanh approximation) -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    """Pre-LN transformer block with adaLN-Zero (DiT Fig. 3, right).

    The condition gives shift, scale and gate for the attention branch and for the MLP branch
    (6 * D); the modulation Linear is zero-initialised, so a fresh block is the identity.
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        d = config.width
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, config.num_heads, config.attention)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, config.mlp_hidden)
        self.ada_ln = nn.Linear(d, 6 * d)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D); c: (B, D)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada_ln(F.silu(c)).chunk(6, dim=1)
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    """LN (no affine) -> adaLN shift/scale -> Linear to p*p*out_channels per token."""

    def __init__(self, dim: int, patch_size: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_ln = nn.Linear(dim, 2 * dim)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada_ln(F.silu(c)).chunk(2, dim=1)
        return self.linear(modulate(self.norm(x), shift, scale))


class DiT(CFGMixin, nn.Module):
    """Diffusion transformer.

    Call signature ``model(x, t, y)``: x (B, 4, H, W) latent with H = W = `config.input_size`,
    t (B,) timesteps, y (B,) labels; returns (B, 8, H, W) (noise and variance) when `learn_sigma`,
    else (B, 4, H, W). `forward_with_cfg` is DiT's (guidance on the first 3 channels).
    """

    def __init__(self, config: DiTConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else DiTConfig()
        self.config = config
        d = config.width
        self.in_channels = config.in_channels
        self.out_channels = config.out_channels
        self.patch_size = config.patch_size
        self.x_embedder = PatchEmbed(config.in_channels, d, config.patch_size)
        self.t_embedder = TimestepEmbedder(d, config.frequency_dim)
        self.y_embedder = LabelEmbedder(config.num_classes, d, config.class_dropout_prob)
        # A Parameter (not a buffer) so that parameter counts and checkpoints match upstream.
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_tokens, d), requires_grad=False)
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final = FinalLayer(d, config.patch_size, config.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Upstream's init: Xavier-uniform linears (and the patch conv viewed as one) with zero
        bias, sin-cos pos_embed, N(0, 0.02) label table and timestep MLP, adaLN-Zero and a zeroed
        output layer."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        if self.pos_embed.device.type != "meta":
            side = self.config.input_size // self.patch_size
            self.pos_embed.data.copy_(sincos_pos_embed_2d(self.config.width, side)[None])
        proj = self.x_embedder.proj
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        nn.init.zeros_(proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for layer in [block.ada_ln for block in self.blocks] + [
            self.final.ada_ln,
            self.final.linear,
        ]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, p*p*C) tokens -> (B, C, H, W) with H = W = sqrt(T) * p."""
        b, n, _ = x.shape
        p, c = self.patch_size, self.out_channels
        side = math.isqrt(n)
        x = x.reshape(b, side, side, p, p, c)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, side * p, side * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.x_embedder(x) + self.pos_embed  # (B, T, D)
        c = self.t_embedder(t) + self.y_embedder(y, self.training)  # (B, D)
        for block in self.blocks:
            x = block(x, c)
        return self.unpatchify(self.final(x, c))  # (B, out_channels, H, W)


#: Upstream (facebookresearch/DiT) state_dict names -> ours, applied in order.
UPSTREAM_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^final_layer\.", "final."),
    (r"\.adaLN_modulation\.1\.", ".ada_ln."),
)


def map_upstream_keys(state_dict):
    """Rename an upstream DiT state_dict's keys to fcdmbench's (tensors untouched)."""
    return rename_keys(state_dict, UPSTREAM_KEY_RULES)
