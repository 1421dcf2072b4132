"""How much of an accuracy gain a better threshold alone would give: the recalibration diagnostic.

A remedy for compressed deepfakes (Pixel Bleach, a fitted threshold, BatchNorm adaptation, ...)
can raise accuracy in two ways: by moving the scores so that the detector's fixed threshold sits
in a better place (recalibration: ranking, and so AUC, unchanged), or by separating real from fake
better (AUC rises). This module tells the two apart from (accuracy, AUC) pairs alone, with the
equal-variance normal model of a binary score:

    real scores ~ N(0, 1), fake scores ~ N(d', 1),    AUC = Phi(d' / sqrt(2)),
    so  d' = sqrt(2) * Phi^{-1}(AUC),

and, with balanced classes, the best threshold sits half-way (t = d'/2) and reaches

    best-threshold accuracy = Phi(d' / 2).

With a prior pi = P(fake) != 0.5 the likelihood-ratio threshold is t = d'/2 + ln((1-pi)/pi) / d'
and the accuracy (1-pi) Phi(t) + pi (1 - Phi(t - d')), in closed form. Below AUC 0.5 no threshold
on the score (fake = high) beats calling every face the majority class, so the best accuracy
there is max(pi, 1-pi).

The *headroom* of a cell is best-threshold accuracy at its AUC minus its accuracy: the gain the
model says an oracle threshold would give with the ranking untouched. For a remedy cell, the
diagnostic compares the remedy's gain over ``none`` with ``none``'s headroom: a gain no larger
than that headroom is within what recalibration alone gives (and shows as accuracy rising with
AUC flat); only the rest needs AUC to rise.

Units: every function here takes and returns **fractions in [0, 1]** (AUC 0.8414, not 84.14),
except ``ffpp_headroom_targets`` and ``headroom_markdown``, which keep the published CSV's
**percentage points** (the calibration report's unit), and ``headroom_band``, which works in the
unit of its ``target``. An AUC outside [0, 1] raises ValueError (so a percentage passed by mistake
is caught); NaN passes through as NaN (a cell missing in the paper).

Assumptions (see docs/recalibration.md): equal variances of the two classes' scores, normal
scores (strictly: any monotone transform of normal scores, since AUC and threshold accuracy are
invariant to it), balanced classes unless a prior is given, and accuracy and AUC measured on the
same units (the paper's Table III is frame level, 300 frames per video, balanced real/fake).

Regenerate the docs' tables: ``python -m bench.core.recalibration [CSV]``.

Pure numpy/scipy/pandas; imports nothing of the project.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

from bench.core.reference import PAPER_CSV

__all__ = [
    "DEFAULT_CSV",
    "best_threshold_accuracy",
    "dprime_from_auc",
    "ffpp_headroom_targets",
    "headroom_band",
    "headroom_markdown",
    "implied_fp_rates",
    "recalibration_diagnostic",
    "threshold_headroom",
]

#: The packaged published numbers, looked up relative to the repository root (this file is
#: bench/core/recalibration.py). Only a default: every function takes the path as an argument.
DEFAULT_CSV = PAPER_CSV

#: Table III's setting: detectors trained on FF++ C23, tested on C40.
C40_SETTING = "train c23, test c40"


def _fractions(x, name: str) -> np.ndarray:
    """x as a float array, every finite value in [0, 1]; ValueError naming the offending value."""
    arr = np.asarray(x, dtype=float)
    bad = np.isfinite(arr) & ((arr < 0.0) | (arr > 1.0)) | np.isinf(arr)
    if np.any(bad):
        value = arr[bad].flat[0]
        hint = " (a percentage? pass fractions, e.g. 84.14 -> 0.8414)" if 1.0 < value <= 100.0 else ""
        raise ValueError(f"{name} must be in [0, 1], got {value!r}{hint}")
    return arr


def _prior(prior) -> float:
    p = float(prior)
    if not 0.0 < p < 1.0:
        raise ValueError(f"prior (the share of fakes) must be in (0, 1), got {prior!r}")
    return p


def _out(arr: np.ndarray, like):
    """A result as a Python float for scalar input, an array otherwise."""
    return float(arr) if np.ndim(like) == 0 else np.asarray(arr, dtype=float)


def dprime_from_auc(auc):
    """d' = sqrt(2) * Phi^{-1}(AUC) of the equal-variance normal model (AUC a fraction; inf at 1)."""
    a = _fractions(auc, "auc")
    return _out(math.sqrt(2.0) * norm.ppf(a), auc)


