"""A 3-layer CNN for tests and smoke runs (not a real detector).

Three 3x3 convolutions (16, 32, 64 channels, stride 2, BN, ReLU), global
average pooling to a 64-d feature and a linear 2-way head. Any input of
16 px and up; native size 64 (the quick profile's), mean = std = 0.5.
It trains in well under a second per epoch on a few dozen faces, so the
whole harness (training, resume, DDP, methods) can be exercised in tests.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.core.detector import Detector
from bench.core.registry import DETECTORS
from bench.core.weights import load_weights


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


@DETECTORS.register_module(name="tiny")
class TinyDetector(Detector):
    """A 3-layer CNN for tests and smoke runs (64-d feature)."""

    hidden = True  # not part of ``--detector all``
    input_size = 64
    resizable = True
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    feature_dim = 64
    pre_activation_modules = ("body.2.2",)  # last conv -> BN -> [ReLU] -> pool

    def __init__(
        self, pretrained: bool = False, weights: str | Path | None = None, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        if pretrained:
            raise ValueError("tiny has no pretrained weights; use pretrained=False")
        self.body = nn.Sequential(_conv(3, 16), _conv(16, 32), _conv(32, 64))
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.feature_dim, 2)
        if weights is not None:
            load_weights(self, weights)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def classify(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(phi))
