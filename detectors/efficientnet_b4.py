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
"""

from __future__ import annotations

from bench.registry import DETECTORS
from bleachbench.detectors.timm_backbone import TimmDetector


@DETECTORS.register_module(name="efficientnet_b4")
class EfficientNetB4(TimmDetector):
    """EfficientNet-B4 (timm), 380 px, ImageNet mean/std, 1792-d feature."""

    timm_name = "efficientnet_b4"
    input_size = 380
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    feature_dim = 1792
    pre_activation_modules = ("backbone.bn2.act",)  # conv_head -> BN -> [SiLU] -> pool