def best_threshold_accuracy(auc, prior: float = 0.5):
    """The equal-variance normal model's best accuracy over thresholds, at a given AUC.

    auc: a fraction in [0, 1] (scalar or array; NaN passes through). prior: the share of fakes,
    0.5 (balanced) by default. Returns a fraction (float for scalar input, else an array).

    Balanced: Phi(d'/2) with d' = sqrt(2) Phi^{-1}(AUC). Unbalanced: the likelihood-ratio threshold
    t = d'/2 + ln((1-prior)/prior)/d', accuracy (1-prior) Phi(t) + prior (1 - Phi(t - d')).
    AUC <= 0.5: max(prior, 1-prior) (no threshold on a score read as "fake = high" does better
    than the majority class). AUC = 1: 1.
    """
    a = _fractions(auc, "auc")
    p = _prior(prior)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = math.sqrt(2.0) * norm.ppf(a)
        if p == 0.5:
            acc = norm.cdf(d / 2.0)
        else:
            t = d / 2.0 + math.log((1.0 - p) / p) / d
            acc = (1.0 - p) * norm.cdf(t) + p * norm.sf(t - d)
    floor = max(p, 1.0 - p)
    acc = np.where(a <= 0.5, floor, acc)  # covers d' = 0 (t undefined) and AUC < 0.5
    acc = np.where(a >= 1.0, 1.0, acc)
    acc = np.where(np.isnan(a), np.nan, acc)
    return _out(acc, auc)


def threshold_headroom(acc, auc, prior: float = 0.5):
    """best_threshold_accuracy(auc, prior) - acc: the oracle-threshold gain the model predicts.

    acc and auc are fractions in [0, 1] (arrays broadcast). Negative when the cell already sits
    above the model's best accuracy for its AUC (the model does not fit that cell).
    """
    acc_arr = _fractions(acc, "acc")
    out = np.asarray(best_threshold_accuracy(_fractions(auc, "auc"), prior)) - acc_arr
    return float(out) if out.ndim == 0 else out


def recalibration_diagnostic(remedy_acc, remedy_auc, none_acc, none_auc, prior: float = 0.5) -> dict:
    """Split a remedy's accuracy gain over ``none`` into recalibration and ranking parts.

    All inputs and outputs are fractions in [0, 1] (scalars; NaN propagates). Keys:

    - ``remedy_best_acc``: best-threshold accuracy at the remedy's own AUC;
    - ``none_best_acc``: best-threshold accuracy at ``none``'s AUC, i.e. what recalibrating the
      untreated detector alone would reach;
    - ``gain``: remedy_acc - none_acc; ``auc_change``: remedy_auc - none_auc;
    - ``none_headroom``: none_best_acc - none_acc (the recalibration budget);
    - ``remedy_headroom``: remedy_best_acc - remedy_acc (near 0: the remedy sits on the model's
      best-threshold curve for its own AUC; negative: above it, the model does not fit);
    - ``recalibration_part``: min(gain, none_headroom), floored at 0: the part of the gain a
      better threshold on the untreated detector would give as well;
    - ``ranking_part``: gain - recalibration_part: the part that needs AUC to rise (negative when
      the remedy loses accuracy);
    - ``over_none_best``: remedy_acc - none_best_acc: how far the remedy lands above (or, when
      negative, below) what an oracle threshold on the untreated detector reaches; equals
      gain - none_headroom, but defined even when ``none``'s accuracy is missing;
    - ``auc_capacity``: remedy_best_acc - none_best_acc: how much the model's ceiling moved with
      the AUC change (what the ranking part can at most be, if the model fits);
    - ``recalibration_share``: recalibration_part / gain when gain > 0, else NaN;
    - ``within_recalibration``: gain <= none_headroom (bool; False when anything is NaN).

    Reading it: a gain that is only recalibration shows as accuracy rising with AUC flat
    (``auc_change`` ~ 0, ``auc_capacity`` ~ 0, gain <= ``none_headroom``). A remedy whose
    accuracy lands near ``remedy_best_acc`` did at least as much as a threshold refit would at
    its AUC; it beats a plain threshold refit on ``none`` only by ``ranking_part``.
    """
    r_acc, r_auc, n_acc, n_auc = (float(_fractions(v, name)) for v, name in (
        (remedy_acc, "remedy_acc"), (remedy_auc, "remedy_auc"), (none_acc, "none_acc"),
        (none_auc, "none_auc")))
    remedy_best = best_threshold_accuracy(r_auc, prior)
    none_best = best_threshold_accuracy(n_auc, prior)
    gain = r_acc - n_acc
    none_headroom = none_best - n_acc
    recal = min(max(gain, 0.0), max(none_headroom, 0.0)) if not (
        math.isnan(gain) or math.isnan(none_headroom)) else math.nan
    return {
        "remedy_acc": r_acc,
        "remedy_auc": r_auc,
        "none_acc": n_acc,
        "none_auc": n_auc,
        "remedy_best_acc": remedy_best,
        "none_best_acc": none_best,
        "gain": gain,
        "auc_change": r_auc - n_auc,
        "none_headroom": none_headroom,
        "remedy_headroom": remedy_best - r_acc,
        "recalibration_part": recal,
        "ranking_part": gain - recal,
        "over_none_best": r_acc - none_best,
        "auc_capacity": remedy_best - none_best,
        "recalibration_share": recal / gain if gain > 0 else math.nan,
        "within_recalibration": bool(gain <= none_headroom),
    }


