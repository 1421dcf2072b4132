"""Verdicts of a remedy against ``none`` that include the fit's own randomness.

What it is for. A table cell's star says "this remedy changes this metric for this detector".
The paired bootstrap over test videos (``paired_bootstrap`` in the intervals module) holds the
fitted models fixed: it answers "would *these* fitted weights do better on another draw of test
videos?", not "would fitting the remedy again do better?". Fitting again (another method seed:
initialisation and data order; another detector seed: the detector's training) moves a remedy's
cell by more than the test-sampling noise, so single-fit stars flip between machines. This
module tests the remedy-minus-``none`` difference over fits *and* videos together. It is pure
numpy/scipy and imports nothing of the project: the tables code hands it arrays.

Design (one cell: one detector, test set, remedy, metric, level)
----------------------------------------------------------------
Units: fits ``f`` (method fit seeds), optionally grouped by detector seed ``g`` (``groups[f]``
names the ``none`` prediction that fit ``f`` pairs with, one per detector seed), and test
videos ``v`` shared by every fit (a crossed design: every fit is scored on the same videos).
All probability arrays are per face, in one face order (align them first, e.g. with the
intervals module's ``align``); ``videos`` clusters faces, ``labels`` is 0 real / 1 fake.

The estimand is the mean over detector seeds of the mean over their fits of
``D_f = metric(remedy_f) - metric(none_g(f))`` (0-100 for the built-in ``"acc"``/``"auc"``).

Two statistics, ``method=``:

``"t"`` (default): a t interval whose variance has two parts,

    se**2 = s_units**2 / n_units  +  v_videos

- ``s_units**2 / n_units``: the spread across fits of the per-fit paired difference ``D_f``
  (``n_units`` = fits; with several detector seeds the unit is the seed and ``D`` is the seed's
  mean over its fits, so the detector's training randomness is in it);
- ``v_videos``: the variance, over a paired video bootstrap (the same video draw for every fit
  and for ``none``; stratified by class as in the intervals module), of the fit-averaged
  difference: the test-set sampling the fits-only t-test would ignore (a remedy with identical
  fits gets exactly the old video-only test's variance, with df ~ n_videos);
- degrees of freedom by Welch-Satterthwaite from ``n_units - 1`` and ``n_videos - 1``; the
  two-sided p-value from the same t.

It counts the fit-by-video interaction (each fit's own per-video noise) in both parts, so its
variance is conservative by at most that term (at most a factor sqrt(2) on ``se`` when that term
is all there is); with the fit-seed effect dominant, as in this project, it is close to exact.
The Satterthwaite df is estimated from the same noisy between-fit spread, which makes the test
slightly liberal at 3 fits (Welch's known small-sample behaviour). Measured false-positive
rates at alpha = 0.05 (200 videos, null cells whose fits differ from ``none`` only by a zero-mean
fit-seed effect of sd 5 accuracy points plus per-video churn; 1500-2000 cells each, standard
error about 0.5 %):

    fits differ by a common fit effect (the project's case)   3 fits: 5-7 %     5 fits: 4.5-5.5 %
    fits differ only per video (no common fit effect)         3 fits: 2 %       5 fits: 1.5 %
    identical fits, a per-video effect of zero mean           3 fits: 5.5 %     5 fits: 5.5 %
    3 detector seeds (each its own ``none``) x 2 fits         4 % (600 cells; "percentile": 2 %)

against 45-59 % for the old star (the video-only paired bootstrap on one fit) in the first row
and 12-17 % (3 fits) / 9-13 % (5 fits) for ``"percentile"`` below. The 5 % level is nominal to
within about 2 points; the alternatives are far worse (old star, percentile) or far more
conservative (this variance with df = k-1: 0-2 %, and little power at 3 fits).

``"percentile"``: the two-level (three with groups) percentile bootstrap: resample detector
seeds with replacement, then fits within each drawn seed, then videos (paired), take the
percentile interval of the replicate mean difference. It is offered for comparison and for many
fits, *not* as the default, because with few fits it is anti-conservative, not conservative:
the bootstrap distribution of a mean over k fits has variance ``(k-1)/k * s**2/k`` and normal-
like tails, while the truth needs a t with k-1 df (4.30 at k = 3, 2.78 at k = 5, against 1.96);
with 3 fits there are only 10 distinct fit multisets, P(all three draws are the lowest fit)
= 1/27 > 2.5 %, so the 95 % interval is about [min fit, max fit] widened by the video noise, and
three zero-mean fits all fall on one side of 0 a quarter of the time. (Where the fits differ
only per video it double counts that noise and is conservative instead, about 1 %.)

Why not a nonparametric test across fits (sign flips, wild cluster bootstrap): with k fits a
sign-flip test has 2**k patterns, so its smallest two-sided p-value is 2/2**k: 0.25 at k = 3,
0.0625 at k = 5: it can never reach 5 % with the 3-5 fits the project can afford. The t
reference assumes roughly normal fit effects; that is the price of a usable test with 3 fits.
A pure t-test across fits of the per-fit paired difference (df k-1, no video term) is the
``"t"`` method's first part; alone it ignores the test-set sampling, so a remedy whose fits
agree (a deterministic one) would be starred on differences the video bootstrap calls noise.

Resolution with 3 fits is coarse either way: df = 2 puts the critical value at 4.30 standard
errors, so only a difference about 4.3 times its standard error is starred; 5 fits (2.78)
buy a lot of power.

With one fit (and one detector seed) nothing can be said about fitting again:
``significant`` is ``None``, and ``ci``/``p_value`` are the *conditional* video-only ones
(``conditional=True``), what the old star meant. ``conditional_ci`` and
``conditional_significant`` carry that video-only test for every cell; with the same seed they
are exactly the intervals module's ``paired_bootstrap`` for one fit (the same video draws).

Speed: a replicate is a row of per-video multiplicities (no array copies); accuracy is a matrix
product, AUC a weighted Mann-Whitney statistic from one sort of the negatives per fit and a
cumulative sum (ties count a half). 800 videos x 5 fits x 1000 replicates on one core: about
0.07 s for accuracy and 0.15 s for AUC at video level; with 10 faces a video at frame level
about 0.2 s and 0.6 s (face weights are expanded a chunk of replicates at a time). The first
call also imports ``scipy.special`` (~0.6 s).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVELS = ("video", "frame")
METHODS = ("t", "percentile")
#: the mark of a verdict significant over the fits of one trained detector (conditional on it)
CONDITIONAL_MARK = "†"
_CHUNK_ELEMS = 4_000_000  # replicate rows x scores computed at once (bounds memory)


# --------------------------------------------------------------------------------------------
# Metrics: callable as metric(prob, label) -> float, with a vectorised weighted form
# --------------------------------------------------------------------------------------------

class Accuracy:
    """Accuracy (0-100) at ``threshold``: ``prob >= threshold`` is called fake."""

    name = "acc"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = float(threshold)

    def __call__(self, prob: np.ndarray, label: np.ndarray) -> float:
        prob, label = np.asarray(prob, dtype=np.float64), np.asarray(label)
        return float(100.0 * np.mean((prob >= self.threshold) == (label == 1)))

    def weighted(self, prob: np.ndarray, label: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """One accuracy per row of ``weights`` [R, N] (multiplicities of the N scores)."""
        correct = ((prob >= self.threshold) == (label == 1)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * (weights @ correct) / weights.sum(axis=1)


class AUC:
    """ROC AUC (0-100), ties counting a half; NaN when a class is missing."""

    name = "auc"

    def __call__(self, prob: np.ndarray, label: np.ndarray) -> float:
        prob = np.asarray(prob, dtype=np.float64)
        return float(self.weighted(prob, np.asarray(label), np.ones((1, len(prob))))[0])

    def weighted(self, prob: np.ndarray, label: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """One AUC per row of ``weights`` [R, N]: for each positive, the weighted negatives
        below it (plus half those tied) from one sort of the negatives and a cumulative sum."""
        pos = np.asarray(label) == 1
        neg_s = prob[~pos]
        order = np.argsort(neg_s, kind="mergesort")
        neg_sorted = neg_s[order]
        w_neg = weights[:, ~pos][:, order]
        cum = np.zeros((weights.shape[0], len(neg_sorted) + 1))
        np.cumsum(w_neg, axis=1, out=cum[:, 1:])
        pos_s = prob[pos]
        lt = np.searchsorted(neg_sorted, pos_s, side="left")
        le = np.searchsorted(neg_sorted, pos_s, side="right")
        credit = 0.5 * (cum[:, lt] + cum[:, le])  # negatives below + half the tied ones
        w_pos = weights[:, pos]
        num = np.einsum("rn,rn->r", w_pos, credit)
        den = w_pos.sum(axis=1) * cum[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, 100.0 * num / np.where(den > 0, den, 1.0), np.nan)


accuracy = Accuracy()
auc = AUC()
_BUILTIN = {"acc": accuracy, "auc": auc}

Metric = Callable[[np.ndarray, np.ndarray], float]


def _metric(metric: str | Metric) -> Metric:
    if isinstance(metric, str):
        if metric not in _BUILTIN:
            raise ValueError(f"metric: unknown name {metric!r}; valid: {sorted(_BUILTIN)} "
                             "or a callable metric(prob, label) -> float")
        return _BUILTIN[metric]
    if not callable(metric):
        raise ValueError(f"metric: expected 'acc', 'auc' or a callable, got {type(metric).__name__}")
    return metric


def _weighted(metric: Metric, prob: np.ndarray, label: np.ndarray,
              weights: np.ndarray) -> np.ndarray:
    """``metric`` for each row of integer multiplicities ``weights`` [R, N]."""
    fast = getattr(metric, "weighted", None)
    if fast is not None:
        step = max(1, _CHUNK_ELEMS // max(1, weights.shape[1]))
        return np.concatenate([np.asarray(fast(prob, label, weights[i:i + step]), dtype=np.float64)
                               for i in range(0, weights.shape[0], step)])
    # a plain callable: materialise each replicate (slow, but any metric works)
    idx = np.arange(weights.shape[1])
    out = np.empty(weights.shape[0])
    for r, w in enumerate(weights):
        take = np.repeat(idx, w.astype(np.int64))
        out[r] = metric(prob[take], label[take])
    return out


# --------------------------------------------------------------------------------------------
# The cell and its verdict
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """Remedy minus ``none`` for one cell, over fits and videos.

    ``diff``: mean over detector seeds of the mean over their fits of the paired difference;
    ``ci``/``p_value``/``significant``: the test over fits and videos (``significant`` is
    ``None`` with one fit, and then ``ci``/``p_value`` are the conditional video-only ones,
    ``conditional=True``); ``conditional_ci``/``conditional_significant``: the video-only
    paired bootstrap with the fits held fixed (the old star); ``per_fit``: each fit's ``D_f``.
    """

    diff: float
    ci: tuple[float, float] | None
    p_value: float | None
    significant: bool | None
    n_fits: int
    n_groups: int
    n_videos: int
    method: str
    conditional: bool
    conditional_ci: tuple[float, float] | None
    conditional_significant: bool | None
    per_fit: tuple[float, ...]
    se: float | None = None
    df: float | None = None

    @property
    def mark(self) -> str:
        """``"*"`` when significant over fits and videos with several detector seeds; ``"†"``
        when significant over the fits of one trained detector (conditional on it: training it
        again, on another seed or machine, can change the verdict); else ``""`` (never for one
        fit)."""
        if not self.significant:
            return ""
        return "*" if self.n_groups > 1 else CONDITIONAL_MARK

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _as_1d(x: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not numeric ({e})") from None
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of per-face probabilities, got shape {a.shape}")
    return a


@dataclass(frozen=True)
class FitCell:
    """One table cell's inputs, checked: per-fit remedy probabilities [n_fits, N], ``none``
    probabilities [n_groups, N], each fit's group index, labels and video clusters.

    Build it with :meth:`of`; call :meth:`verdict` (once per metric and level) on it.
    """

    remedy: np.ndarray  # float64 [F, N]
    none: np.ndarray  # float64 [G, N]
    group: np.ndarray  # int64 [F], index into none
    label: np.ndarray  # int8 [N]
    code: np.ndarray  # int64 [N], video index of each face
    v_label: np.ndarray  # int8 [V]
    keys: np.ndarray  # str [V], sorted video keys

    @classmethod
    def of(cls, remedy_probs: Sequence[np.ndarray] | np.ndarray,
           none_probs: Sequence[np.ndarray] | Mapping[Any, np.ndarray] | np.ndarray,
           labels: np.ndarray, videos: np.ndarray,
           groups: Sequence[Any] | None = None) -> FitCell:
        label = np.asarray(labels)
        if label.ndim != 1:
            raise ValueError(f"labels: expected a 1-d array, got shape {label.shape}")
        n = len(label)
        if n == 0:
            raise ValueError("labels: empty (no faces to test)")
        if not np.isin(label, (0, 1)).all():
            raise ValueError("labels: must be 0 (real) or 1 (fake)")
        video = np.asarray(videos)
        if video.ndim != 1 or len(video) != n:
            raise ValueError(f"videos: expected {n} values (one per face, as labels), "
                             f"got shape {video.shape}")

        if isinstance(remedy_probs, np.ndarray) and remedy_probs.ndim == 2:
            remedy_probs = list(remedy_probs)
        if isinstance(remedy_probs, np.ndarray) or not isinstance(remedy_probs, Sequence):
            raise ValueError("remedy_probs: expected a list of per-fit probability arrays "
                             "(or a 2-d array [n_fits, n_faces])")
        if len(remedy_probs) == 0:
            raise ValueError("remedy_probs: empty (no fits)")
        rem = [_as_1d(p, f"remedy_probs[{i}]") for i, p in enumerate(remedy_probs)]

        if isinstance(none_probs, Mapping):
            none_keys = list(none_probs)
            none_list = [none_probs[k] for k in none_keys]
        else:
            if isinstance(none_probs, np.ndarray) and none_probs.ndim == 1:
                none_list = [none_probs]
            elif isinstance(none_probs, np.ndarray) and none_probs.ndim == 2:
                none_list = list(none_probs)
            elif isinstance(none_probs, Sequence) and not isinstance(none_probs, str):
                none_list = list(none_probs)
            else:
                raise ValueError("none_probs: expected an array, a list of arrays (one per "
                                 "detector seed) or a mapping group -> array")
            none_keys = list(range(len(none_list)))
        if len(none_list) == 0:
            raise ValueError("none_probs: empty (no `none` prediction)")
        nones = [_as_1d(p, f"none_probs[{k!r}]") for k, p in zip(none_keys, none_list)]

        for name, arrs, keys in (("remedy_probs", rem, range(len(rem))),
                                 ("none_probs", nones, none_keys)):
            for k, a in zip(keys, arrs):
                if len(a) != n:
                    raise ValueError(f"{name}[{k!r}]: {len(a)} values, but labels has {n} "
                                     "(every array is per face, in one face order)")
                if not np.isfinite(a).all():
                    raise ValueError(f"{name}[{k!r}]: non-finite values")

        if groups is None:
            if len(nones) != 1:
                raise ValueError(f"groups: needed when none_probs holds {len(nones)} predictions "
                                 "(say which `none` each fit pairs with, e.g. groups=range(n) "
                                 "for one fit per detector seed)")
            group = np.zeros(len(rem), dtype=np.int64)
        else:
            groups = list(groups)
            if len(groups) != len(rem):
                raise ValueError(f"groups: {len(groups)} entries for {len(rem)} fits in remedy_probs")
            pos = {k: i for i, k in enumerate(none_keys)}
            missing = [g for g in groups if g not in pos]
            if missing:
                raise ValueError(f"groups: {missing[0]!r} names no prediction in none_probs "
                                 f"(its keys: {none_keys})")
            group = np.asarray([pos[g] for g in groups], dtype=np.int64)
            unused = sorted(set(range(len(nones))) - set(group.tolist()))
            if unused:
                raise ValueError(f"groups: none_probs[{none_keys[unused[0]]!r}] has no fit")

        keys, code = np.unique(video.astype(str), return_inverse=True)
        label8 = label.astype(np.int8)
        v_label = np.zeros(len(keys), dtype=np.int8)
        v_label[code] = label8
        if (v_label[code] != label8).any():
            bad = keys[code[v_label[code] != label8][0]]
            raise ValueError(f"labels: video {bad!r} has faces with different labels")
        return cls(np.stack(rem), np.stack(nones), group, label8, code.reshape(-1).astype(np.int64),
                   v_label, keys)

    @property
    def n_fits(self) -> int:
        return self.remedy.shape[0]

    @property
    def n_groups(self) -> int:
        return self.none.shape[0]

    @property
    def n_videos(self) -> int:
        return len(self.keys)

    def video_counts(self, n_boot: int, seed: int, stratify: bool = True) -> np.ndarray:
        """``[n_boot, V]`` multiplicities of each video per replicate: the same draws as the
        intervals module's ``video_counts`` for the same seed (so one fit reproduces the old
        paired bootstrap exactly)."""
        rng = np.random.default_rng(seed)
        n_v = self.n_videos
        counts = np.zeros(n_boot * n_v, dtype=np.float64)
        offset = (np.arange(n_boot) * n_v)[:, None]
        members_list = [np.flatnonzero(self.v_label == c) for c in (0, 1)] if stratify \
            else [np.arange(n_v)]
        for members in members_list:
            if len(members) == 0:
                continue
            draws = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
            counts += np.bincount((draws + offset).ravel(), minlength=n_boot * n_v)
        return counts.reshape(n_boot, n_v)

    def _scores(self, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(remedy [F, M], none [G, M], labels [M], face->video code or None) at ``level``."""
        if level == "frame":
            return self.remedy, self.none, self.label, self.code
        per_video = np.bincount(self.code, minlength=self.n_videos).astype(np.float64)

        def vmean(p: np.ndarray) -> np.ndarray:
            return np.stack([np.bincount(self.code, weights=row, minlength=self.n_videos)
                             for row in p]) / per_video
        return vmean(self.remedy), vmean(self.none), self.v_label, None

    def verdict(self, metric: str | Metric = "acc", n_boot: int = 1000, seed: int = 0,
                alpha: float = 0.05, *, level: str = "frame", method: str = "t",
                stratify: bool = True) -> Verdict:
        """The verdict of this cell's remedy against ``none`` (see the module docstring)."""
        m = _metric(metric)
        if level not in LEVELS:
            raise ValueError(f"level: {level!r}; valid: {LEVELS}")
        if method not in METHODS:
            raise ValueError(f"method: {method!r}; valid: {METHODS}")
        if int(n_boot) != n_boot or n_boot < 2:
            raise ValueError(f"n_boot: must be an integer >= 2, got {n_boot}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha: must be in (0, 1), got {alpha}")
        n_boot = int(n_boot)
        rem, none, lab, code = self._scores(level)
        counts = self.video_counts(n_boot, seed, stratify)
        ones = np.ones((1, rem.shape[1]))

        point_rem = np.array([_weighted(m, p, lab, ones)[0] for p in rem])
        point_none = np.array([_weighted(m, p, lab, ones)[0] for p in none])
        if not (np.isfinite(point_rem).all() and np.isfinite(point_none).all()):
            raise ValueError(f"labels: metric {getattr(m, 'name', m)!r} is undefined on this "
                             "test set (AUC needs both real and fake videos)")
        step = max(1, _CHUNK_ELEMS // max(1, rem.shape[1]))
        reps_rem = np.empty((self.n_fits, n_boot))
        reps_none = np.empty((self.n_groups, n_boot))
        for i in range(0, n_boot, step):  # face multiplicities expanded one chunk at a time
            w = counts[i:i + step] if code is None else counts[i:i + step][:, code]
            for f, p in enumerate(rem):
                reps_rem[f, i:i + step] = _weighted(m, p, lab, w)
            for g, p in enumerate(none):
                reps_none[g, i:i + step] = _weighted(m, p, lab, w)

        return _decide(point_rem, point_none, reps_rem, reps_none, self.group, self.n_videos,
                       n_boot, seed, alpha, method)


def _percentile(values: np.ndarray, alpha: float) -> tuple[float, float] | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    lo, hi = np.percentile(values, [50 * alpha, 100 - 50 * alpha])
    return float(lo), float(hi)


def _boot_p(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    return float(min(1.0, 2.0 * min(np.mean(values <= 0), np.mean(values >= 0))))


def _excludes_zero(ci: tuple[float, float] | None) -> bool | None:
    return None if ci is None else bool(ci[0] > 0 or ci[1] < 0)


def _decide(point_rem: np.ndarray, point_none: np.ndarray, reps_rem: np.ndarray,
            reps_none: np.ndarray, group: np.ndarray, n_videos: int, n_boot: int, seed: int,
            alpha: float, method: str) -> Verdict:
    from scipy.special import stdtr, stdtrit  # Student t cdf and quantile (light import)

    n_fits, n_groups = len(point_rem), len(point_none)
    k_g = np.bincount(group, minlength=n_groups).astype(np.float64)
    w_fit = 1.0 / (n_groups * k_g[group])  # fit weights of the estimand
    per_fit = point_rem - point_none[group]
    diff = float(w_fit @ per_fit)

    # the video-only paired bootstrap of the fit-averaged difference (fits held fixed)
    t_reps = w_fit @ reps_rem - reps_none.mean(axis=0)
    cond_ci = _percentile(t_reps, alpha)
    common = dict(diff=diff, n_fits=n_fits, n_groups=n_groups, n_videos=n_videos, method=method,
                  conditional_ci=cond_ci, conditional_significant=_excludes_zero(cond_ci),
                  per_fit=tuple(float(x) for x in per_fit))
    if n_fits == 1:
        return Verdict(ci=cond_ci, p_value=_boot_p(t_reps), significant=None, conditional=True,
                       **common)

    if method == "percentile":
        rng = np.random.default_rng([int(seed), 1])
        seed_mult = np.stack([np.bincount(row, minlength=n_groups) for row in
                              rng.integers(0, n_groups, size=(n_boot, n_groups))]).astype(float)
        fit_w = np.zeros((n_boot, n_fits))
        for g in range(n_groups):
            members = np.flatnonzero(group == g)
            draws = rng.multinomial((seed_mult[:, g] * len(members)).astype(np.int64),
                                    np.full(len(members), 1.0 / len(members)))
            fit_w[:, members] = draws / (n_groups * len(members))
        reps = np.einsum("rf,fr->r", fit_w, reps_rem) - \
            np.einsum("rg,gr->r", seed_mult / n_groups, reps_none)
        ci = _percentile(reps, alpha)
        return Verdict(ci=ci, p_value=_boot_p(reps), significant=_excludes_zero(ci),
                       conditional=False, **common)

    # method "t": between-unit spread (units: detector seeds if several, else fits) + videos
    if n_groups >= 2:
        unit = np.array([per_fit[group == g].mean() for g in range(n_groups)])
    else:
        unit = per_fit
    v_between = float(np.var(unit, ddof=1) / len(unit))
    finite = t_reps[np.isfinite(t_reps)]
    v_videos = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    var = v_between + v_videos
    se = float(np.sqrt(var))
    denom = (v_between ** 2 / (len(unit) - 1) if v_between > 0 else 0.0) + \
        (v_videos ** 2 / max(1, n_videos - 1) if v_videos > 0 else 0.0)
    df = float(var ** 2 / denom) if denom > 0 else float("inf")
    if se > 0:
        half = float(stdtrit(df, 1 - alpha / 2)) * se
        ci = (diff - half, diff + half)
        p = float(min(1.0, 2 * stdtr(df, -abs(diff) / se)))
    else:  # fits identical and no video spread: a point mass
        ci, p = (diff, diff), (1.0 if diff == 0 else 0.0)
    return Verdict(ci=ci, p_value=p, significant=_excludes_zero(ci), conditional=False, se=se,
                   df=df, **common)


def hierarchical_paired_bootstrap(remedy_probs: Sequence[np.ndarray] | np.ndarray,
                                  none_probs: Sequence[np.ndarray] | Mapping[Any, np.ndarray]
                                  | np.ndarray,
                                  labels: np.ndarray, videos: np.ndarray,
                                  metric: str | Metric = "acc", n_boot: int = 1000,
                                  seed: int = 0, alpha: float = 0.05, *,
                                  groups: Sequence[Any] | None = None, level: str = "frame",
                                  method: str = "t", stratify: bool = True) -> Verdict:
    """Remedy minus ``none`` over fits and videos for one cell.

    ``remedy_probs``: one per-face probability array per fit (or [n_fits, n_faces]);
    ``none_probs``: one array (one detector), or one per detector seed (list, [G, n_faces] or a
    mapping), with ``groups[f]`` the index/key of the ``none`` that fit ``f`` pairs with;
    ``labels`` (0 real, 1 fake) and ``videos`` per face, every array in one face order;
    ``metric``: ``"acc"``, ``"auc"`` (0-100) or any ``metric(prob, label) -> float`` (a
    ``.weighted(prob, label, weights[R, N]) -> [R]`` method makes it fast); ``level``:
    ``"frame"`` (faces, clustered by video) or ``"video"`` (a video's probability is the mean
    of its faces'); ``method``: ``"t"`` (default) or ``"percentile"`` (module docstring).
    Bad input raises ``ValueError`` naming the argument.
    """
    cell = FitCell.of(remedy_probs, none_probs, labels, videos, groups)
    return cell.verdict(metric, n_boot, seed, alpha, level=level, method=method,
                        stratify=stratify)


__all__ = ["AUC", "CONDITIONAL_MARK", "Accuracy", "FitCell", "Verdict", "accuracy", "auc",
           "hierarchical_paired_bootstrap"]
