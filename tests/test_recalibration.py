"""The recalibration diagnostic: the normal model's known values, the paper's headroom, validation."""

import math
import re

import numpy as np
import pytest
from scipy.stats import norm

from bench.core.recalibration import (
    best_threshold_accuracy,
    dprime_from_auc,
    ffpp_headroom_targets,
    headroom_band,
    implied_fp_rates,
    recalibration_diagnostic,
    threshold_headroom,
)


@pytest.fixture(scope="module")
def published_csv():
    """The packaged copy of the paper's numbers (package data: always there)."""
    from bench.core.reference import PAPER_CSV

    assert PAPER_CSV.is_file(), PAPER_CSV
    return PAPER_CSV


# --- the model's known values ---------------------------------------------------------------

def test_chance_and_perfect():
    assert best_threshold_accuracy(0.5) == pytest.approx(0.5)
    assert best_threshold_accuracy(1.0) == 1.0
    assert best_threshold_accuracy(0.999999) > 0.99
    assert best_threshold_accuracy(0.0) == pytest.approx(0.5)  # no threshold beats chance
    assert best_threshold_accuracy(0.3) == pytest.approx(0.5)


def test_analytic_points():
    # AUC = Phi(d'/sqrt2)  ->  best accuracy Phi(d'/2)
    for d in (0.5, 1.0, 2.0, 3.0):
        auc = norm.cdf(d / math.sqrt(2))
        assert dprime_from_auc(auc) == pytest.approx(d)
        assert best_threshold_accuracy(auc) == pytest.approx(norm.cdf(d / 2))
    assert best_threshold_accuracy(norm.cdf(1 / math.sqrt(2))) == pytest.approx(0.691462, abs=1e-6)
    assert best_threshold_accuracy(norm.cdf(math.sqrt(2))) == pytest.approx(0.841345, abs=1e-6)


def test_monotonic_and_arrays():
    auc = np.linspace(0.5, 0.9999, 200)
    acc = best_threshold_accuracy(auc)
    assert isinstance(acc, np.ndarray) and acc.shape == auc.shape
    assert np.all(np.diff(acc) > 0)
    assert np.all((acc >= 0.5) & (acc <= 1.0))
    assert np.all(acc <= auc + 1e-12)  # best accuracy never above AUC in this model
    assert isinstance(best_threshold_accuracy(0.8), float)
    nan = best_threshold_accuracy([0.8, np.nan])
    assert np.isnan(nan[1]) and not np.isnan(nan[0])


def test_simulated_scores_match_model():
    rng = np.random.default_rng(0)
    d = 1.2
    real, fake = rng.normal(0, 1, 20000), rng.normal(d, 1, 20000)
    scores = np.sort(np.concatenate([real, fake]))
    t = scores[::50]
    acc = 0.5 * (real[:, None] < t).mean(0) + 0.5 * (fake[:, None] >= t).mean(0)
    assert acc.max() == pytest.approx(best_threshold_accuracy(norm.cdf(d / math.sqrt(2))), abs=0.01)


@pytest.mark.parametrize("prior", [0.1, 0.3, 0.7])
@pytest.mark.parametrize("auc", [0.6, 0.8, 0.95])
def test_unbalanced_prior_is_the_best_threshold(prior, auc):
    d = dprime_from_auc(auc)
    t = np.linspace(-8, 8, 160001)
    brute = ((1 - prior) * norm.cdf(t) + prior * norm.sf(t - d)).max()
    assert best_threshold_accuracy(auc, prior) == pytest.approx(brute, abs=1e-7)
    assert best_threshold_accuracy(auc, prior) == pytest.approx(best_threshold_accuracy(auc, 1 - prior))
    assert best_threshold_accuracy(auc, prior) >= max(prior, 1 - prior)


def test_unbalanced_at_and_below_chance():
    assert best_threshold_accuracy(0.5, prior=0.2) == pytest.approx(0.8)
    assert best_threshold_accuracy(0.4, prior=0.7) == pytest.approx(0.7)


# --- headroom and the diagnostic -----------------------------------------------------------

def test_headroom():
    auc = norm.cdf(1.0)  # d' = sqrt2, best accuracy Phi(1/sqrt2) = 0.7602
    assert threshold_headroom(0.70, auc) == pytest.approx(norm.cdf(1 / math.sqrt(2)) - 0.70)
    h = threshold_headroom([0.70, 0.80], [auc, auc])
    assert h.shape == (2,) and h[1] < 0  # above the model's ceiling: negative


def test_diagnostic_pure_recalibration():
    # accuracy rises, AUC flat: all of the gain is recalibration, none needs AUC to rise
    d = recalibration_diagnostic(0.75, 0.8414, 0.70, 0.8414)
    assert d["gain"] == pytest.approx(0.05)
    assert d["auc_change"] == 0 and d["auc_capacity"] == 0
    assert d["recalibration_part"] == pytest.approx(0.05)
    assert d["ranking_part"] == pytest.approx(0.0)
    assert d["within_recalibration"] is True
    assert d["recalibration_share"] == pytest.approx(1.0)


def test_diagnostic_needs_auc():
    d = recalibration_diagnostic(0.85, 0.93, 0.70, 0.8414)
    assert d["none_headroom"] == pytest.approx(0.0602, abs=1e-3)
    assert d["recalibration_part"] == pytest.approx(d["none_headroom"])
    assert d["ranking_part"] == pytest.approx(0.15 - d["none_headroom"])
    assert d["within_recalibration"] is False
    assert d["auc_capacity"] > 0


