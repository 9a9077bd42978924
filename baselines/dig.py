"""DiG: diffusion with gated linear attention, reimplemented in pure PyTorch.

Paper: "DiG: Scalable and Efficient Diffusion Models with Gated Linear Attention", Zhu et al.,
arXiv 2405.18428. Checked against hustvl/DiG @ e3ac0ba (models_dig.py, module_dig.py; MIT) on
flash-linear-attention @ 36743f3 (read, not copied): parameter counts, strict loading through
`map_upstream_keys`, and outputs on deterministic weights (tests/fixtures/PROVENANCE.md says how,
including the CPU stand-ins used for upstream's two CUDA-only kernels).

Upstream runs GLA through Triton kernels (``fused_chunk``); here it is plain PyTorch: an exact
chunk-parallel form (default) and the token-by-token recurrence (reference), selected by
``DiGConfig.gla_impl``. The chunked form uses upstream's chunk length (16) and the same four
products per chunk as upstream's kernel, so its FLOP count is upstream's arithmetic
(`DiGConfig.gla_core_macs`, tests/fixtures/PROVENANCE.md). Throughput of this implementation is
not DiG's published speed (no fused kernels).

GLA (arXiv 2312.06635), per head, with decay a_t = exp(logsigmoid(W_g x_t) / 16) in (0, 1)^dk:
``S_t = diag(a_t) S_{t-1} + k_t^T v_t``, ``o_t = (q_t / sqrt(dk)) S_t``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import wrap_torch_function

from fcdmbench.catalog.dig import UPSTREAM_GLA_CHUNK, DiGConfig
from fcdmbench.checkpoints import rename_keys
from fcdmbench.models.layers import CFGMixin, LabelEmbedder, TimestepEmbedder, modulate
from fcdmbench_baselines.dit import FinalLayer, PatchEmbed, sincos_pos_embed_2d

__all__ = ["DiG", "DiGBlock", "gla_chunked", "gla_recurrent", "map_upstream_keys"]


def gla_recurrent(q, k, v, log_decay):
    """Reference GLA: one step per token. q, k, log_decay (B, H, L, dk); v (B, H, L, dv)."""
    dtype = v.dtype
    q, k, v, log_decay = (x.float() for x in (q, k, v, log_decay))
    q = q * q.shape[-1] ** -0.5
    state = q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])  # (B, H, dk, dv)
    out = torch.empty_like(v)
    for i in range(q.shape[2]):
        state = state * log_decay[:, :, i].exp()[..., None] + k[:, :, i, :, None] * v[:, :, i, None]
        out[:, :, i] = (q[:, :, i, :, None] * state).sum(-2)
    return out.to(dtype)


#: Tokens whose intra-chunk scores are formed at once in `gla_chunked` (bounds its memory).
_SCORE_BLOCK_TOKENS = 64


@wrap_torch_function(lambda q, k, v, log_decay, chunk=UPSTREAM_GLA_CHUNK: (q, k, v, log_decay))
def gla_chunked(q, k, v, log_decay, chunk: int = UPSTREAM_GLA_CHUNK):
    """Exact chunk-parallel GLA; every exponent is <= 0, so it cannot overflow.

    Within a chunk, o_t = sum_{s<=t} (q_t * exp(b_t - b_s)) . k_s v_s + (q_t * exp(b_t)) S_prev,
    with b the within-chunk cumulative log decay; S is carried across chunks. The sequence is
    zero-padded to a whole number of chunks (as upstream's kernel does); padding sits after every
    real token, so causality keeps it out of the outputs.

    Upstream this is one family of Triton kernels (``fused_chunk_gla``); the function is visible to
    torch function modes (``wrap_torch_function``) and declares that kind, so the roofline trace
    can price it as those kernels (`fcdmbench.perfmodel.autocast.fused_kind`).
    """
    dtype = v.dtype
    q, k, v, log_decay = (x.float() for x in (q, k, v, log_decay))
    q = q * q.shape[-1] ** -0.5
    batch, heads, length, dk = q.shape
    pad = -length % chunk
    if pad:
        q, k, v, log_decay = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v, log_decay))
    n = (length + pad) // chunk
    qc, kc, vc, b = (x.unflatten(2, (n, chunk)) for x in (q, k, v, log_decay))  # (B, H, n, C, d)
    b = b.cumsum(dim=3)
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()[..., None]
    group = max(1, _SCORE_BLOCK_TOKENS // chunk)
    intra = []
    for start in range(0, n, group):
        sl = slice(start, start + group)
        bg = b[:, :, sl]
        rel = (bg[..., :, None, :] - bg[..., None, :, :]).masked_fill(~causal, -math.inf)
        scores = torch.einsum("bhntd,bhnsd,bhntsd->bhnts", qc[:, :, sl], kc[:, :, sl], rel.exp())
        intra.append(scores @ vc[:, :, sl])  # (B, H, g, C, dv)
    last = b[:, :, :, -1:]  # (B, H, n, 1, dk)
    chunk_kv = (kc * (last - b).exp()).transpose(-1, -2) @ vc  # (B, H, n, dk, dv)
    chunk_decay = last.transpose(-1, -2).exp()  # (B, H, n, dk, 1)
    state = q.new_zeros(batch, heads, dk, v.shape[-1])
    states = []  # the state entering each chunk
    for j in range(n):
        states.append(state)
        state = state * chunk_decay[:, :, j] + chunk_kv[:, :, j]
    out = torch.cat(intra, dim=2) + (qc * b.exp()) @ torch.stack(states, dim=2)
    return out.flatten(2, 3)[:, :, :length].to(dtype)


gla_chunked.fcdmbench_fused_kind = "linear-attention"  # autocast_policy.FUSED_KIND_ATTR


@wrap_torch_function(lambda o, gate, weight, dtype: (o, gate, weight))
def rms_norm_swish_gate(o, gate, weight, dtype):
    """RMSNorm(o) * weight * swish(gate), computed in fp32 and returned in `dtype`: upstream's
    ``FusedRMSNormSwishGate`` (one flash-linear-attention Triton kernel; a fused region for the
    roofline trace, see `gla_chunked`)."""
    o, gate = o.float(), gate.float()
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6) * weight.float()
    return (o * F.silu(gate)).to(dtype)


@wrap_torch_function(lambda gate, value: (gate, value))
def swiglu(gate, value):
    """``silu(gate) * value``: upstream's ``swiglu_linear`` runs it as one jiterator kernel
    (flash-linear-attention ``swiglu_fwd``) before its linear (a fused region, as
    `gla_chunked`)."""
    return F.silu(gate) * value


rms_norm_swish_gate.fcdmbench_fused_kind = "fused-elementwise"
swiglu.fcdmbench_fused_kind = "fused-elementwise"


class GatedLinearAttention(nn.Module):
    """Multi-head GLA with a low-rank decay projection and an RMSNorm-swish output gate."""

    def __init__(self, config: DiGConfig) -> None:
        super().__init__()
        d, dk, dv = config.width, config.key_dim, config.value_dim
        self.config = config
        self.num_heads = config.num_heads
        self.q_proj = nn.Linear(d, dk, bias=False)
        self.k_proj = nn.Linear(d, dk, bias=False)
        self.v_proj = nn.Linear(d, dv, bias=False)
        self.g_proj = nn.Linear(d, dv, bias=False)
        self.gk_proj = nn.Sequential(
            nn.Linear(d, config.gate_low_rank_dim, bias=False),
            nn.Linear(config.gate_low_rank_dim, dk),
        )
        self.o_proj = nn.Linear(dv, d, bias=False)
        self.out_norm_weight = nn.Parameter(torch.ones(dv // config.num_heads))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # (B, H, L, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, L, D)
        q, k, v = (self._heads(proj(x)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        log_decay = self._heads(F.logsigmoid(self.gk_proj(x)) / self.config.gate_logit_normalizer)
        if self.config.gla_impl == "recurrent":
            o = gla_recurrent(q, k, v, log_decay)
        else:
            o = gla_chunked(q, k, v, log_decay, self.config.gla_chunk)
        o = o.transpose(1, 2)  # (B, L, H, dv / H)
        gate = self.g_proj(x).unflatten(-1, (self.num_heads, -1))
        o = rms_norm_swish_gate(o, gate, self.out_norm_weight, x.dtype)
        return self.o_proj(o.flatten(2))


class SwiGLU(nn.Module):
    """gate_proj to 2 * hidden, ``down_proj(silu(first half) * second half)``."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(width, 2 * hidden, bias=False)
        self.down_proj = nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.gate_proj(x).chunk(2, dim=-1)
        return self.down_proj(swiglu(gate, value))


class DiGBlock(nn.Module):
    """adaLN-Zero block: x + g1 * GLA(mod(LN(x))); x + g2 * MLP(mod(LN(x))); depthwise conv."""

    def __init__(self, config: DiGConfig, has_skip: bool) -> None:
        super().__init__()
        d, ks = config.width, config.conv_kernel_size
        self.grid = config.grid_size
        self.skip_linear = nn.Linear(2 * d, d) if has_skip else None
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = GatedLinearAttention(config)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = SwiGLU(d, config.mlp_hidden)
        self.ada_ln = nn.Linear(d, 6 * d)
        self.dw_conv = nn.Conv2d(d, d, ks, padding=ks // 2, groups=d)

    def forward(self, x: torch.Tensor, c: torch.Tensor, skip: torch.Tensor | None = None):
        # x: (B, L, D); c: (B, D)
        if self.skip_linear is not None and skip is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada_ln(F.silu(c)).chunk(6, dim=1)
        x = x + gate1[:, None] * self.attn(modulate(self.norm1(x), shift1, scale1))
        x = x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))
        grid = x.transpose(1, 2).unflatten(2, (self.grid, self.grid))  # (B, D, g, g)
        return self.dw_conv(grid).flatten(2).transpose(1, 2)


