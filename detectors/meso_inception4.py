"""MesoInception-4 (Afchar et al., "MesoNet", WIFS 2018), the authors' layers.

Ported from the authors' Keras code (DariusAf/MesoNet, ``MesoInception4``):

    Inception(1,4,4,2) -> BN -> maxpool 2
    Inception(2,4,4,2) -> BN -> maxpool 2
    conv 16 5x5 + ReLU -> BN -> maxpool 2
    conv 16 5x5 + ReLU -> BN -> maxpool 4
    flatten -> dropout 0.5 -> dense 16 -> LeakyReLU 0.1 -> dropout 0.5 -> dense

An Inception block has four branches, each convolution followed by ReLU
(Keras ``activation='relu'``): 1x1; 1x1 then 3x3; 1x1 then 3x3 dilation 2;
1x1 then 3x3 dilation 3; "same" padding; outputs concatenated (11 and 12
channels). Keras' ``MaxPooling2D(padding='same')`` is ``ceil_mode=True``.

Native input 256x256, mean = std = 0.5. ``features`` returns the paper's
16-d layer (after LeakyReLU); the last dense layer is the 2-way ``head``
(the authors' single sigmoid unit becomes two logits, index 1 = fake).

Small inputs: at 256 px the last feature map is 8x8x16 (flatten 1024). At
other sizes the map is adaptively average-pooled to that 8x8 grid before
flattening (an identity at 256 px), so the dense layer keeps its 1024 inputs
and weights transfer between sizes; at 64 px the 2x2 map is spread over the
grid. Inputs of 32 px and up run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.core.detector import Detector
from bench.core.registry import DETECTORS
from bench.core.weights import load_weights


def _conv_relu(cin: int, cout: int, k: int, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation), nn.ReLU(True))


class InceptionLayer(nn.Module):
    """The MesoInception block: four ReLU branches (1x1; 3x3; 3x3 d2; 3x3 d3), concatenated."""

    def __init__(self, cin: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.b1 = _conv_relu(cin, a, 1)
        self.b2 = nn.Sequential(_conv_relu(cin, b, 1), _conv_relu(b, b, 3))
        self.b3 = nn.Sequential(_conv_relu(cin, c, 1), _conv_relu(c, c, 3, dilation=2))
        self.b4 = nn.Sequential(_conv_relu(cin, d, 1), _conv_relu(d, d, 3, dilation=3))
        self.out_channels = a + b + c + d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


@DETECTORS.register_module(name="meso_inception4")
class MesoInception4(Detector):
    """MesoInception-4 (MesoNet authors' layers), 256 px, 16-d feature."""

    input_size = 256
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    feature_dim = 16
    display_name = "MesoInception4"
    grid = 8  # the last map's side at the native 256 px
    resizable = True  # any face of 64 px and up runs (the profile's faces.size is used)
    pre_activation_modules = ("act",)  # dense 16 -> [LeakyReLU]

    def __init__(
        self, pretrained: bool = False, weights: str | Path | None = None, drop_rate: float = 0.5
    ) -> None:
        super().__init__()
        if pretrained:
            raise ValueError(
                "meso_inception4 has no downloadable weights; pass weights='file.pth' instead"
            )
        inc1 = InceptionLayer(3, 1, 4, 4, 2)
        inc2 = InceptionLayer(inc1.out_channels, 2, 4, 4, 2)
        self.body = nn.Sequential(
            inc1,
            nn.BatchNorm2d(inc1.out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
            inc2,
            nn.BatchNorm2d(inc2.out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_relu(inc2.out_channels, 16, 5),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_relu(16, 16, 5),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(4, ceil_mode=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(self.grid)
        self.drop1 = nn.Dropout(drop_rate)
        self.fc1 = nn.Linear(16 * self.grid * self.grid, self.feature_dim)
        self.act = nn.LeakyReLU(0.1)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.feature_dim, 2)
        if weights is not None:
            load_weights(self, weights)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if y.shape[-2:] != (self.grid, self.grid):
            y = self.pool(y)
        return self.act(self.fc1(self.drop1(y.flatten(1))))

    def classify(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(phi))
