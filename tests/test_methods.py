"""Every registered method: builds from its name, fits on a tiny detector and predicts logits; plus
the ``threshold`` baseline's contract (better or equal val accuracy, AUC unchanged)."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.fit_data import FitData, hand_over, strip_labels
from bench.core.registry import METHODS, build, load_builtins
from bench.run.training import train_detector
from bleachbench.methods.threshold import Threshold, best_threshold

load_builtins()
SIZE = 32


class TinyDetector(Detector):
    """A few conv layers with BatchNorm and a 2048-d feature, the width of Xception's."""

    input_size = SIZE
    feature_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 2048, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(2048, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def faces(n: int, seed: int) -> FaceSet:
    g = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    img = g.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    img[labels == 1, :, :, 0] //= 2  # something a detector could pick up
    return FaceSet(
        img,
        labels.astype(np.int64),
        np.where(labels == 1, "FaceSwap", "real"),
        np.array([f"v{i}" for i in range(n)]),
    )


@pytest.fixture(scope="module")
def detector() -> TinyDetector:
    torch.manual_seed(0)
    return TinyDetector().eval()


def small_kwargs(cls: type) -> dict:
    """Tiny schedules for whatever of ``epochs``/``batch_size``/``progress`` a method declares."""
    accepted = inspect.signature(cls).parameters
    wanted = {"epochs": 1, "batch_size": 8, "progress": False, "base_channels": 16}
    return {k: v for k, v in wanted.items() if k in accepted}


@pytest.mark.parametrize("name", sorted(METHODS.module_dict))
def test_method_fits_and_predicts(name: str, detector: TinyDetector, tmp_path) -> None:
    cls = METHODS.get(name)
    method = build(METHODS, {"type": name, **small_kwargs(cls)})
    json.dumps(method.params())
    data = FitData(faces(24, 0), faces(16, 1), train_hq=faces(24, 3), val_hq=faces(16, 4),
                   trainer=train_detector,
                   test_lq=strip_labels(faces(6, 2)), compression="c40",
                   detector_train_hq=faces(24, 3), detector_train_lq=faces(24, 0),
                   detector_train_options={"epochs": 1, "batch_size": 8})
    result = hand_over(method, detector, data, tmp_path, torch.device("cpu"))
    json.dumps(result)
    x, _ = faces(6, 2).tensors(slice(None))
    logits = method.predict(x)
    assert logits.shape == (6, 2) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(METHODS.module_dict))
def test_unknown_option_fails(name: str) -> None:
    with pytest.raises(TypeError):
        build(METHODS, {"type": name, "no_such_option_xyz": 1})


def test_none_is_the_detector(detector: TinyDetector, tmp_path) -> None:
    method = build(METHODS, "none")
    assert method.fit(detector, faces(8, 0), faces(8, 1), tmp_path, torch.device("cpu")) == {}
    x, _ = faces(5, 3).tensors(slice(None))
    with torch.no_grad():
        assert torch.equal(method.predict(x), detector(x))


def test_best_threshold_constructed_case() -> None:
    # every real has margin 1..3 (wrongly called fake at t = 0); fakes 4..6
    margins = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    labels = np.array([0, 0, 0, 1, 1, 1])
    t, acc = best_threshold(margins, labels)
    assert t == 3.5 and acc == 1.0
    t, acc = best_threshold(np.array([-1.0, 1.0]), np.array([0, 1]))
    assert acc == 1.0 and t == 0.0  # among equally good thresholds the detector's own is kept


def test_threshold_raises_val_accuracy_and_keeps_auc(detector: TinyDetector, tmp_path) -> None:
    val = faces(40, 5)
    method = Threshold(batch_size=16)
    result = method.fit(detector, faces(8, 0), val, tmp_path, torch.device("cpu"))
    assert result["val_acc_after"] >= result["val_acc_before"]
    x, y = val.tensors(slice(None))
    with torch.no_grad():
        raw, moved = detector(x), method.predict(x)
    margin_raw, margin_moved = raw[:, 1] - raw[:, 0], moved[:, 1] - moved[:, 0]
    assert torch.allclose(margin_moved, margin_raw - method.threshold, atol=1e-5)
    acc_moved = float((moved.argmax(1) == y).float().mean())
    assert acc_moved == pytest.approx(result["val_acc_after"])
    auc = lambda z: roc_auc_score(y.numpy(), z.softmax(1)[:, 1].numpy())  # noqa: E731
    assert auc(moved) == pytest.approx(auc(raw), abs=1e-9)
