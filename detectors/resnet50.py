"""ResNet-50 (He et al., CVPR 2016) as a deepfake detector.

timm's ``resnet50`` with a new 2-way linear head. Input 224x224 (timm's
training size for it), ImageNet mean/std. ``features`` returns the 2048-d
globally average-pooled output of stage 4.

Small inputs (64 px and up): strides kept, global average pooling (the last
map is 2x2 at 64 px).

``weight_grad`` (default ``"taps"``): how the CPU computes the weight gradient of
a convolution whose output map is at most 4x4 (at 64 px, stages 3 and 4: 4x4 and
2x2 maps). ``"taps"`` sums it tap by tap, one matrix product per kernel tap
(detectors/conv_weight_grad.py): a training step at 64 px on one thread takes
13-15 % less. ``"native"`` leaves PyTorch's kernel, which took three times the
forward pass on the 2x2 maps. The forward pass is the same either way; the
gradient is the same sum in another order (last bits). A GPU always runs the
native kernel. Chosen on 2026-12-01 (results/quick_v6): the trained weights, and
so the quick profile's ResNet-50 numbers, differ from quick_v5's as two thread
counts' do.
"""

from __future__ import annotations

from pathlib import Path

from bench.registry import DETECTORS
from bleachbench.detectors.conv_weight_grad import apply_weight_grad
from bleachbench.detectors.timm_backbone import TimmDetector
from bleachbench.detectors.weights import load_weights


@DETECTORS.register_module(name="resnet50")
class ResNet50(TimmDetector):
    """ResNet-50 (timm), 224 px, ImageNet mean/std, 2048-d feature."""

    timm_name = "resnet50"
    input_size = 224
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    feature_dim = 2048
    pre_activation_modules = ("backbone.layer4.2.act3",)  # residual sum before the last ReLU

    def __init__(
        self,
        pretrained: bool = False,
        weights: str | Path | None = None,
        drop_rate: float | None = None,
        weight_grad: str = "taps",
        **timm_kwargs,
    ) -> None:
        super().__init__(pretrained=pretrained, weights=None, drop_rate=drop_rate, **timm_kwargs)
        apply_weight_grad(self.backbone, weight_grad, "resnet50")
        if weights is not None:
            load_weights(self, weights)
