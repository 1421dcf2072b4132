"""bench.core.verdict: a remedy's verdict against `none` over fits and videos (issue 29 item 2).

Everything here is simulated, seeded and checked by properties (rates, signs, agreement
within a tolerance): no float is compared with a file made on another machine.
"""

from __future__ import annotations

import importlib
import time

import numpy as np
import pytest
from scipy.stats import norm

from bench.core.verdict import (
    AUC,
    CONDITIONAL_MARK,
    FitCell,
    Verdict,
    accuracy,
    auc,
    hierarchical_paired_bootstrap,
)

MU = 0.67  # `none`'s logit margin: accuracy Phi(0.67) ~ 75 %
ACC0 = float(norm.cdf(MU))


def _null_cell(rng: np.random.Generator, n_fits: int, n_videos: int = 200, sigma_fit: float = 0.05,
               churn: float = 0.03) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """One cell where the remedy differs from `none` only by zero-mean fit randomness.

    `none` calls a video right with probability ACC0. Fit f draws a fit-seed effect
    a_f ~ N(0, sigma_fit) (5 accuracy points: larger than the ~2.5-point video sampling noise of
    the paired difference, as in the project) and flips videos' calls: right -> wrong with
    probability churn + max(-a_f, 0)/ACC0, wrong -> right with churn*ACC0/(1-ACC0) +
    max(a_f, 0)/(1-ACC0). The expected accuracy change given a_f is exactly a_f (plus zero-mean
    churn), so over fits the remedy's expected gain is exactly 0: a true null.
    """
    y = np.repeat([0, 1], n_videos // 2)
    margin = rng.normal(MU, 1.0, n_videos)
    none = 1.0 / (1.0 + np.exp(-np.where(y == 1, margin, -margin)))
    right = margin > 0
    fits = []
    for _ in range(n_fits):
        a = rng.normal(0.0, sigma_fit)
        q = np.where(right, churn + max(-a, 0.0) / ACC0,
                     churn * ACC0 / (1 - ACC0) + max(a, 0.0) / (1 - ACC0))
        fits.append(np.where(rng.random(n_videos) < np.clip(q, 0, 1), 1.0 - none, none))
    return fits, none, y, np.arange(n_videos)


def _face_cell(rng: np.random.Generator, n_fits: int, shift: float, fit_sd: float = 0.1,
               n_videos: int = 120, faces: int = 4):
    """Faces clustered in videos; the remedy adds ``shift`` (+ a small fit effect) to the fake
    faces' logits: a real change of both accuracy and AUC."""
    v_label = np.repeat([0, 1], n_videos // 2)
    video = np.repeat(np.array([f"v{i:03d}" for i in range(n_videos)]), faces)
    label = np.repeat(v_label, faces)
    logit = (np.where(label == 1, 0.5, -0.5) + np.repeat(rng.normal(0, 1.0, n_videos), faces)
             + rng.normal(0, 0.7, len(label)))
    none = 1 / (1 + np.exp(-logit))
    fits = [1 / (1 + np.exp(-(logit + (label == 1) * (shift + rng.normal(0, fit_sd))
                              + rng.normal(0, 0.1, len(label)))))
            for _ in range(n_fits)]
    return fits, none, label, video


# ---------------------------------------------------------------------------------------------
# The statistic: false-positive rate, power, the one-fit case
# ---------------------------------------------------------------------------------------------

def test_false_positive_rate_is_near_5_percent_where_the_old_video_only_test_is_not():
    """200 null cells, 3 fits each: the verdict over fits and videos stars about 5 % of them
    (4 % with this seed; 5-7.5 % over other seeds, 7 % over 2000 cells); the old star (the
    paired bootstrap over videos with the one fit held fixed) stars far more (50 % here): the
    bug this module fixes. The two-level percentile bootstrap also over-rejects with 3 fits
    (15 % here), which is why it is not the default. About 1 s."""
    rng = np.random.default_rng(2026)
    n_cells, n_boot = 200, 200
    new = old = pct = 0
    for i in range(n_cells):
        fits, none, y, v = _null_cell(rng, n_fits=3)
        cell = FitCell.of(fits, none, y, v)
        verdict = cell.verdict("acc", n_boot, seed=i, level="video")
        assert verdict.n_fits == 3 and verdict.significant is not None
        new += verdict.significant
        pct += cell.verdict("acc", n_boot, seed=i, level="video", method="percentile").significant
        one = hierarchical_paired_bootstrap(fits[:1], none, y, v, "acc", n_boot, seed=i, level="video")
        old += one.conditional_significant
    fpr_new, fpr_old, fpr_pct = new / n_cells, old / n_cells, pct / n_cells
    assert 0.01 <= fpr_new <= 0.10, fpr_new
    assert fpr_old > 0.15, fpr_old
    assert fpr_pct > fpr_new, (fpr_pct, fpr_new)


def test_a_real_shift_of_the_remedys_scores_is_detected_both_ways():
    rng = np.random.default_rng(1)
    for shift, sign in ((1.5, 1), (-1.5, -1)):
        fits, none, label, video = _face_cell(rng, n_fits=3, shift=shift)
        for metric in ("acc", "auc"):
            for level in ("frame", "video"):
                v = hierarchical_paired_bootstrap(fits, none, label, video, metric, 500, seed=0,
                                                  level=level)
                assert v.significant is True, (shift, metric, level, v)
                assert np.sign(v.diff) == sign and np.sign(v.ci[0]) == np.sign(v.ci[1]) == sign
                assert v.p_value < 0.05 and v.mark == CONDITIONAL_MARK  # one detector


def test_the_star_needs_several_detector_seeds():
    """The same strong shift over the fits of one detector is marked † (conditional on that
    trained detector); over fits grouped by two detector seeds it is starred."""
    rng = np.random.default_rng(5)
    fits, none, label, video = _face_cell(rng, n_fits=4, shift=1.5)
    one = hierarchical_paired_bootstrap(fits, none, label, video, "acc", 300, seed=0)
    two = hierarchical_paired_bootstrap(fits, [none, none], label, video, "acc", 300, seed=0,
                                        groups=[0, 0, 1, 1])
    assert one.significant and one.n_groups == 1 and one.mark == CONDITIONAL_MARK
    assert two.significant and two.n_groups == 2 and two.mark == "*"


def test_fit_noise_larger_than_the_effect_is_not_starred():
    """A consistent-looking gain on the first fit that the other fits do not repeat."""
    rng = np.random.default_rng(3)
    fits, none, label, video = _face_cell(rng, n_fits=3, shift=0.0, fit_sd=0.0)
    fits[0] = 1 / (1 + np.exp(-(np.log(fits[0] / (1 - fits[0])) + 1.5 * (label == 1))))
    fits[1] = 1 / (1 + np.exp(-(np.log(fits[1] / (1 - fits[1])) - 1.5 * (label == 1))))
    one = hierarchical_paired_bootstrap(fits[:1], none, label, video, "auc", 500, seed=0)
    three = hierarchical_paired_bootstrap(fits, none, label, video, "auc", 500, seed=0)
    assert one.conditional_significant is True  # the old star would mark it
    assert three.significant is False


def test_one_fit_is_not_testable_across_fits_but_keeps_its_conditional_interval():
    rng = np.random.default_rng(4)
    fits, none, label, video = _face_cell(rng, n_fits=1, shift=1.5)
    for method in ("t", "percentile"):
        v = hierarchical_paired_bootstrap(fits, none, label, video, "acc", 300, seed=0,
                                          method=method)
        assert v.n_fits == 1 and v.significant is None and v.conditional is True
        assert v.mark == ""
        assert v.ci is not None and v.ci == v.conditional_ci and v.ci[0] < v.diff < v.ci[1]
        assert v.conditional_significant is True and v.p_value is not None
        assert v.per_fit == (pytest.approx(v.diff),)


def test_identical_fits_reduce_to_the_video_only_test():
    """Fits that do not differ add no fit variance: the interval is the conditional one's size."""
    rng = np.random.default_rng(5)
    fits, none, label, video = _face_cell(rng, n_fits=1, shift=0.3)
    v = hierarchical_paired_bootstrap(fits * 3, none, label, video, "auc", 1000, seed=0)
    assert v.n_fits == 3 and v.significant is not None and v.conditional is False
    width, cond_width = v.ci[1] - v.ci[0], v.conditional_ci[1] - v.conditional_ci[0]
    assert width == pytest.approx(cond_width, rel=0.15)


# ---------------------------------------------------------------------------------------------
# Detector seeds: groups pair each fit with its own `none`
# ---------------------------------------------------------------------------------------------

def test_groups_pair_each_fit_with_its_own_none():
    """Seed 0's detector is far better than seed 1's; each remedy fit copies its own seed's
    `none`, so the correct pairing gives a difference of exactly 0 (a wrong one, +-20 points)."""
    rng = np.random.default_rng(6)
    _, good, label, video = _face_cell(rng, n_fits=0, shift=0.0)
    bad = np.where(rng.random(len(label)) < 0.4, 1 - good, good)
    fits = [good, bad, good, bad]
    for nones, groups in (([good, bad], [0, 1, 0, 1]),
                          ({"seed0": good, "seed1": bad}, ["seed0", "seed1", "seed0", "seed1"]),
                          (np.stack([good, bad]), [0, 1, 0, 1])):
        for method in ("t", "percentile"):
            v = hierarchical_paired_bootstrap(fits, nones, label, video, "acc", 200, seed=0,
                                              groups=groups, method=method)
            assert v.n_groups == 2 and v.n_fits == 4
            assert v.diff == 0.0 and v.per_fit == (0.0,) * 4
            assert v.significant is False


def test_detector_seeds_are_the_unit_when_there_are_several():
    """One fit per detector seed is testable (df = seeds - 1); the seed effect counts."""
    rng = np.random.default_rng(7)
    nones, fits = [], []
    for shift in (2.0, -1.5, 0.5):  # the remedy's gain depends on the detector seed
        f, none, label, video = _face_cell(rng, n_fits=1, shift=shift)
        fits += f
        nones.append(none)
    v = hierarchical_paired_bootstrap(fits, nones, label, video, "auc", 300, seed=0,
                                      groups=[0, 1, 2])
    assert v.n_fits == 3 and v.n_groups == 3 and v.df is not None and v.df < 10
    assert v.significant is False  # each seed alone is significant, in both directions
    assert all(abs(d) > 1 for d in v.per_fit)


# ---------------------------------------------------------------------------------------------
# Metrics, determinism, agreement with the video-only paired bootstrap
# ---------------------------------------------------------------------------------------------

def test_weighted_auc_matches_pairwise_counting_with_ties_and_multiplicities():
    rng = np.random.default_rng(8)
    scores = rng.integers(0, 6, 40).astype(float) / 5  # many ties
    labels = rng.integers(0, 2, 40)
    weights = rng.integers(0, 3, (7, 40)).astype(float)
    got = AUC().weighted(scores, labels, weights)
    for r, w in enumerate(weights):
        pos, neg = labels == 1, labels == 0
        s_p, s_n, w_p, w_n = scores[pos], scores[neg], w[pos], w[neg]
        wins = (s_p[:, None] > s_n[None]) + 0.5 * (s_p[:, None] == s_n[None])
        want = 100 * (w_p[:, None] * w_n[None] * wins).sum() / (w_p.sum() * w_n.sum())
        assert got[r] == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert auc(scores, labels) == pytest.approx(AUC().weighted(scores, labels, np.ones((1, 40)))[0])
    assert accuracy(np.array([0.2, 0.7, 0.5]), np.array([0, 1, 0])) == pytest.approx(200 / 3)


def test_a_plain_metric_callable_gives_the_built_in_result():
    rng = np.random.default_rng(9)
    fits, none, label, video = _face_cell(rng, n_fits=2, shift=0.5, n_videos=40)

    def plain_acc(prob, lab):
        return 100.0 * float(np.mean((prob >= 0.5) == (lab == 1)))

    a = hierarchical_paired_bootstrap(fits, none, label, video, plain_acc, 60, seed=3)
    b = hierarchical_paired_bootstrap(fits, none, label, video, "acc", 60, seed=3)
    assert a.diff == pytest.approx(b.diff)
    assert a.ci == pytest.approx(b.ci) and a.conditional_ci == pytest.approx(b.conditional_ci)


def test_same_seed_same_verdict_and_the_record_form():
    rng = np.random.default_rng(10)
    fits, none, label, video = _face_cell(rng, n_fits=3, shift=0.4)
    a = hierarchical_paired_bootstrap(fits, none, label, video, "auc", 200, seed=11)
    b = hierarchical_paired_bootstrap(fits, none, label, video, "auc", 200, seed=11)
    assert isinstance(a, Verdict) and a == b
    d = a.as_dict()
    assert d["method"] == "t" and isinstance(d["ci"], list) and len(d["per_fit"]) == 3


def _intervals_module():
    for name in ("bench.core.intervals", "bench.intervals"):  # it is moving to bench.core
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("no intervals module to compare with")


def test_one_fit_reproduces_the_video_only_paired_bootstrap():
    """Same seed, same video draws: the conditional interval is the old paired bootstrap's."""
    intervals = _intervals_module()
    rng = np.random.default_rng(12)
    fits, none, label, video = _face_cell(rng, n_fits=1, shift=0.4)
    old = intervals.paired_bootstrap({"prob": fits[0], "label": label, "video": video},
                                     {"prob": none, "label": label, "video": video},
                                     intervals.BootstrapConfig(n_boot=300, seed=5))
    for level in ("frame", "video"):
        for metric in ("acc", "auc"):
            v = hierarchical_paired_bootstrap(fits, none, label, video, metric, 300, seed=5,
                                              level=level)
            assert v.diff == pytest.approx(old[level][metric]["diff"], abs=1e-9)
            assert v.conditional_ci == pytest.approx(tuple(old[level][metric]["ci"]), abs=1e-9)
            assert v.conditional_significant == old[level][metric]["significant"]


def test_a_cell_of_the_projects_size_is_fast():
    """800 videos x 5 fits x 1000 replicates (measured ~0.07 s accuracy, ~0.15 s AUC at video
    level); the bound only catches a loss of vectorisation on a loaded machine."""
    rng = np.random.default_rng(13)
    fits, none, label, video = _face_cell(rng, n_fits=5, shift=0.2, n_videos=800, faces=1)
    hierarchical_paired_bootstrap(fits[:2], none, label, video, "acc", 10, seed=0)  # imports
    start = time.perf_counter()
    for metric in ("acc", "auc"):
        hierarchical_paired_bootstrap(fits, none, label, video, metric, 1000, seed=0, level="video")
    assert time.perf_counter() - start < 10.0


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def _ok():
    rng = np.random.default_rng(14)
    fits, none, label, video = _face_cell(rng, n_fits=2, shift=0.0, n_videos=10, faces=2)
    return dict(remedy_probs=fits, none_probs=none, labels=label, videos=video)


@pytest.mark.parametrize("change, named", [
    (lambda a: a.update(remedy_probs=[]), "remedy_probs"),
    (lambda a: a.update(remedy_probs=[a["remedy_probs"][0], a["remedy_probs"][1][:-1]]),
     "remedy_probs[1]"),
    (lambda a: a.update(remedy_probs=a["remedy_probs"][0]), "remedy_probs"),
    (lambda a: a.update(remedy_probs=[np.full_like(a["none_probs"], np.nan)]), "remedy_probs[0]"),
    (lambda a: a.update(none_probs=a["none_probs"][:-2]), "none_probs"),
    (lambda a: a.update(none_probs=[]), "none_probs"),
    (lambda a: a.update(labels=a["labels"][:-1]), "videos"),  # checked against labels
    (lambda a: a.update(labels=np.array([])), "labels"),
    (lambda a: a.update(labels=a["labels"] * 2), "labels"),
    (lambda a: a.update(videos=a["videos"][1:]), "videos"),
    (lambda a: a.update(videos=np.zeros(len(a["labels"]))), "labels"),  # one video, two labels
    (lambda a: a.update(none_probs=[a["none_probs"]] * 2), "groups"),
    (lambda a: a.update(none_probs=[a["none_probs"]] * 2, groups=[0]), "groups"),
    (lambda a: a.update(none_probs=[a["none_probs"]] * 2, groups=[0, 5]), "groups"),
    (lambda a: a.update(none_probs=[a["none_probs"]] * 2, groups=[0, 0]), "groups"),
    (lambda a: a.update(metric="f1"), "metric"),
    (lambda a: a.update(metric="auc", labels=np.zeros_like(a["labels"])), "labels"),
    (lambda a: a.update(method="bayes"), "method"),
    (lambda a: a.update(level="clip"), "level"),
    (lambda a: a.update(alpha=1.5), "alpha"),
    (lambda a: a.update(n_boot=1), "n_boot"),
])
def test_bad_input_raises_naming_the_argument(change, named):
    args = _ok()
    change(args)
    with pytest.raises(ValueError, match=f"^{named.replace('[', '.').replace(']', '.')}"):
        hierarchical_paired_bootstrap(**args)
