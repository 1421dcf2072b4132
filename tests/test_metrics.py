"""Metrics against sklearn and hand counts; video keying by (manipulation, id)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.core.metrics import compute_metrics, equal_error_rate


def test_frame_metrics_hand_counts():
    labels = [0, 0, 1, 1, 1]
    prob = [0.1, 0.6, 0.7, 0.4, 0.9]
    m = compute_metrics(labels, prob)["frame"]
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 1)
    assert m["acc"] == pytest.approx(60.0)
    assert m["auc"] == pytest.approx(100 * roc_auc_score(labels, prob))


def test_eer_perfect_and_random():
    assert equal_error_rate(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 4000)
    assert abs(equal_error_rate(labels, rng.random(4000)) - 0.5) < 0.05


def test_video_level_keys_do_not_merge_across_manipulations():
    # Two fakes named "000_003" under two manipulations are two videos, not one.
    labels = [0, 0, 1, 1, 1, 1]
    prob = [0.2, 0.4, 0.9, 0.7, 0.3, 0.1]
    keys = [("real", "000"), ("real", "000"), ("Deepfakes", "000_003"), ("Deepfakes", "000_003"),
            ("FaceSwap", "000_003"), ("FaceSwap", "000_003")]
    v = compute_metrics(labels, prob, keys)["video"]
    assert v["n"] == 3
    assert (v["tp"], v["fn"], v["tn"]) == (1, 1, 1)


def test_bad_input():
    with pytest.raises(ValueError):
        compute_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        compute_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError):
        compute_metrics([], [])
    with pytest.raises(ValueError, match="different labels"):
        compute_metrics([0, 1], [0.1, 0.9], [("real", "a"), ("real", "a")])


def test_single_class_auc_is_null_with_a_reason_not_crash():
    m = compute_metrics([1, 1, 1], [0.9, 0.2, 0.7])["frame"]
    assert m["auc"] is None and "one class" in m["undefined"] and m["acc"] == pytest.approx(200 / 3)