def test_diagnostic_loss():
    d = recalibration_diagnostic(0.60, 0.80, 0.70, 0.84)
    assert d["recalibration_part"] == 0.0 and d["ranking_part"] == pytest.approx(-0.10)
    assert math.isnan(d["recalibration_share"])


def test_band():
    assert headroom_band(16.0) == (8.0, 24.0)  # +/-50 %
    assert headroom_band(3.0) == (0.0, 6.0)  # +/-3 points, floored at 0
    assert headroom_band(5.0) == pytest.approx((2.0, 8.0))
    assert headroom_band(5.0, rel=0.2, abs=0.5) == pytest.approx((4.0, 6.0))
    lo, hi = headroom_band(float("nan"))
    assert math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        headroom_band(5.0, rel=-1)


# --- validation ----------------------------------------------------------------------------

def re_value(x):
    return re.escape(repr(float(x)))


@pytest.mark.parametrize("bad", [1.2, -0.1, 84.14, float("inf")])
def test_auc_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=re_value(bad)):
        best_threshold_accuracy(bad)
    with pytest.raises(ValueError, match="auc"):
        threshold_headroom(0.7, bad)


def test_other_validation():
    with pytest.raises(ValueError, match="percentage"):
        best_threshold_accuracy(84.14)
    with pytest.raises(ValueError, match=r"\[0\.8, 1\.5\]|1\.5"):
        best_threshold_accuracy([0.8, 1.5])
    with pytest.raises(ValueError, match="acc"):
        threshold_headroom(70.95, 0.84)
    with pytest.raises(ValueError, match="none_auc"):
        recalibration_diagnostic(0.8, 0.87, 0.7, 84.1)
    for prior in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="prior"):
            best_threshold_accuracy(0.8, prior=prior)
    with pytest.raises(FileNotFoundError, match="csv_path"):
        ffpp_headroom_targets("/nonexistent/numbers.csv")


# --- the paper's numbers -------------------------------------------------------------------

@pytest.mark.parametrize("detector, manipulation, headroom", [
    ("xception", "FaceSwap", 5.1), ("xception", "Face2Face", 15.8),
    ("xception", "NeuralTextures", 3.3), ("f3net", "FaceSwap", 5.4), ("f3net", "Face2Face", 6.5),
])
def test_paper_headroom(published_csv, detector, manipulation, headroom):
    df = ffpp_headroom_targets(published_csv)
    row = df[(df.method == "none") & (df.detector == detector) & (df.manipulation == manipulation)]
    assert len(row) == 1
    assert row.headroom.iloc[0] == pytest.approx(headroom, abs=0.3)


def test_paper_targets_shape(published_csv):
    df = ffpp_headroom_targets(published_csv)
    assert df.attrs["units"] == "percent"
    none, bleach = df[df.method == "none"], df[df.method == "pixel_bleach"]
    assert len(none) == 20 and len(bleach) == 20  # 5 detectors x 4 manipulations
    assert none.best_acc.notna().all()
    assert none.acc.isna().sum() == 2  # two accuracies lost in the paper's text
    xf = bleach[(bleach.detector == "xception") & (bleach.manipulation == "FaceSwap")].iloc[0]
    assert xf.gain == pytest.approx(8.67, abs=0.01)
    assert xf.recalibration_part == pytest.approx(5.1, abs=0.3)
    assert xf.recalibration_part + xf.ranking_part == pytest.approx(xf.gain)
    assert none.none_headroom.isna().all()  # diagnostic only on the remedy rows


# --- where the real faces sit: one real set or one per manipulation --------------------------

@pytest.mark.parametrize("acc, auc", [(0.7095, 0.8414), (0.5286, 0.7538), (0.6299, 0.7241)])
def test_implied_fp_rates_give_back_the_accuracy(acc, auc):
    d = dprime_from_auc(auc)
    rates = implied_fp_rates(acc, auc)
    assert rates[0] < rates[1]  # the FN-heavy and the FP-heavy placement
    for fp in rates:
        mu = norm.ppf(fp)  # real scores N(mu, 1), fakes N(mu + d', 1), threshold 0
        assert (norm.sf(mu) + norm.cdf(mu + d)) / 2 == pytest.approx(acc, abs=1e-9)


def test_implied_fp_rates_at_or_above_the_best_and_at_chance():
    d = dprime_from_auc(0.9)
    above = best_threshold_accuracy(0.9) + 0.01  # the model's best is exceeded: its best placement
    assert implied_fp_rates(above, 0.9) == pytest.approx((norm.cdf(-d / 2),) * 2)
    assert all(math.isnan(v) for v in implied_fp_rates(0.5, 0.5))
    assert all(math.isnan(v) for v in implied_fp_rates(float("nan"), 0.8))
    with pytest.raises(ValueError, match="acc must be in"):
        implied_fp_rates(70.0, 0.8)


def test_ffpp_rows_need_one_real_set_per_manipulation(published_csv):
    """Why a pooled detector is judged on the mean headroom (bench/report/calibration.py): no one
    FP rate fits Xception's Face2Face and Deepfakes rows of Table III."""
    df = ffpp_headroom_targets(published_csv)
    rows = {r.manipulation: r for r in df[(df.method == "none") & (df.detector == "xception")].itertuples()}
    f2f = implied_fp_rates(rows["Face2Face"].acc / 100, rows["Face2Face"].auc / 100)
    df_ = implied_fp_rates(rows["Deepfakes"].acc / 100, rows["Deepfakes"].auc / 100)
    assert f2f[0] < 0.01 and f2f[1] > 0.9 and 0.1 < df_[0] == df_[1] < 0.2
