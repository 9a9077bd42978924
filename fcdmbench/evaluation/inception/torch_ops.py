"""TensorFlow-1 op semantics in PyTorch, for the ops of ADM's 2015 Inception graph.

Every 4-D tensor stays in TensorFlow's logical NHWC layout. Convolutions and pools see it through
``permute(0, 3, 1, 2)``: a contiguous NHWC tensor viewed that way is a channels-last NCHW tensor,
which is what torch's CPU (oneDNN) and cuDNN kernels run fastest, so no copy is ever made.

- SAME padding is TensorFlow's: ``total = max((ceil(in / s) - 1) * s + k - in, 0)``, the smaller
  half before, the larger after (bottom/right), so stride-2 SAME pads asymmetrically.
- Average pooling with SAME padding divides by the number of cells inside the image.
- `resize_bilinear_tf1` is TF1's ResizeBilinear (align_corners=False, half_pixel_centers=False):
  ``src = dst * (in / out)`` in float32, then ``top + (bottom - top) * y_lerp`` of two x-lerps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "avg_pool",
    "batch_norm_global",
    "conv2d",
    "max_pool",
    "resize_bilinear_tf1",
    "same_padding",
]


_MKLDNN = getattr(torch.ops, "mkldnn", None)
_FUSED_RELU = getattr(_MKLDNN, "_convolution_pointwise", None)
_REORDER = getattr(_MKLDNN, "_reorder_convolution_weight", None)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one spatial axis: (before, after)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], same: bool
) -> tuple[int, int, int, int]:
    if not same:
        return 0, 0, 0, 0
    top, bottom = same_padding(x.shape[1], kernel[0], stride[0])
    left, right = same_padding(x.shape[2], kernel[1], stride[1])
    return top, bottom, left, right


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, int],
    same: bool,
    bias: torch.Tensor | None = None,
    relu: bool = False,
) -> torch.Tensor:
    """NHWC `x`, OIHW `weight` (channels-last) -> NHWC, TensorFlow's SAME/VALID padding.

    `relu` on CPU runs oneDNN's convolution with a fused ReLU post-op (the same values as a
    separate ``relu_``: ReLU is exact), elsewhere a ``relu_`` after the convolution.
    """
    top, bottom, left, right = _pads(x, tuple(weight.shape[2:]), stride, same)
    inp = _nchw(x)
    if (top, left) != (bottom, right):
        inp = F.pad(inp, (left, right, top, bottom))
        top = left = 0
    if relu and x.device.type == "cpu" and _FUSED_RELU is not None:
        out = _FUSED_RELU(inp, weight, bias, [top, left], list(stride), [1, 1], 1, "relu", [], "")
        return _nhwc(out)
    out = _nhwc(F.conv2d(inp, weight, bias, stride, (top, left)))
    return out.relu_() if relu else out


class ConvReluCPU:
    """`conv2d(x, weight, stride, same, bias, relu=True)` with the filter in oneDNN's layout.

    torch reorders a dense filter into oneDNN's blocked layout on every call; this keeps the
    reordered filter for the last input shape seen (the layout oneDNN picks depends on it) and
    reorders again only when the shape changes. The values are the same as `conv2d`'s (tested).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, stride, same: bool) -> None:
        self.weight, self.bias, self.stride, self.same = weight, bias, tuple(stride), same
        self._packed: tuple[tuple[int, ...], torch.Tensor] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = _pads(x, tuple(self.weight.shape[2:]), self.stride, self.same)
        if (top, left) != (bottom, right) or x.device.type != "cpu" or _REORDER is None:
            return conv2d(x, self.weight, self.stride, self.same, self.bias, relu=True)
        inp, padding, stride = _nchw(x), [top, left], list(self.stride)
        if self._packed is None or self._packed[0] != tuple(inp.shape):
            packed = _REORDER(self.weight, padding, stride, [1, 1], 1, list(inp.shape))
            self._packed = (tuple(inp.shape), packed)
        weight = self._packed[1]
        return _nhwc(
            _FUSED_RELU(inp, weight, self.bias, padding, stride, [1, 1], 1, "relu", [], "")
        )


def max_pool(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], same: bool
) -> torch.Tensor:
    """NHWC max pooling; padded cells never win (TensorFlow pads with -inf)."""
    top, bottom, left, right = _pads(x, kernel, stride, same)
    inp = _nchw(x)
    symmetric = (top, left) == (bottom, right) and 2 * max(top, left) <= min(kernel)
    if not symmetric:
        inp = F.pad(inp, (left, right, top, bottom), value=-math.inf)
        top = left = 0
    return _nhwc(F.max_pool2d(inp, kernel, stride, (top, left)))


def avg_pool(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], same: bool
) -> torch.Tensor:
    """NHWC average pooling; SAME divides by the cells inside the image, as TensorFlow."""
    top, bottom, left, right = _pads(x, kernel, stride, same)
    inp = _nchw(x)
    if (top, left) == (bottom, right) and 2 * max(top, left) <= min(kernel):
        return _nhwc(F.avg_pool2d(inp, kernel, stride, (top, left), count_include_pad=False))
    pad = (left, right, top, bottom)
    total = F.avg_pool2d(F.pad(inp, pad), kernel, stride, divisor_override=1)
    ones = F.pad(torch.ones_like(inp[:1, :1]), pad)
    count = F.avg_pool2d(ones, kernel, stride, divisor_override=1)
    return _nhwc(total / count)


def batch_norm_global(
    x: torch.Tensor,
    mean: torch.Tensor,
    scale: torch.Tensor,
    beta: torch.Tensor,
    *,
    inplace: bool = False,
) -> torch.Tensor:
    """TensorFlow's BatchNormWithGlobalNormalization: ``(x - mean) * scale + beta``.

    `scale` is ``rsqrt(var + eps)`` (times gamma with scale_after_normalization), per channel.
    """
    if inplace:
        return x.sub_(mean).mul_(scale).add_(beta)
    return (x - mean).mul_(scale).add_(beta)


def _lerp_weights(
    in_size: int, out_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    floor = torch.floor(src)
    lower = floor.long().clamp(min=0)
    upper = torch.ceil(src).long().clamp(max=in_size - 1)
    return lower.to(device), upper.to(device), (src - floor).to(device)


def resize_bilinear_tf1(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """NHWC float32 resize as TF1's ResizeBilinear (no align_corners, no half-pixel centres).

    TensorFlow computes ``top = tl + (tr - tl) * x_lerp`` for the two source rows of each output
    row; that value depends only on the source row, so it is computed once per source row (the
    same float32 operations, fewer of them), then gathered for the rows above and below.
    """
    y0, y1, y_lerp = _lerp_weights(x.shape[1], height, x.device)
    x0, x1, x_lerp = _lerp_weights(x.shape[2], width, x.device)
    rows = torch.unique(torch.cat([y0, y1]))  # sorted source rows that are read
    picked = x.index_select(1, rows)
    left = picked[:, :, x0]  # indexing: index_select along W of NHWC is several times slower
    across = left.add_((picked[:, :, x1] - left).mul_(x_lerp.view(1, 1, -1, 1)))
    position = torch.searchsorted(rows, torch.stack([y0, y1]))
    top, bottom = across.index_select(1, position[0]), across.index_select(1, position[1])
    return top.add_((bottom - top).mul_(y_lerp.view(1, -1, 1, 1)))
