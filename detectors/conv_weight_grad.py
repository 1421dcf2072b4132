"""A faster CPU weight gradient for convolutions whose output map is small.

On the CPU, PyTorch's (oneDNN's) weight gradient of a convolution is slow where the
output map is small: the sum over the batch and the map's few positions is too short
for its kernels. At 64 px, EfficientNet-B4 runs 5x5 depthwise convolutions of 960
channels on 4x4 maps and of 1,632 on 2x2 maps; each weight gradient took 7-11 ms at
one thread against 0.1 ms for the forward pass, a quarter of a training step in all.
ResNet-50's stage-4 3x3 convolutions (512 channels, 2x2 maps) took three times their
forward pass (measured on the project's 2-core machine, torch 2.14.1).

:class:`TapsConv2d` computes that gradient kernel tap by kernel tap: for tap ``(i, j)``
the input positions it meets are one strided slice of the channels-last input, and

- a depthwise convolution (one filter per channel): ``dW[c, 0, i, j]`` is one
  multiply-and-reduce of that slice with the output gradient;
- a dense one (``groups=1``): ``dW[:, :, i, j]`` is one matrix product,
  ``dY^T [O, M] @ X [M, I]`` over the M batch-and-map positions.

Output positions (and whole taps) that meet only the zero padding are skipped. It is
used where the output map has at most ``max_positions`` positions (16: 4x4 and
smaller); elsewhere, on a GPU, under CPU autocast, and for the input gradient,
PyTorch's own kernel runs.
The forward pass is the module's own, unchanged. The weight gradient is the same sum
in another order: it differs from the native one in the last bits (relative 1e-7 to
1e-6), and weights trained with it differ from those trained without it as two thread
counts' do. Per training step at 64 px (batch 16, one thread): EfficientNet-B4 about
a quarter less (0.62 against 0.83 s, medians of interleaved steps; the depthwise part
alone 0.64), ResNet-50 13-15 % less, Xception 4 %
(``tests/benchmarks/test_conv_weight_grad_speed.py``).

Only EfficientNet-B4 uses it (``weight_grad``, detectors/efficientnet_b4.py). ResNet-50
does not: retrained with it on the quick profile, its seed-2 detector fell below the
C23 bar (FaceSwap and Face2Face 88.5 %, against 91.6 and 90.9 with the native kernel;
seed 1 FaceSwap 89.0 against 91.0): the last bits moved its swap cells, which sit at
88.5-93 % either way, across the line (results/resnet50_taps_probe/). Its C23
calibration is marginal whichever kernel runs; a change of its training computation
wants its own three-seed calibration, not a speed-up's footnote. Xception is left as it
is (4 %).
"""

from __future__ import annotations

import torch
from torch import nn

MAX_POSITIONS = 16  # output positions (Ho * Wo) up to which the taps are summed
WEIGHT_GRADS = ("taps", "native")  # the detectors' ``weight_grad`` choices


