"""EfficientNet-B4 (Tan and Le, ICML 2019) as a deepfake detector.

timm's ``efficientnet_b4`` with a new 2-way linear head, ImageNet mean/std.
``features`` returns the 1792-d globally average-pooled output of the head
convolution.

Native size: 380 px, the resolution the EfficientNet paper gives B4 and the
one deepfake work uses with it (e.g. the DFDC winners). timm's own cfg says
320 (train) / 384 (test) for its weights; any of these runs, and a caller may
resize to timm's sizes when using its pretrained weights.

Small inputs (64 px and up): strides kept, global average pooling (the last
map is 2x2 at 64 px).

``zero_init_last`` (default True; used only when training from random
initialisation, i.e. ``pretrained=False`` and no ``weights``): the last
BatchNorm of every residual block (``bn3`` of an inverted residual, ``bn2`` of
the first stage's depthwise-separable block; 25 blocks) starts with gamma = 0,
so each block starts as the identity and the 32-block network starts shallow.
timm does this for its ResNets (``zero_init_last``, on by default) but not for
EfficientNet. Without it, on the quick profile (random init, 3 epochs at
64 px, bs 32, lr 1e-3), EfficientNet-B4 barely learns (val accuracy 0.61, C23
test 53-63 %); with it, the same schedule reaches val 0.84 (C23 77-89 %), and
the quick profile's 4 epochs at bs 16, lr 2e-3 reach C23 86-96 % (README,
calibration section).

``weight_grad`` (default ``"native"``, defined here only): how the CPU computes the weight
gradient of a convolution whose output map is at most 4x4 (at 64 px, 22 of the 32 depthwise
convolutions, 3x3 and 5x5 kernels on 4x4 and 2x2 maps of 336 to 2,688 channels,
and the 1x1 convolutions beside them). ``"native"`` leaves PyTorch's kernel. ``"taps"``
(opt-in: ``--cfg-options detector.per_detector.efficientnet_b4.weight_grad=taps``) sums it
tap by tap (detectors/conv_weight_grad.py): a training step at 64 px on one thread takes
about a quarter less. The forward pass is the same either way; the gradient is the same sum
in another order (last bits). A GPU always runs the native kernel. It was the default from
2026-12-01 (results/quick_v6) to issue 29, item 6: the last bits it changes grow, through
training and the bleach's fit, into different cells and verdicts, and a default must not
depend on one CPU's kernels (docs/performance.md).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from bench.core.registry import DETECTORS
from bench.core.weights import load_weights
from bleachbench.detectors.conv_weight_grad import apply_weight_grad
from bleachbench.detectors.timm_backbone import TimmDetector


def zero_init_last_bn(backbone: nn.Module) -> int:
    """Set gamma = 0 on the last BatchNorm of every residual block; returns how many."""
    n = 0
    for block in backbone.blocks.modules():
        if getattr(block, "has_skip", False):
            last = block.bn3 if hasattr(block, "bn3") else block.bn2
            nn.init.zeros_(last.weight)
            n += 1
    return n


@DETECTORS.register_module(name="efficientnet_b4")
class EfficientNetB4(TimmDetector):
    """EfficientNet-B4 (timm), 380 px, ImageNet mean/std, 1792-d feature."""

    timm_name = "efficientnet_b4"
    display_name = "EfficientNet-B4"
    input_size = 380
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    feature_dim = 1792
    pre_activation_modules = ("backbone.bn2.act",)  # conv_head -> BN -> [SiLU] -> pool

    def __init__(
        self,
        pretrained: bool = False,
        weights: str | Path | None = None,
        drop_rate: float | None = None,
        zero_init_last: bool = True,
        weight_grad: str = "native",
        **timm_kwargs,
    ) -> None:
        super().__init__(pretrained=pretrained, weights=None, drop_rate=drop_rate, **timm_kwargs)
        apply_weight_grad(self.backbone, weight_grad, "efficientnet_b4")
        if zero_init_last and not pretrained and weights is None:
            zero_init_last_bn(self.backbone)
        if weights is not None:
            load_weights(self, weights)