def implied_fp_rates(acc, auc) -> tuple[float, float]:
    """The false-positive rates (fractions) a balanced cell with this accuracy and AUC allows.

    Under the model, with real scores N(mu, 1), fake scores N(mu + d', 1) and the detector's
    threshold at 0, FP = Phi(mu) and accuracy = (1 - Phi(mu) + Phi(mu + d')) / 2. Two values of
    mu give ``acc`` (mirror images about the best threshold, mu = -d'/2): returns their FP rates,
    (FN-heavy, FP-heavy). A cell at or above the model's best accuracy for its AUC (negative
    headroom) gives the best threshold's FP rate, Phi(-d'/2), twice.

    What it is for: a detector trained on all manipulations together scores *one* real test set,
    so its real faces have one FP rate across the manipulations' cells. Cells whose allowed FP
    rates do not meet cannot come from one such detector (docs/calibration.md).
    """
    a = float(_fractions(acc, "acc"))
    u = float(_fractions(auc, "auc"))
    if math.isnan(a) or math.isnan(u) or u <= 0.5:
        return (math.nan, math.nan)
    d = math.sqrt(2.0) * norm.ppf(u) if u < 1.0 else 12.0
    best_mu = -d / 2.0

    def excess(mu: float) -> float:
        return (norm.sf(mu) + norm.cdf(mu + d)) / 2.0 - a

    if excess(best_mu) <= 0.0:
        fp = float(norm.cdf(best_mu))
        return (fp, fp)
    from scipy.optimize import brentq

    lo = brentq(excess, best_mu - 40.0, best_mu)
    hi = brentq(excess, best_mu, best_mu + 40.0)
    return (float(norm.cdf(lo)), float(norm.cdf(hi)))


def headroom_band(target, rel: float = 0.5, abs: float = 3.0) -> tuple[float, float]:  # noqa: A002
    """The acceptance band for a testbed's oracle-threshold gain around FF++'s headroom ``target``.

    The band is target +/- max(rel * |target|, abs), its lower end floored at 0 (an oracle
    threshold fitted on test never loses accuracy). Defaults: within +/-50 % of FF++'s value or
    +/-3 points, whichever is wider, for a target in percentage points (for a target in
    fractions pass abs=0.03). The 3-point floor keeps small targets (NeuralTextures, Deepfakes:
    about 3 and 7 points on Xception) from demanding a precision a test set of a few hundred faces
    cannot give (a 95 % interval on an accuracy from 400 faces spans about +/-4.5 points); the
    50 % keeps the large ones (Face2Face, 16) from being met by any value "somewhere near".
    Returns (low, high); NaN target gives (nan, nan).
    """
    t = float(target)
    if not (rel >= 0 and abs >= 0):
        raise ValueError(f"rel and abs must be >= 0, got rel={rel!r}, abs={abs!r}")
    if math.isnan(t):
        return (math.nan, math.nan)
    half = max(rel * math.fabs(t), abs)
    return (max(t - half, 0.0), t + half)