def _rows(tap: int, size: int, out: int, stride: int, padding: int) -> tuple[int, int]:
    """Output rows ``[r0, r1)`` whose input row ``r * stride + tap - padding`` is inside
    ``[0, size)``."""
    return (max(0, -((tap - padding) // stride)),
            min(out, (size - 1 - tap + padding) // stride + 1))


def _tap_slices(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: int, stride: int,
                padding: int):
    """For every tap ``(i, j)`` that meets the input: ``i, j``, the NHWC input slice it
    reads and the NHWC output-gradient slice it writes to."""
    k, s, p = int(kernel_size), int(stride), int(padding)
    h, w = x.shape[2:]
    ho, wo = grad_out.shape[2:]
    xh, gh = x.permute(0, 2, 3, 1), grad_out.permute(0, 2, 3, 1)  # NHWC views
    for i in range(k):
        r0, r1 = _rows(i, h, ho, s, p)
        if r1 <= r0:
            continue
        for j in range(k):
            c0, c1 = _rows(j, w, wo, s, p)
            if c1 <= c0:
                continue
            yield i, j, (xh[:, r0 * s + i - p:(r1 - 1) * s + i - p + 1:s,
                            c0 * s + j - p:(c1 - 1) * s + j - p + 1:s],
                         gh[:, r0:r1, c0:c1])


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: int,
                          stride: int, padding: int) -> torch.Tensor:
    """Weight gradient ``[C, 1, k, k]`` of a depthwise convolution of ``x [N, C, H, W]``
    (zero padding ``padding``, ``stride``, no dilation) with output gradient ``grad_out``."""
    k, c = int(kernel_size), x.shape[1]
    out = x.new_zeros(k, k, c)
    for i, j, (xs, gs) in _tap_slices(x, grad_out, k, stride, padding):
        torch.sum(xs * gs, dim=(0, 1, 2), out=out[i, j])
    return out.permute(2, 0, 1).unsqueeze(1)


def dense_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: int,
                      stride: int, padding: int) -> torch.Tensor:
    """Weight gradient ``[O, I, k, k]`` (channels-last strides) of a ``groups=1``
    convolution of ``x [N, I, H, W]`` with output gradient ``grad_out [N, O, Ho, Wo]``."""
    k, c_in, c_out = int(kernel_size), x.shape[1], grad_out.shape[1]
    out = x.new_zeros(c_out, k, k, c_in)
    for i, j, (xs, gs) in _tap_slices(x, grad_out, k, stride, padding):
        torch.mm(gs.reshape(-1, c_out).t(), xs.reshape(-1, c_in), out=out[:, i, j])
    return out.permute(0, 3, 1, 2)


class _TapsConv(torch.autograd.Function):
    """The module's forward; backward with the tap sums on small maps."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, conv: TapsConv2d) -> torch.Tensor:
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
            tap_grad = depthwise_weight_grad if conv.groups > 1 else dense_weight_grad
            grad_w = tap_grad(x, grad_out, conv.kernel_size[0], conv.stride[0], conv.padding[0])
        return grad_x, grad_w, None


class TapsConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose weight gradient on the CPU is summed tap by tap where the
    output map has at most ``max_positions`` positions (same parameters, same state
    dict, same forward)."""

    max_positions: int = MAX_POSITIONS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type == "cpu" and torch.is_grad_enabled() and self.weight.requires_grad
                and not torch.is_autocast_enabled("cpu")):  # autocast: its own casts, native
            return _TapsConv.apply(x, self.weight, self)
        return super().forward(x)


def eligible(conv: nn.Module) -> bool:
    """A dense (``groups=1``) or depthwise (one filter per channel) ``nn.Conv2d`` the tap
    sums cover: square kernel and stride, symmetric zero padding, no dilation, no bias."""
    return (type(conv) in (nn.Conv2d, TapsConv2d) and conv.bias is None
            and (conv.groups == 1 or conv.groups == conv.in_channels == conv.out_channels)
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)
            and conv.kernel_size[0] == conv.kernel_size[1] and conv.stride[0] == conv.stride[1]
            and conv.padding[0] == conv.padding[1] and conv.dilation == (1, 1))


def use_taps_weight_grad(model: nn.Module, max_positions: int = MAX_POSITIONS) -> int:
    """Turn every eligible convolution of ``model`` into a :class:`TapsConv2d` in place
    (parameters and state dict unchanged); returns how many."""
    n = 0
    for mod in model.modules():
        if eligible(mod):
            mod.__class__ = TapsConv2d
            mod.max_positions = int(max_positions)
            n += 1
    return n


def apply_weight_grad(model: nn.Module, weight_grad: str, owner: str) -> None:
    """A detector's ``weight_grad`` option: ``"taps"`` turns its convolutions into
    :class:`TapsConv2d`, ``"native"`` leaves them."""
    if weight_grad not in WEIGHT_GRADS:
        raise ValueError(f"{owner}: weight_grad must be one of {WEIGHT_GRADS}, got {weight_grad!r}")
    if weight_grad == "taps":
        use_taps_weight_grad(model)


__all__ = ["MAX_POSITIONS", "WEIGHT_GRADS", "TapsConv2d", "apply_weight_grad",
           "dense_weight_grad", "depthwise_weight_grad", "eligible", "use_taps_weight_grad"]
