"""Bootstrap intervals over videos and the paired test: right values, honest coverage, known answers."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.core.intervals import (
    BootstrapConfig,
    add_intervals,
    paired_bootstrap,
    video_bootstrap,
    weighted_auc,
)
from bench.core.metrics import compute_metrics


def clustered(rng, n_videos=60, fpv=4, q=(0.3, 0.9), lift=0.0):
    """Half real, half fake videos; each video's faces are right with its own probability
    (q[0] or q[1] at random, plus ``lift``): the true frame accuracy is mean(q) + lift."""
    label_v = np.arange(n_videos) % 2
    q_v = rng.choice(q, size=n_videos) + lift
    vid = np.repeat(np.arange(n_videos), fpv)
    label = label_v[vid]
    right = rng.random(len(vid)) < q_v[vid]
    margin = rng.uniform(0.05, 0.45, len(vid))
    prob = np.where(right == (label == 1), 0.5 + margin, 0.5 - margin)
    video = np.array([f"{'FaceSwap' if y else 'real'}/{v:03d}" for v, y in zip(vid, label)])
    return prob, label, video


def test_weighted_auc_matches_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 1)  # many ties
    labels = (rng.random(300) < 0.4).astype(int)
    weights = rng.integers(0, 4, size=(3, 300)).astype(float)
    got = weighted_auc(scores, labels, weights)
    want = [100 * roc_auc_score(labels, scores, sample_weight=w) for w in weights]
    assert got == pytest.approx(want)
    assert np.isnan(weighted_auc(scores, np.zeros(300, int), weights[:1]))[0]


def test_point_estimates_equal_the_record_metrics_and_intervals_are_deterministic():
    prob, label, video = clustered(np.random.default_rng(1))
    cfg = BootstrapConfig(n_boot=200, seed=3)
    out = video_bootstrap(prob, label, video, cfg)
    ref = compute_metrics(label, prob, [tuple(v.split("/")) for v in video])
    for level in ("frame", "video"):
        for m in ("acc", "auc"):
            assert out[level][m] == pytest.approx(ref[level][m])
            lo, hi = out[level][f"{m}_ci"]
            assert lo <= out[level][m] <= hi and hi - lo > 0
    assert video_bootstrap(prob, label, video, cfg) == out
    assert video_bootstrap(prob, label, video, BootstrapConfig(n_boot=200, seed=4)) != out


def test_faces_of_a_video_are_resampled_together():
    # Repeating every face ten times inside its video adds no information: same interval.
    prob, label, video = clustered(np.random.default_rng(2), fpv=1)
    cfg = BootstrapConfig(n_boot=300)
    one = video_bootstrap(prob, label, video, cfg)["frame"]["acc_ci"]
    ten = video_bootstrap(np.repeat(prob, 10), np.repeat(label, 10), np.repeat(video, 10),
                          cfg)["frame"]["acc_ci"]
    assert ten == pytest.approx(one)


def test_interval_covers_the_true_accuracy_at_about_the_stated_rate():
    rng = np.random.default_rng(5)
    cfg = BootstrapConfig(n_boot=300, seed=0)
    truth = 100 * 0.6  # mean of q = (0.3, 0.9), faces clustered by video
    hits = []
    for _ in range(120):
        lo, hi = video_bootstrap(*clustered(rng), cfg)["frame"]["acc_ci"]
        hits.append(lo <= truth <= hi)
    assert 0.86 <= np.mean(hits) <= 0.99


def test_paired_bootstrap_finds_a_known_difference():
    rng = np.random.default_rng(7)
    base = clustered(rng, n_videos=120)
    better = clustered(rng, n_videos=120, lift=0.1)  # same videos, 10 points more often right
    res = paired_bootstrap(dict(zip(("prob", "label", "video"), better)),
                           dict(zip(("prob", "label", "video"), base)), BootstrapConfig(n_boot=500))
    acc = res["frame"]["acc"]
    assert acc["significant"] and acc["ci"][0] > 0 and acc["ci"][0] <= acc["diff"] <= acc["ci"][1]
    worse = paired_bootstrap(dict(zip(("prob", "label", "video"), base)),
                             dict(zip(("prob", "label", "video"), better)), BootstrapConfig(n_boot=500))
    assert worse["frame"]["acc"]["significant"] and worse["frame"]["acc"]["ci"][1] < 0


def test_paired_bootstrap_rarely_flags_a_null_difference():
    rng = np.random.default_rng(11)
    cfg = BootstrapConfig(n_boot=200)
    flags = []
    for _ in range(60):
        a, b = clustered(rng), clustered(rng)
        b = (b[0], a[1], a[2])  # the same faces, scored by an equally good run
        flags.append(paired_bootstrap(dict(zip(("prob", "label", "video"), a)),
                                      dict(zip(("prob", "label", "video"), b)), cfg)
                     ["frame"]["acc"]["significant"])
    assert np.mean(flags) <= 0.12


def test_paired_runs_are_matched_by_video_and_face_not_by_position():
    prob, label, video = clustered(np.random.default_rng(3))
    a = {"prob": prob, "label": label, "video": video}
    # The same run with its videos stored in another order (faces of a video keep their order).
    rank = {v: r for r, v in enumerate(np.random.default_rng(0).permutation(np.unique(video)))}
    order = np.argsort([rank[v] for v in video], kind="stable")
    b = {k: v[order] for k, v in a.items()}
    assert not np.array_equal(b["prob"], prob)
    res = paired_bootstrap(a, b, BootstrapConfig(n_boot=50))
    for level in ("frame", "video"):
        for m in ("acc", "auc"):
            assert res[level][m]["diff"] == pytest.approx(0) and not res[level][m]["significant"]
    with pytest.raises(ValueError, match="same test faces"):
        paired_bootstrap(a, {k: v[:-4] for k, v in a.items()}, BootstrapConfig(n_boot=50))


def test_add_intervals_and_one_class_auc_is_none():
    prob, label, video = clustered(np.random.default_rng(4))
    metrics = compute_metrics(label, prob, [tuple(v.split("/")) for v in video])
    out = add_intervals(metrics, {"prob": prob, "label": label, "video": video},
                        BootstrapConfig(n_boot=100))
    assert len(out["frame"]["acc_ci"]) == 2 and len(out["video"]["auc_ci"]) == 2
    assert out["intervals"]["unit"] == "video" and out["intervals"]["n_boot"] == 100
    assert "acc_ci" not in metrics["frame"]  # the input is not changed
    fakes = label == 1
    one = video_bootstrap(prob[fakes], label[fakes], video[fakes], BootstrapConfig(n_boot=50))
    assert one["frame"]["auc"] is None and one["frame"]["auc_ci"] is None
    assert one["frame"]["acc_ci"] is not None


def test_bad_config_and_inputs_are_clear_errors():
    with pytest.raises(KeyError, match="n_boot"):
        BootstrapConfig.from_dict({"nboot": 5})
    with pytest.raises(ValueError, match="level"):
        BootstrapConfig(level=95)
    with pytest.raises(ValueError, match="different labels"):
        video_bootstrap(np.array([0.1, 0.9]), np.array([0, 1]), np.array(["real/a", "real/a"]))
