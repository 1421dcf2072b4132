"""A faster CPU weight gradient for depthwise convolutions on small feature maps.

On the CPU, the weight gradient of a depthwise convolution (``groups`` equal to the
channels) is slow where the map is small and the kernel wide: EfficientNet-B4 at
64 px runs 5x5 depthwise convolutions of 960 channels on 4x4 maps and of 1,632 on
2x2 maps, and each weight gradient took 7-11 ms at one thread against 0.1 ms for
the forward pass (measured on the project's 2-core machine, torch 2.14.1). Summed
over the network, depthwise backward passes were a quarter of a training step.

:class:`TapsDepthwiseConv2d` computes that gradient tap by tap instead: for kernel
position ``(i, j)``, ``dW[c, i, j] = sum over n, h, w of x[n, c, h*s + i - p,
w*s + j - p] * dY[n, c, h, w]``, one multiply-and-reduce over the channels-last
layout per tap, skipping the output positions (and whole taps) that meet only the
zero padding. It is used where the output map has at most ``max_positions``
positions (16: 4x4; on 8x8 maps the native kernel is as fast); elsewhere, on a GPU,
and for the input gradient, PyTorch's own kernel runs. The forward pass is the
module's own, unchanged; the weight gradient is the same sum in another order, so
it differs from the native one in the last bits (relative 1e-7 to 1e-6), and the
weights trained with it differ from those trained without it as two thread counts'
do. EfficientNet-B4's training step fell from 0.81 to 0.59 s (64 px, batch 16, one
thread; ``tests/benchmarks/test_depthwise_grad_speed.py``); Xception's 3x3
depthwise convolutions gained nothing, so only EfficientNet-B4 uses it
(``depthwise_grad``, detectors/efficientnet_b4.py).
"""

from __future__ import annotations

import torch
from torch import nn

MAX_POSITIONS = 16  # output positions (Ho * Wo) up to which the taps are summed


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: int,
                          stride: int, padding: int) -> torch.Tensor:
    """Weight gradient ``[C, 1, k, k]`` of a depthwise convolution of ``x [N, C, H, W]``
    (zero padding ``padding``, ``stride``, no dilation) with output gradient ``grad_out``."""
    k, s, p = int(kernel_size), int(stride), int(padding)
    _, c, h, w = x.shape
    ho, wo = grad_out.shape[2:]
    xh, gh = x.permute(0, 2, 3, 1), grad_out.permute(0, 2, 3, 1)  # NHWC views
    out = x.new_zeros(k, k, c)
    for i in range(k):
        # output rows whose input row r = ho_i * s + i - p falls inside [0, h)
        r0, r1 = max(0, -((i - p) // s)), min(ho, (h - 1 - i + p) // s + 1)
        if r1 <= r0:
            continue
        for j in range(k):
            c0, c1 = max(0, -((j - p) // s)), min(wo, (w - 1 - j + p) // s + 1)
            if c1 <= c0:
                continue
            xs = xh[:, r0 * s + i - p:(r1 - 1) * s + i - p + 1:s,
                    c0 * s + j - p:(c1 - 1) * s + j - p + 1:s]
            torch.sum(xs * gh[:, r0:r1, c0:c1], dim=(0, 1, 2), out=out[i, j])
    return out.permute(2, 0, 1).unsqueeze(1)


class _DepthwiseConv(torch.autograd.Function):
    """The module's forward; backward with :func:`depthwise_weight_grad` on small maps."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, conv: TapsDepthwiseConv2d
                ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conv = conv
        return conv._conv_forward(x, weight, None)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        conv = ctx.conv
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        taps = need_w and grad_out.shape[2] * grad_out.shape[3] <= conv.max_positions
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad_out, x, weight, None, conv.stride, conv.padding, conv.dilation, False, (0, 0),
            conv.groups, (need_x, need_w and not taps, False))
        if taps:
            grad_w = depthwise_weight_grad(x, grad_out, conv.kernel_size[0], conv.stride[0],
                                           conv.padding[0])
        return grad_x, grad_w, None


class TapsDepthwiseConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose depthwise weight gradient on the CPU is summed tap by tap
    where the output map has at most ``max_positions`` positions (same parameters,
    same state dict, same forward)."""

    max_positions: int = MAX_POSITIONS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_grad_enabled() and self.weight.requires_grad:
            return _DepthwiseConv.apply(x, self.weight, self)
        return super().forward(x)


def eligible(conv: nn.Module) -> bool:
    """A depthwise ``nn.Conv2d`` (one filter per channel) the tap sum covers: square kernel
    and stride, symmetric zero padding, no dilation, no bias."""
    return (type(conv) in (nn.Conv2d, TapsDepthwiseConv2d) and conv.groups > 1
            and conv.groups == conv.in_channels == conv.out_channels and conv.bias is None
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)
            and conv.kernel_size[0] == conv.kernel_size[1] and conv.stride[0] == conv.stride[1]
            and conv.padding[0] == conv.padding[1] and conv.dilation == (1, 1))


def use_taps_weight_grad(model: nn.Module, max_positions: int = MAX_POSITIONS) -> int:
    """Turn every eligible depthwise convolution of ``model`` into a
    :class:`TapsDepthwiseConv2d` in place (parameters and state dict unchanged); returns
    how many."""
    n = 0
    for mod in model.modules():
        if eligible(mod):
            mod.__class__ = TapsDepthwiseConv2d
            mod.max_positions = int(max_positions)
            n += 1
    return n


__all__ = ["MAX_POSITIONS", "TapsDepthwiseConv2d", "depthwise_weight_grad", "eligible",
           "use_taps_weight_grad"]
