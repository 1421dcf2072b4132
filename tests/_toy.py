"""Small detectors, toy faces and a training loop shared by the method tests (CPU, seconds).

``TwoConvDetector``: two conv layers with BatchNorm and a 64-d pooled feature after a ReLU (the
Pixel Bleach tests and the bit-exact reference); ``one_conv_detector(size)``: one conv layer, an
8-d feature (the fit-data and remedy tests). ``checkerboard_faces``: flat noisy faces whose fakes
carry a checkerboard (0.04 "HQ", 0.012 "LQ": what compression does to fine artefacts).
``train_toy``: Adam at 3e-3 over slices of 32, the detector left in eval mode, no gradients.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.core.detector import Detector
from bench.core.faceset import FaceSet


class TwoConvDetector(Detector):
    """Two conv layers, BatchNorm (buffers to keep frozen), a 64-d feature after a ReLU."""

    input_size = 32
    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(64, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class OneConvDetector(Detector):
    """One conv layer with BatchNorm, an 8-d pooled feature."""

    input_size = 16
    feature_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def checkerboard_faces(n: int, seed: int, amplitude: float, size: int = 32,
                       manipulation: str = "Deepfakes") -> FaceSet:
    """Random flat faces with noise; fakes carry a checkerboard of ``amplitude``."""
    g = np.random.default_rng(seed)
    labels = g.integers(0, 2, n)
    yy, xx = np.mgrid[0:size, 0:size]
    pattern = (((yy + xx) % 2) * 2 - 1)[None, :, :, None].astype(np.float64)
    img = g.uniform(0.3, 0.7, (n, 1, 1, 3)) + 0.08 * g.standard_normal((n, size, size, 3))
    img = np.clip(img + amplitude * labels[:, None, None, None] * pattern, 0, 1)
    return FaceSet((img * 255).round().astype(np.uint8), labels.astype(np.int64),
                   np.where(labels == 1, manipulation, "real"),
                   np.array([f"v{i}" for i in range(n)]))


def train_toy(det: Detector, faces: FaceSet, epochs: int, lr: float = 3e-3,
              batch: int = 32) -> Detector:
    """Adam over ``faces`` in order, ``epochs`` times; returns ``det`` in eval mode, no grads."""
    opt = torch.optim.Adam(det.parameters(), lr)
    for _ in range(epochs):
        for i in range(0, len(faces), batch):
            x, y = faces.tensors(slice(i, i + batch))
            loss = F.cross_entropy(det(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    det.zero_grad(set_to_none=True)
    return det.eval()
