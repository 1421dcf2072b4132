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

from bench.core.detector import Detector
from bench.core.registry import DETECTORS, load_builtins
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


@pytest.mark.parametrize("frozen_cache_mb", [0.0, 1024.0], ids=["fresh_pass", "kept_pass"])
def test_bleach_fit_epoch(benchmark, frozen_cache_mb, tmp_path) -> None:
    """One fit of the quick profile's shape (64 px, batch 32, one thread): the frozen pass
    repeated every step (``frozen_cache_mb=0``) against kept from the scan (the default).
    Same weights to the last bit (tests/test_pixel_bleach.py); compare the two rows."""
    import numpy as np

    from bench.core.faceset import FaceSet

    torch.set_num_threads(1)
    torch.manual_seed(0)
    load_builtins()
    detector = (DETECTORS.build({"type": "xception"}) if "xception" in DETECTORS.module_dict
                else LocalResNet()).eval()
    rng = np.random.default_rng(0)
    n, size = 256, 64
    labels = (np.arange(n) % 2).astype(np.int64)
    faces = FaceSet(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), labels,
                    np.where(labels == 1, "FaceSwap", "real"), np.array([f"v{i}" for i in range(n)]))
    benchmark.group = "bleach_fit"
    runs = iter(range(10**6))

    def fit() -> dict:
        method = PixelBleach(epochs=2, batch_size=32, progress=False,
                             frozen_cache_mb=frozen_cache_mb)
        return method.fit(detector, faces, faces.subset(np.arange(64)),
                          tmp_path / str(next(runs)), torch.device("cpu"))

    assert benchmark.pedantic(fit, rounds=2, iterations=1)["best_epoch"] >= 0
