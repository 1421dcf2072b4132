"""``stability_denoiser``: a preprocessor trained, without labels, so the detector sees LQ as it sees HQ.

Source: the "stability" objective of denoised smoothing (Salman, Sun, Yang,
Kapoor, Kolter, "Denoised Smoothing: A Provable Defense for Pretrained
Classifiers", NeurIPS 2020, Eq. 4): a denoiser D in front of a frozen
classifier F is trained with ``CE(F(D(x + delta)), f(x))``, where ``f(x)`` is
F's own prediction on the clean input. Here the noise is compression: ``x`` is
the HQ face, ``x + delta`` its paired LQ face, and D is a residual U-Net
(:mod:`methods.unet`; training loop, selection and common keys in
:mod:`methods.preprocessor`). It is Pixel Bleach's nearest relative: a learned
input change for a frozen detector, but driven by the detector's HQ output
instead of the labels, and a generic image-to-image network instead of a
feature-conditioned generator.

Config keys (beyond the common ones):

- ``target``: ``"hard"`` (default; Salman et al.: the detector's argmax on the
  HQ face) or ``"soft"`` (KL divergence to its softmax on the HQ face, at
  temperature ``temperature``);
- ``mse_weight``: weight of an added ``mean((D(x_LQ) - x_HQ)^2)`` term (Salman et
  al.'s "MSE" objective, used there for pre-training; default 0).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from bench.core.registry import METHODS
from bleachbench.methods.preprocessor import COMMON_KEYS, PairedPreprocessor

TARGETS = ("hard", "soft")


@METHODS.register_module(name="stability_denoiser")
class StabilityDenoiser(PairedPreprocessor):
    """Denoised smoothing's stability objective: detector(D(LQ)) matches detector(HQ); no labels."""

    name = "stability_denoiser"
    config_keys: ClassVar[tuple[str, ...]] = COMMON_KEYS + ("target", "temperature", "mse_weight")

    def __init__(self, target: str = "hard", temperature: float = 1.0, mse_weight: float = 0.0,
                 progress: bool = True, **common: Any) -> None:
        if target not in TARGETS:
            raise ValueError(f"stability_denoiser: target must be one of {TARGETS}, got {target!r}")
        if float(temperature) <= 0 or float(mse_weight) < 0:
            raise ValueError("stability_denoiser: temperature must be > 0 and mse_weight >= 0")
        self.target, self.temperature, self.mse_weight = target, float(temperature), float(mse_weight)
        super().__init__(progress=progress, **common)

    def loss(self, out: torch.Tensor, lq: torch.Tensor, hq: torch.Tensor) -> torch.Tensor:
        assert self._detector is not None
        with torch.no_grad():
            teacher = self._detector(hq)
        student = self._detector(out)
        if self.target == "hard":
            stab = F.cross_entropy(student, teacher.argmax(1))
        else:
            t = self.temperature
            stab = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1),
                            reduction="batchmean", log_target=True) * t * t
        return stab + self.mse_weight * F.mse_loss(out, hq) if self.mse_weight else stab
