"""The contract every detector in ``DETECTORS`` answers.

A detector takes RGB faces as float ``[B,3,H,W]`` in ``[0, 1]`` and normalises
them itself with its class ``mean``/``std``: a pixel-space remedy such as Pixel
Bleach adds its bleach to exactly what the detector is given, and no caller
needs to know a backbone's preprocessing.

- ``features(x) -> phi [B, feature_dim]``: the last-layer representation (the
  paper's phi, fed to the bleach generator);
- ``classify(phi) -> logits [B, 2]`` (index 1 = fake);
- ``forward(x) = classify(features(x))``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class Detector(nn.Module):
    """Base class: subclasses implement ``embed`` (normalised input -> phi) and set ``head``."""

    input_size: ClassVar[int] = 299  # native side length in pixels
    mean: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    std: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    feature_dim: ClassVar[int] = 2048
    hidden: ClassVar[bool] = False  # True keeps a test-only model out of ``--detector all``

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> phi [B, feature_dim]."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.normalize(x))

    def classify(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(phi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))
