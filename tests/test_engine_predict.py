"""The engine predicts the real test faces once per fitted method and reuses them across the
manipulations' cells, with the same probabilities as predicting every face."""

from __future__ import annotations

import numpy as np
import torch

from bench.engine import predict_probs, predict_sharing_reals
from bleachbench.datasets.faceset import FaceSet

CPU = torch.device("cpu")


def whole_test_set() -> FaceSet:
    g = np.random.default_rng(0)
    manips = np.array(["real"] * 6 + ["FaceSwap"] * 6 + ["Deepfakes"] * 6)
    return FaceSet(g.integers(0, 256, (18, 8, 8, 3), dtype=np.uint8), (manips != "real").astype(np.int64),
                   manips, np.array([f"v{i % 6}" for i in range(18)]), np.arange(18) % 2)


class CountingPredict:
    def __init__(self) -> None:
        self.faces = 0
        self.conv = torch.nn.Conv2d(3, 2, 3)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.faces += len(x)
        return self.conv(x).mean(dim=(2, 3))


def test_reals_are_predicted_once_and_the_probabilities_are_unchanged():
    whole, predict, memo = whole_test_set(), CountingPredict(), {}
    for manipulation in ("FaceSwap", "Deepfakes"):
        test = whole.select_manipulation(manipulation)
        shared = predict_sharing_reals(predict, test, CPU, memo, "key", batch_size=4)
        np.testing.assert_array_equal(shared, predict_probs(predict, test, CPU, batch_size=4))
    assert predict.faces == (6 + 6) + 12 + 6 + 12  # reals once; each check predicted all 12 again


def test_other_real_faces_are_predicted_again():
    whole, predict, memo = whole_test_set(), CountingPredict(), {}
    test = whole.select_manipulation("FaceSwap")
    predict_sharing_reals(predict, test, CPU, memo, "key")
    other = test.subset(np.array([1, 0, *range(2, len(test))]))  # two real faces swapped
    got = predict_sharing_reals(predict, other, CPU, memo, "key")
    np.testing.assert_array_equal(got, predict_probs(predict, other, CPU))
