"""ResNet-50 (He et al., CVPR 2016) as a deepfake detector.

timm's ``resnet50`` with a new 2-way linear head. Input 224x224 (timm's
training size for it), ImageNet mean/std. ``features`` returns the 2048-d
globally average-pooled output of stage 4.

Small inputs (64 px and up): strides kept, global average pooling (the last
map is 2x2 at 64 px).
"""

from __future__ import annotations

from bench.core.registry import DETECTORS
from bleachbench.detectors.timm_backbone import TimmDetector


@DETECTORS.register_module(name="resnet50")
class ResNet50(TimmDetector):
    """ResNet-50 (timm), 224 px, ImageNet mean/std, 2048-d feature."""

    display_name = "ResNet-50"
    timm_name = "resnet50"
    input_size = 224
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    feature_dim = 2048
    pre_activation_modules = ("backbone.layer4.2.act3",)  # residual sum before the last ReLU