def _read_csv(csv_path):
    import pandas as pd

    path = Path(DEFAULT_CSV if csv_path is None else csv_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"published numbers not found at {path}; pass csv_path= (the packaged "
            "pixel_bleach_tmm2023.csv, columns table,detector,manipulation,method,setting,metric,value,note)")
    df = pd.read_csv(path, dtype={"table": str})
    need = {"table", "detector", "manipulation", "method", "setting", "metric", "value"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return df


def ffpp_headroom_targets(csv_path=None, table: str = "III", setting: str = C40_SETTING,
                          remedy: str = "pixel_bleach"):
    """FF++ C40 headroom per detector x manipulation, and the diagnostic of the paper's remedy cells.

    csv_path: the published numbers (columns table,detector,manipulation,method,setting,metric,
    value,note); default ``DEFAULT_CSV`` (the packaged bench/data/pixel_bleach_tmm2023.csv).
    Takes the rows of ``table`` and ``setting`` with method ``none`` or ``remedy`` and metric acc
    and auc. Returns a pandas DataFrame, **in percentage points like the CSV**, one row per
    (detector, manipulation, method) in the CSV's order, with columns:

    detector, manipulation, method, acc, auc, best_acc (best-threshold accuracy at the row's AUC),
    headroom (best_acc - acc); and on the remedy rows (NaN on ``none`` rows): none_acc, none_auc,
    none_best_acc, gain, auc_change, none_headroom, recalibration_part, ranking_part,
    over_none_best, auc_capacity, within_recalibration (see recalibration_diagnostic). A missing published
    accuracy gives NaN headroom and NaN diagnostic. ``df.attrs["units"] == "percent"``.
    Select the targets with ``df[df.method == "none"]``.
    """
    import pandas as pd

    raw = _read_csv(csv_path)
    sel = raw[(raw["table"].astype(str) == str(table)) & (raw["setting"] == setting)
              & raw["method"].isin(["none", remedy]) & raw["metric"].isin(["acc", "auc"])]
    if sel.empty:
        raise ValueError(f"no rows of table {table!r}, setting {setting!r}, method none/{remedy!r}")
    keys = ["detector", "manipulation", "method"]
    order = sel[keys].drop_duplicates()
    wide = sel.pivot_table(index=keys, columns="metric", values="value", aggfunc="first",
                           dropna=False)
    wide = order.merge(wide.reset_index(), on=keys, how="left")
    for col in ("acc", "auc"):
        if col not in wide:
            wide[col] = np.nan
    wide["acc"] = pd.to_numeric(wide["acc"], errors="coerce")
    wide["auc"] = pd.to_numeric(wide["auc"], errors="coerce")

    rows = []
    none = {(r.detector, r.manipulation): r for r in wide[wide.method == "none"].itertuples()}
    diag_cols = ["none_acc", "none_auc", "none_best_acc", "gain", "auc_change", "none_headroom",
                 "recalibration_part", "ranking_part", "over_none_best", "auc_capacity",
                 "within_recalibration"]
    for r in wide.itertuples():
        best = 100.0 * best_threshold_accuracy(r.auc / 100.0)
        row = {"detector": r.detector, "manipulation": r.manipulation, "method": r.method,
               "acc": r.acc, "auc": r.auc, "best_acc": best, "headroom": best - r.acc}
        row.update({c: np.nan for c in diag_cols})
        base = none.get((r.detector, r.manipulation))
        if r.method == remedy and base is not None:
            d = recalibration_diagnostic(r.acc / 100.0, r.auc / 100.0, base.acc / 100.0,
                                         base.auc / 100.0)
            for c in diag_cols:
                if c == "within_recalibration":
                    row[c] = d[c] if not math.isnan(d["gain"]) else np.nan
                else:
                    row[c] = 100.0 * d[c]
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["units"] = "percent"
    out.attrs["source"] = str(Path(DEFAULT_CSV if csv_path is None else csv_path))
    return out


def _f(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _signed(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.1f}"


def _fp_pair(acc, auc) -> str:
    """The real FP rates (percent) a row allows, "8 or 50" (one value at the best threshold)."""
    if math.isnan(acc) or math.isnan(auc):
        return "–"
    lo, hi = (100.0 * v for v in implied_fp_rates(acc / 100.0, auc / 100.0))
    return f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f} or {hi:.0f}"


def headroom_markdown(df) -> str:
    """The docs' two Markdown tables from ``ffpp_headroom_targets(...)``: targets (with the real
    FP rates each row allows, :func:`implied_fp_rates`), then the remedy cells' diagnostic."""
    lines = ["| Detector | Manipulation | Acc | AUC | Best-threshold acc | Headroom | Real FP it allows |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in df[df.method == "none"].itertuples():
        lines.append(f"| {r.detector} | {r.manipulation} | {_f(r.acc)} | {_f(r.auc)} | "
                     f"{_f(r.best_acc)} | {_f(r.headroom)} | {_fp_pair(r.acc, r.auc)} |")
    lines += ["", "| Detector | Manipulation | Acc none → bleach | AUC none → bleach | Gain | "
                  "Headroom of none | Recalibration part | Ranking part | Bleach − best threshold on none | "
                  "Best acc at bleach AUC | Bleach − its best |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df[df.method != "none"].itertuples():
        lines.append(
            f"| {r.detector} | {r.manipulation} | {_f(r.none_acc)} → {_f(r.acc)} | "
            f"{_f(r.none_auc)} → {_f(r.auc)} | {_signed(r.gain)} | {_f(r.none_headroom)} | "
            f"{_f(r.recalibration_part)} | {_signed(r.ranking_part)} | "
            f"{_signed(r.over_none_best)} | {_f(r.best_acc)} | "
            f"{_signed(-r.headroom)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(headroom_markdown(ffpp_headroom_targets(argv[0] if argv else None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