class DiG(CFGMixin, nn.Module):
    """DiG backbone, call signature ``model(x, t, y)`` -> (B, out_channels, H, W).

    Token order: the sequence is reversed after every block (upstream ``bid_mode='layer'``) and
    the token grid transposed after every second block (``if_quad_dir``).
    """

    def __init__(self, config: DiGConfig | None = None) -> None:
        super().__init__()
        config = config or DiGConfig()
        self.config = config
        d = config.width
        self.in_channels, self.out_channels = config.in_channels, config.out_channels
        self.x_embedder = PatchEmbed(config.in_channels, d, config.patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.grid_size**2, d), requires_grad=False)
        self.t_embedder = TimestepEmbedder(d, config.frequency_dim)
        self.y_embedder = LabelEmbedder(config.num_classes, d, config.class_dropout_prob)
        self.blocks = nn.ModuleList(
            DiGBlock(config, config.has_skip(i)) for i in range(config.depth)
        )
        self.final = FinalLayer(d, config.patch_size, config.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Upstream's recipe: GLA linears Xavier with gain 2**-2.5, other linears Xavier, the
        depthwise convs the identity (centre tap 1), N(0, 0.02) embeddings, adaLN-Zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for block in self.blocks:
            for module in block.attn.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight, gain=2**-2.5)
            with torch.no_grad():
                block.dw_conv.weight.zero_()
                centre = block.dw_conv.kernel_size[0] // 2
                block.dw_conv.weight[:, :, centre, centre] = 1.0
                block.dw_conv.bias.zero_()
            nn.init.zeros_(block.ada_ln.weight)
            nn.init.zeros_(block.ada_ln.bias)
        with torch.no_grad():
            table = sincos_pos_embed_2d(self.config.width, self.config.grid_size)
            self.pos_embed.copy_(table[None])
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for param in (*self.final.ada_ln.parameters(), *self.final.linear.parameters()):
            nn.init.zeros_(param)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, g*g, p*p*C) -> (B, C, g*p, g*p)."""
        g, p, c = self.config.grid_size, self.config.patch_size, self.out_channels
        x = x.reshape(x.shape[0], g, g, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], c, g * p, g * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g, depth = self.config.grid_size, self.config.depth
        h = self.x_embedder(x) + self.pos_embed  # (B, L, D)
        c = self.t_embedder(t) + self.y_embedder(y, self.training)  # (B, D)
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            h = block(h, c, skips.pop() if self.config.has_skip(i) else None)
            h = h.flip(1)  # next block scans the other way
            if i % 2 == 1:  # and, every second block, column-major
                h = h.unflatten(1, (g, g)).transpose(1, 2).flatten(1, 2)
            if self.config.use_skip and i < depth // 2 - 1:
                skips.append(h)
        return self.unpatchify(self.final(h, c))


#: Upstream (hustvl/DiG) state_dict names -> ours, applied in order.
UPSTREAM_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^final_layer\.", "final."),
    (r"\.adaLN_modulation\.1\.", ".ada_ln."),
    (r"\.attn\.g_norm_swish_gate\.weight$", ".attn.out_norm_weight"),
)


def map_upstream_keys(state_dict):
    """Rename an upstream DiG state_dict's keys to fcdmbench's (tensors untouched)."""
    return rename_keys(state_dict, UPSTREAM_KEY_RULES)
