"""Inference cost of Pixel Bleach vs the detector alone (run with ``pytest --benchmark-only``).

With the bleach a face costs a feature pass, the generator and a second full
detector pass: about 2x the detector plus the generator's own share, which
should stay within about 10 % of one detector pass. Uses ``xception`` at its
native size when registered, else a local ResNet-50-like stand-in (torchvision
``resnet50``, 2048-d, random weights) at 224 px.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.registry import DETECTORS, load_builtins
from bleachbench.detectors.base import Detector
from bleachbench.methods.bleach_generator import BleachGenerator, compensate, offset_direction
from bleachbench.methods.pixel_bleach import PixelBleach

BATCH = 4


class LocalResNet(Detector):
    """torchvision ResNet-50 trunk, 2048-d feature; a stand-in when ``xception`` is not registered."""

    input_size = 224
    feature_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import resnet50

        trunk = resnet50(weights=None)
        trunk.fc = nn.Identity()
        self.trunk, self.head = trunk, nn.Linear(2048, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)


@pytest.fixture(scope="module")
def setup() -> tuple[Detector, PixelBleach, torch.Tensor]:
    torch.manual_seed(0)
    load_builtins()
    detector = (
        DETECTORS.build({"type": "xception"})
        if "xception" in DETECTORS.module_dict
        else LocalResNet()
    )
    detector.eval()
    size = detector.input_size
    method = PixelBleach(progress=False)
    method._detector, method._scale = detector, 1.0
    method.generator = BleachGenerator(detector.feature_dim, size).eval()
    return detector, method, torch.rand(BATCH, 3, size, size)


def test_detector_alone(benchmark, setup) -> None:
    detector, _, x = setup
    benchmark.group = "bleach_inference"
    with torch.no_grad():
        benchmark(detector, x)


def test_detector_with_bleach(benchmark, setup) -> None:
    _, method, x = setup
    benchmark.group = "bleach_inference"
    benchmark(method.predict, x)


def test_generator_alone(benchmark, setup) -> None:
    detector, method, x = setup
    benchmark.group = "bleach_inference"
    with torch.no_grad():
        phi = detector.features(x)
        delta = compensate(phi, offset_direction(detector.classify(phi)), 0.7)
        benchmark(method.generator, delta)
