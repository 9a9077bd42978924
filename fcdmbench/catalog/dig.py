"""DiG family: config, variants and registrations (torch-free).

Paper: "DiG: Scalable and Efficient Diffusion Models with Gated Linear Attention"
(arXiv 2405.18428).
Upstream: hustvl/DiG @ e3ac0ba, models_dig.py + module_dig.py (MIT), on flash-linear-attention
@ 36743f3 (Triton kernels). Reimplemented in baselines/dig.py with a pure-PyTorch GLA.

DiG is DiT with the attention replaced by gated linear attention (GLA): tokens of a 2x2-patchified
latent, adaLN-Zero blocks (GLA + SwiGLU MLP), a depthwise 3x3 conv on the token grid after each
block, the sequence reversed after every block and the grid transposed after every second one.
The frozen sin-cos positional embedding and the conv's grid size depend on `input_size`, so the
parameter count does too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fcdmbench.catalog._common import embedder_params
from fcdmbench.catalog.spec import ModelSpec, Upstream
from fcdmbench.errors import ConfigError

__all__ = [
    "DIG_B_2",
    "DIG_L_2",
    "DIG_S_2",
    "DIG_S_2_SKIP",
    "DIG_XL_2",
    "DIG_XL_2_SKIP",
    "GLA_IMPLS",
    "UPSTREAM_GLA_CHUNK",
    "DiGConfig",
]

#: chunked: exact chunk-parallel form (default); recurrent: token-by-token reference loop.
GLA_IMPLS = ("chunked", "recurrent")
#: Chunk length of upstream's GLA kernel: fla @ 36743f3, ``FusedChunkGLAFunction.forward`` fixes
#: ``BT = 16`` (DiG's default ``attn_model="fused_chunk"``). Our chunked GLA uses it by default, so
#: it does the same matrix products as upstream's kernel and FLOP counts compare like for like.
UPSTREAM_GLA_CHUNK = 16


@dataclass(frozen=True, slots=True)
class DiGConfig:
    """DiG hyper-parameters (upstream's ``bid-layer-dwconv-qdir`` settings are fixed).

    Args:
        width: token width D; depth: number of blocks; num_heads: GLA heads.
        expand_k: key width / D (GLA); expand_v: value width / D.
        mlp_ratio: SwiGLU hidden = 256 * ceil(int(D * mlp_ratio * 2 / 3) / 256).
        use_skip: U-shaped variant: blocks after the middle concatenate an earlier block's output.
        gla_impl: one of GLA_IMPLS; both compute the same function.
        gla_chunk: chunk length of the chunked GLA (default: upstream's kernel chunk, 16).
        input_size: latent side; a multiple of `patch_size`.
    """

    width: int = 1152
    depth: int = 28
    num_heads: int = 18
    patch_size: int = 2
    expand_k: float = 0.5
    expand_v: float = 1.0
    mlp_ratio: int = 4
    gate_low_rank_dim: int = 16
    gate_logit_normalizer: float = 16.0
    conv_kernel_size: int = 3
    use_skip: bool = False
    gla_impl: str = "chunked"
    gla_chunk: int = UPSTREAM_GLA_CHUNK
    in_channels: int = 4
    input_size: int = 32
    num_classes: int = 1000
    class_dropout_prob: float = 0.1
    learn_sigma: bool = True
    frequency_dim: int = 256

    def __post_init__(self) -> None:
        if self.width <= 0 or self.width % 4:
            raise ConfigError(f"width must be a positive multiple of 4, got {self.width}")
        if self.depth < 1 or self.num_heads < 1:
            raise ConfigError("depth and num_heads must be >= 1")
        for name in ("key_dim", "value_dim"):
            if getattr(self, name) % self.num_heads or getattr(self, name) < self.num_heads:
                raise ConfigError(
                    f"{name} {getattr(self, name)} (width x expand) must be a positive multiple "
                    f"of num_heads {self.num_heads}"
                )
        if self.patch_size < 1 or self.input_size <= 0 or self.input_size % self.patch_size:
            raise ConfigError(
                f"input_size {self.input_size} must be a positive multiple of patch_size "
                f"{self.patch_size}"
            )
        if self.conv_kernel_size < 1 or self.conv_kernel_size % 2 == 0:
            raise ConfigError(f"conv_kernel_size must be odd, got {self.conv_kernel_size}")
        if self.gla_impl not in GLA_IMPLS:
            raise ConfigError(f"gla_impl must be one of {GLA_IMPLS}, got {self.gla_impl!r}")
        if self.gla_chunk < 1 or self.mlp_ratio < 1 or self.gate_low_rank_dim < 1:
            raise ConfigError("gla_chunk, mlp_ratio and gate_low_rank_dim must be >= 1")
        if not 0.0 <= self.class_dropout_prob < 1.0:
            raise ConfigError(
                f"class_dropout_prob must be in [0, 1), got {self.class_dropout_prob}"
            )

    @property
    def key_dim(self) -> int:
        return int(self.width * self.expand_k)

    @property
    def value_dim(self) -> int:
        return int(self.width * self.expand_v)

    @property
    def mlp_hidden(self) -> int:
        hidden = int(self.width * self.mlp_ratio * 2 / 3)
        return 256 * ((hidden + 255) // 256)

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.learn_sigma else self.in_channels

    @property
    def grid_size(self) -> int:
        return self.input_size // self.patch_size

    def has_skip(self, index: int) -> bool:
        """Whether block `index` merges a skip (upstream: index > depth // 2)."""
        return self.use_skip and index > self.depth // 2

    def gla_core_macs(self, chunk: int | None = None) -> int:
        """MACs per image of the GLA token mixing in chunk form, all blocks (closed form).

        Per head, with head widths dk, dv and the tokens zero-padded to whole chunks of n =
        `chunk` tokens, each chunk costs n*n*dk (intra-chunk scores, the full n x n block; the
        causal mask is applied afterwards) + n*n*dv (scores x values) + n*dk*dv (queries x carried
        state) + dk*n*dv (state update k^T v). That is what upstream's ``fused_chunk_gla``
        computes (its Triton kernels, invisible to every counter, plus one ``A @ v`` in PyTorch;
        it pads the same way) and what `fcdmbench_baselines.dig.gla_chunked` computes with
        matmuls. Decay exponentials, the causal mask and the query scaling are not counted.

        Args:
            chunk: chunk length; defaults to ``gla_chunk``.
        """
        n = chunk or self.gla_chunk
        num_chunks = -(-(self.grid_size**2) // n)
        dk, dv = self.key_dim // self.num_heads, self.value_dim // self.num_heads
        per_chunk = n * n * (dk + dv) + 2 * n * dk * dv
        return self.depth * self.num_heads * num_chunks * per_chunk

    def num_params(self) -> int:
        """Exact parameter count, frozen positional embedding included (as upstream counts it)."""
        d, dk, dv, r = self.width, self.key_dim, self.value_dim, self.gate_low_rank_dim
        p2 = self.patch_size**2
        attn = 2 * d * dk + 2 * d * dv + (d * r + r * dk + dk) + dv * d + dv // self.num_heads
        mlp = d * 2 * self.mlp_hidden + self.mlp_hidden * d
        block = attn + mlp + (d * 6 * d + 6 * d) + (d * self.conv_kernel_size**2 + d)
        total = self.depth * block
        total += sum(2 * d * d + d for i in range(self.depth) if self.has_skip(i))
        total += self.in_channels * p2 * d + d  # patch embedding
        total += self.grid_size**2 * d  # pos_embed
        total += embedder_params(self, d)  # timestep MLP + label table
        total += d * 2 * d + 2 * d + d * p2 * self.out_channels + p2 * self.out_channels
        return total


# Upstream models_dig.py: DiG_{S,B,L}_2_bid_layer_dwconv_qdir and
# DiG_XL_2_bid_layer_dwconv_qdir_head18.
DIG_S_2 = DiGConfig(width=384, depth=12, num_heads=6)
DIG_B_2 = DiGConfig(width=768, depth=12, num_heads=12)
DIG_L_2 = DiGConfig(width=1024, depth=24, num_heads=16)
DIG_XL_2 = DiGConfig(width=1152, depth=28, num_heads=18)

_UPSTREAM = Upstream(
    repo="hustvl/DiG",
    commit="e3ac0bae50161ecb589f84e1d980eeeb6cbf4f7b",
    license="MIT",
    path="models_dig.py",
)

# The U-shaped "-skip" variants; upstream's "-skipzero" ones differ only in initialisation.
DIG_S_2_SKIP = replace(DIG_S_2, use_skip=True)
DIG_XL_2_SKIP = replace(DIG_XL_2, use_skip=True)


def _spec(name: str, config: DiGConfig, upstream_name: str) -> ModelSpec:
    size, _, skip = name.partition("-2")
    return ModelSpec(
        name=f"dig-{name}",
        family="dig",
        display_name=f"DiG-{size.upper()}/2{skip}",
        config=config,
        builder="fcdmbench_baselines.dig:DiG",
        paper="dig",
        upstream=_UPSTREAM,
        aliases=() if skip else (f"dig-{size}",),
        key_map="fcdmbench_baselines.dig:map_upstream_keys",
        notes=f"upstream name {upstream_name}",
    )


#: What the registry registers when it loads this module.
SPECS = (
    _spec("s-2", DIG_S_2, "DiG-S/2-bid-layer-dwconv-qdir"),
    _spec("b-2", DIG_B_2, "DiG-B/2-bid-layer-dwconv-qdir"),
    _spec("l-2", DIG_L_2, "DiG-L/2-bid-layer-dwconv-qdir"),
    _spec("xl-2", DIG_XL_2, "DiG-XL/2-bid-layer-dwconv-qdir-head18"),
    _spec("s-2-skip", DIG_S_2_SKIP, "DiG-S/2-bid-layer-dwconv-qdir-skip"),
    _spec("xl-2-skip", DIG_XL_2_SKIP, "DiG-XL/2-bid-layer-dwconv-qdir-head18-skip"),
)
