"""The engine predicts the real test faces once per fitted method and reuses them across the
manipulations' cells, with the same probabilities (and recorded per-face arrays) as predicting
every face."""

from __future__ import annotations

import numpy as np
import torch

from bench.core.faceset import FaceSet
from bench.run.engine import predict_outputs, predict_sharing_reals

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
        shared, _ = predict_sharing_reals(predict, test, CPU, memo, "key", batch_size=4)
        np.testing.assert_array_equal(shared, predict_outputs(predict, test, CPU, batch_size=4)[0])
    assert predict.faces == (6 + 6) + 12 + 6 + 12  # reals once; each check predicted all 12 again


def test_other_real_faces_are_predicted_again():
    whole, predict, memo = whole_test_set(), CountingPredict(), {}
    test = whole.select_manipulation("FaceSwap")
    predict_sharing_reals(predict, test, CPU, memo, "key")
    other = test.subset(np.array([1, 0, *range(2, len(test))]))  # two real faces swapped
    got, _ = predict_sharing_reals(predict, other, CPU, memo, "key")
    np.testing.assert_array_equal(got, predict_outputs(predict, other, CPU)[0])


class RecordingPredict(CountingPredict):
    """Logits and, per face, its mean pixel and its logits: what a method's predict_recording gives."""

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = super().__call__(x)
        return logits, {"mean": x.mean(dim=(1, 2, 3)), "logits": logits}


def test_recorded_arrays_follow_the_faces_when_reals_are_shared():
    whole, predict, memo = whole_test_set(), RecordingPredict(), {}
    for manipulation in ("FaceSwap", "Deepfakes"):
        test = whole.select_manipulation(manipulation)
        probs, rec = predict_sharing_reals(predict, test, CPU, memo, "key", batch_size=4)
        alone, rec_alone = predict_outputs(predict, test, CPU, batch_size=5)
        np.testing.assert_array_equal(probs, alone)
        assert rec.keys() == {"mean", "logits"} and rec["logits"].shape == (len(test), 2)
        for k in rec:
            np.testing.assert_array_equal(rec[k], rec_alone[k])
        x, _ = test.tensors(slice(0, len(test)))
        np.testing.assert_allclose(rec["mean"], x.mean(dim=(1, 2, 3)).numpy(), rtol=1e-6)


def test_a_plain_predict_records_nothing():
    probs, rec = predict_outputs(CountingPredict(), whole_test_set(), CPU, batch_size=4)
    assert rec == {} and probs.shape == (18,)


def test_recorded_half_floats_come_back_as_float32():
    def predict(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return torch.zeros(len(x), 2), {"phi": x.mean(dim=(2, 3)).to(torch.bfloat16),
                                        "n": torch.arange(len(x))}

    _, rec = predict_outputs(predict, whole_test_set(), CPU, batch_size=4)
    assert rec["phi"].dtype == np.float32 and rec["phi"].shape == (18, 3)
    assert rec["n"].dtype == np.int64


def test_a_test_time_method_sees_mixed_batches_and_gets_each_prediction_back_in_face_order():
    """predict_stream: a stored test set lists reals first; a method that adapts while it
    predicts (Tent) is shown seeded shuffled batches with both classes, and every probability and
    recorded array comes back under its own face."""
    from bench.run.predict import predict_stream

    test, seen = whole_test_set(), []

    def predict(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        seen.append(x.mean(dim=(1, 2, 3)))
        return plain(x), {"mean": x.mean(dim=(1, 2, 3))}

    plain = CountingPredict()
    probs, rec = predict_stream(predict, test, CPU, batch_size=6)
    np.testing.assert_allclose(probs, predict_outputs(plain, test, CPU, batch_size=6)[0], rtol=1e-6)
    x, _ = test.tensors(slice(0, len(test)))
    np.testing.assert_allclose(rec["mean"], x.mean(dim=(1, 2, 3)).numpy(), rtol=1e-6)
    means = x.mean(dim=(1, 2, 3)).numpy()
    labels_per_batch = [{int(test.labels[np.argmin(np.abs(means - m))]) for m in b.numpy()} for b in seen]
    assert sum(len(s) == 2 for s in labels_per_batch) >= 2  # in stored order: 1 of 3 batches mixed
    again, _ = predict_stream(predict, test, CPU, batch_size=6)
    np.testing.assert_array_equal(again, probs)  # the stream order is seeded
