"""The ``linear_probe`` reference: a logistic regression on the frozen detector's phi of LQ train,
C chosen on LQ val; it recovers faces a fooled head gets wrong and never touches the detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from datasets.faceset import FaceSet
from detectors.base import Detector
from methods.linear_probe import LinearProbe, val_score

SIZE = 16


class MeanColour(Detector):
    """phi = the mean of each colour channel; a head that looks at red with a wrong bias."""

    input_size = SIZE
    feature_dim = 3
    mean = (0.0, 0.0, 0.0)
    std = (1.0, 1.0, 1.0)

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([0.0, -8.0]))  # fake iff red > 0.8: calls all real

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def faces(n: int, seed: int) -> FaceSet:
    """Fakes are redder (red 0.55 vs 0.35 on average; the head needs > 0.8 to say fake)."""
    g = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    img = g.uniform(0.3, 0.6, (n, 1, 1, 3)) + 0.02 * g.standard_normal((n, SIZE, SIZE, 3))
    img[..., 0] += 0.2 * labels[:, None, None] - 0.1
    img = np.clip(img, 0, 1)
    return FaceSet((img * 255).round().astype(np.uint8), labels.astype(np.int64),
                   np.where(labels == 1, "FaceSwap", "real"), np.array([f"v{i}" for i in range(n)]))


def accuracy(predict, fs: FaceSet) -> float:
    x, y = fs.tensors(slice(None))
    with torch.no_grad():
        return float((predict(x).argmax(1) == y).float().mean())


def test_probe_recovers_what_phi_carries_and_leaves_the_detector(tmp_path) -> None:
    det = MeanColour().eval()
    before = {k: v.clone() for k, v in det.state_dict().items()}
    test = faces(200, 3)
    assert accuracy(det, test) == pytest.approx(0.5)  # the head calls every face real
    probe = LinearProbe()
    facts = probe.fit(det, faces(200, 1), faces(100, 2), tmp_path, torch.device("cpu"))
    assert accuracy(probe.predict, test) > 0.75
    assert facts["C"] in probe.cs and len(facts["val_scores"]) == len(probe.cs)
    best = max(s["val_score"] for s in facts["val_scores"])
    assert facts["val_acc"] is not None and best == pytest.approx((facts["val_acc"] + facts["val_auc"]) / 2)
    assert all(torch.equal(before[k], v) for k, v in det.state_dict().items())
    logits = probe.predict(test.tensors(slice(0, 4))[0])
    assert logits.shape == (4, 2) and torch.allclose(logits[:, 0], -logits[:, 1])


def test_probe_options_and_errors() -> None:
    assert LinearProbe(cs="1,0.1").cs == (0.1, 1.0)
    assert LinearProbe(cs=[10, 1]).params()["cs"] == "1,10"
    with pytest.raises(TypeError, match="valid options"):
        LinearProbe(C=1)
    with pytest.raises(ValueError, match="cs"):
        LinearProbe(cs=[0])
    with pytest.raises(RuntimeError, match="fit"):
        LinearProbe().predict(torch.zeros(1, 3, SIZE, SIZE))


def test_val_score_rule() -> None:
    labels, prob = np.array([0, 0, 1, 1]), np.array([0.6, 0.2, 0.7, 0.9])
    score, acc, auc = val_score(labels, prob)
    assert (acc, auc) == (0.75, 1.0) and score == pytest.approx(0.875)
    assert val_score(np.array([1, 1]), np.array([0.9, 0.1]))[::2] == (0.5, None)
