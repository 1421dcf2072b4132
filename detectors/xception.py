"""Xception as FaceForensics++ uses it (Roessler et al., ICCV 2019).

FF++'s detector is Chollet's Xception (ImageNet-style, the Keras port in
timm as ``legacy_xception``) with its classifier replaced by a new 2-way
linear layer. Input 299x299, mean = std = (0.5, 0.5, 0.5) (pixels to
[-1, 1]). ``features`` returns the 2048-d globally average-pooled output of
the exit flow (after the last ReLU). Dropout 0.5 before the head, as in FF++'s code.

Small inputs (the quick profile, 64 px and up): every stride is kept; global
average pooling makes the feature size independent of the input (the last
map is 2x2 at 64 px).
"""

from __future__ import annotations

from bench.core.registry import DETECTORS
from bleachbench.detectors.timm_backbone import TimmDetector


@DETECTORS.register_module(name="xception")
class Xception(TimmDetector):
    """Xception (FaceForensics++'s detector), 299 px, 2048-d feature."""

    display_name = "Xception"
    timm_name = "legacy_xception"
    input_size = 299
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    feature_dim = 2048
    default_drop_rate = 0.5  # FF++'s TransferModel: Dropout(0.5) before the new linear layer
    pre_activation_modules = ("backbone.act4",)  # exit flow: conv4 -> bn4 -> [act4] -> pool
