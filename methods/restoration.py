"""``restoration``: a small U-Net trained to restore HQ faces from LQ ones, in front of the frozen detector.

Source: compression-artifact removal as a preprocessing defence (e.g. ARCNN,
Dong et al., ICCV 2015; DnCNN, Zhang et al., IEEE TIP 2017), here with a
residual U-Net (Ronneberger et al., MICCAI 2015; :mod:`methods.unet`). Trained
on LQ/HQ pairs of the same face (same video, frame and box) from the train
split; no real/fake label is used. See :mod:`methods.preprocessor` for the
training loop, selection (lowest LQ/HQ val loss) and common config keys.

Loss: ``pixel(unet(x_LQ), x_HQ) + feature_weight * mean((phi(unet(x_LQ)) - phi(x_HQ))^2)``
with phi the frozen detector's feature (a perceptual loss in the detector's own
feature space; Johnson et al., ECCV 2016, with the detector in place of VGG).

Config keys (beyond the common ones): ``pixel_loss`` (``"l1"`` default or
``"mse"``), ``feature_weight`` (0 default: pixel loss only).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from bench.core.registry import METHODS
from bleachbench.methods.preprocessor import COMMON_KEYS, PairedPreprocessor

PIXEL_LOSSES = ("l1", "mse")


@METHODS.register_module(name="restoration")
class Restoration(PairedPreprocessor):
    """A U-Net restoring HQ from LQ faces (paired; pixel loss, optional detector-feature loss)."""

    name = "restoration"
    config_keys: ClassVar[tuple[str, ...]] = COMMON_KEYS + ("pixel_loss", "feature_weight")

    def __init__(self, pixel_loss: str = "l1", feature_weight: float = 0.0, progress: bool = True,
                 **common: Any) -> None:
        if pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f"restoration: pixel_loss must be one of {PIXEL_LOSSES}, got {pixel_loss!r}")
        if float(feature_weight) < 0:
            raise ValueError(f"restoration: feature_weight must be >= 0, got {feature_weight!r}")
        self.pixel_loss, self.feature_weight = pixel_loss, float(feature_weight)
        super().__init__(progress=progress, **common)

    def loss(self, out: torch.Tensor, lq: torch.Tensor, hq: torch.Tensor) -> torch.Tensor:
        pixel = F.l1_loss(out, hq) if self.pixel_loss == "l1" else F.mse_loss(out, hq)
        if self.feature_weight == 0:
            return pixel
        assert self._detector is not None
        with torch.no_grad():
            target = self._detector.features(hq)
        return pixel + self.feature_weight * F.mse_loss(self._detector.features(out), target)
