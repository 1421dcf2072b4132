"""Bootstrap intervals over videos, and the paired bootstrap of a remedy against ``none``.

Faces of one video are not independent, so the unit of resampling is the video:
a bootstrap replicate draws videos with replacement and takes all their faces
together (a video drawn twice counts twice). Choices, all in :class:`BootstrapConfig`:

- ``n_boot`` replicates (default 1000), percentile intervals at ``level`` (default 95 %),
  a fixed ``seed`` (default 0), so the same arrays always give the same interval;
- ``stratify`` (default True): real and fake videos are resampled separately, keeping
  their numbers fixed as the test set's design does (and every replicate has both
  classes, so its AUC is defined).

Metrics, as in :mod:`bench.core.metrics` (0-100): accuracy at the 0.5 threshold and ROC AUC,
at frame level and at video level (FF++ convention: a video's probability is the mean of
its frames'). Everything is vectorised over replicates with numpy: a replicate is a row
of per-video counts, accuracy a matrix product, AUC a weighted Mann-Whitney statistic from
one sort of the scores (ties count a half).

The paired bootstrap (:func:`paired_bootstrap`) matches the faces of two runs on the same
test set by video key and face index within the video, draws the same videos for both
runs in each replicate and gives the difference (remedy minus baseline), its interval and
``significant`` (the interval excludes 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

METRICS = ("acc", "auc")
LEVELS = ("frame", "video")


@dataclass(frozen=True)
class BootstrapConfig:
    """How intervals are drawn (the profile's ``intervals`` section sets these)."""

    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    stratify: bool = True
    chunk: int = 250  # replicates computed at once (bounds memory: chunk x faces floats)

    def __post_init__(self) -> None:
        if self.n_boot < 1:
            raise ValueError(f"intervals.n_boot must be >= 1, got {self.n_boot}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"intervals.level must be in (0, 1), got {self.level}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> BootstrapConfig:
        """From a profile section; an unknown key is an error naming the valid ones."""
        d = dict(d or {})
        valid = set(cls.__dataclass_fields__)
        unknown = set(d) - valid
        if unknown:
            raise KeyError(f"intervals: unknown key(s) {sorted(unknown)}; valid: {sorted(valid)}")
        return cls(**d)

    def describe(self) -> dict[str, Any]:
        """What a record stores about how its intervals were drawn."""
        out = asdict(self)
        out.pop("chunk")
        return {**out, "unit": "video", "method": "percentile"}


@dataclass(frozen=True)
class Videos:
    """Faces grouped by video: ``code[i]`` is face i's video, ``label[v]`` video v's label."""

    code: np.ndarray  # int64 [N]
    label: np.ndarray  # int8 [V]
    keys: np.ndarray  # str [V]

    @classmethod
    def of(cls, video: np.ndarray, label: np.ndarray) -> Videos:
        keys, code = np.unique(np.asarray(video).astype(str), return_inverse=True)
        label = np.asarray(label).astype(np.int8)
        v_label = np.zeros(len(keys), dtype=np.int8)
        v_label[code] = label
        if (v_label[code] != label).any():
            bad = keys[code[v_label[code] != label][0]]
            raise ValueError(f"video {bad!r} has faces with different labels")
        return cls(code.astype(np.int64), v_label, keys)

    def __len__(self) -> int:
        return len(self.keys)


def _check(prob: np.ndarray, label: np.ndarray, video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob, dtype=np.float64)
    label = np.asarray(label)
    if not (prob.ndim == label.ndim == np.ndim(video) == 1 and len(prob) == len(label) == len(video)):
        raise ValueError(f"prob {prob.shape}, label {label.shape} and video {np.shape(video)} "
                         "must be 1-d arrays of one length")
    if len(prob) == 0:
        raise ValueError("no faces to bootstrap")
    if not np.isin(label, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    return prob, label.astype(np.int8)


def video_counts(videos: Videos, cfg: BootstrapConfig) -> np.ndarray:
    """``[n_boot, V]`` how many times each video is drawn in each replicate."""
    rng = np.random.default_rng(cfg.seed)
    n_v = len(videos)
    counts = np.zeros((cfg.n_boot, n_v), dtype=np.float64)
    rows = np.arange(cfg.n_boot)[:, None]
    groups = [np.flatnonzero(videos.label == c) for c in (0, 1)] if cfg.stratify \
        else [np.arange(n_v)]
    for members in groups:
        if len(members) == 0:
            continue
        draws = members[rng.integers(0, len(members), size=(cfg.n_boot, len(members)))]
        np.add.at(counts, (np.broadcast_to(rows, draws.shape), draws), 1.0)
    return counts


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC (0-100) of ``scores`` for each row of ``weights`` [R, N] (ties count a half).

    A row whose weighted positives or negatives are zero gives NaN.
    """
    order = np.argsort(scores, kind="mergesort")
    s, y = scores[order], labels[order].astype(bool)
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first face of each tie group
    group = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    w_neg = np.where(y, 0.0, w)
    neg_in_group = np.add.reduceat(w_neg, starts, axis=1)  # [R, G]
    neg_below = np.cumsum(neg_in_group, axis=1) - neg_in_group
    credit = neg_below + 0.5 * neg_in_group  # per group: negatives beaten by a positive there
    pos_w = np.where(y, w, 0.0)
    num = np.einsum("rn,rn->r", pos_w, credit[:, group])
    den = pos_w.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 100.0 * num / np.where(den > 0, den, 1.0), np.nan)


def _replicates(prob: np.ndarray, label: np.ndarray, videos: Videos, counts: np.ndarray,
                threshold: float) -> dict[str, dict[str, np.ndarray]]:
    """Each metric at each level for each replicate (row of per-video ``counts``)."""
    n_v = len(videos)
    faces_per_video = np.bincount(videos.code, minlength=n_v).astype(np.float64)
    correct = ((prob >= threshold).astype(np.int8) == label).astype(np.float64)
    correct_per_video = np.bincount(videos.code, weights=correct, minlength=n_v)
    v_prob = np.bincount(videos.code, weights=prob, minlength=n_v) / faces_per_video
    v_correct = ((v_prob >= threshold).astype(np.int8) == videos.label).astype(np.float64)
    return {
        "frame": {"acc": 100.0 * (counts @ correct_per_video) / (counts @ faces_per_video),
                  "auc": weighted_auc(prob, label, counts[:, videos.code])},
        "video": {"acc": 100.0 * (counts @ v_correct) / counts.sum(axis=1),
                  "auc": weighted_auc(v_prob, videos.label, counts)},
    }


def _chunks(videos: Videos, cfg: BootstrapConfig):
    counts = video_counts(videos, cfg)
    for start in range(0, cfg.n_boot, cfg.chunk):
        yield counts[start:start + cfg.chunk]


def _stats(prob: np.ndarray, label: np.ndarray, videos: Videos, cfg: BootstrapConfig,
           threshold: float) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, np.ndarray]]]:
    """(point estimates, replicates) for every level and metric."""
    ones = np.ones((1, len(videos)))
    point = {lv: {m: float(v[0]) for m, v in d.items()}
             for lv, d in _replicates(prob, label, videos, ones, threshold).items()}
    parts = [_replicates(prob, label, videos, c, threshold) for c in _chunks(videos, cfg)]
    reps = {lv: {m: np.concatenate([p[lv][m] for p in parts]) for m in METRICS} for lv in LEVELS}
    return point, reps


def _percentile(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def video_bootstrap(prob: np.ndarray, label: np.ndarray, video: np.ndarray,
                    cfg: BootstrapConfig | None = None,
                    threshold: float = 0.5) -> dict[str, dict[str, Any]]:
    """``{level: {"acc": x, "acc_ci": [lo, hi], "auc": ..., "auc_ci": ...}}``, level frame/video.

    ``None`` for an AUC (and its interval) that is undefined (one class only).
    """
    cfg = cfg or BootstrapConfig()
    prob, label = _check(prob, label, video)
    videos = Videos.of(video, label)
    point, reps = _stats(prob, label, videos, cfg, threshold)
    out: dict[str, dict[str, Any]] = {}
    for lv in LEVELS:
        out[lv] = {}
        for m in METRICS:
            value = point[lv][m]
            out[lv][m] = value if np.isfinite(value) else None
            out[lv][f"{m}_ci"] = _percentile(reps[lv][m], cfg.level) if np.isfinite(value) else None
    return out


def add_intervals(metrics: dict[str, Any], arrays: Mapping[str, np.ndarray],
                  cfg: BootstrapConfig | None = None) -> dict[str, Any]:
    """``metrics`` (from :func:`bench.core.metrics.compute_metrics`) with ``acc_ci`` and ``auc_ci``
    added at each level, and ``metrics["intervals"]`` saying how they were drawn."""
    cfg = cfg or BootstrapConfig()
    boot = video_bootstrap(arrays["prob"], arrays["label"], arrays["video"], cfg)
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in metrics.items()}
    for lv in LEVELS:
        if lv in out:
            for m in METRICS:
                out[lv][f"{m}_ci"] = boot[lv][f"{m}_ci"]
    out["intervals"] = {**cfg.describe(), "n_videos": int(len(np.unique(arrays["video"])))}
    return out


def face_keys(video: np.ndarray) -> np.ndarray:
    """``"<video>#<k>"`` for the k-th face of each video, in order: the key that pairs two runs."""
    video = np.asarray(video).astype(str)
    seen: dict[str, int] = {}
    keys = []
    for v in video.tolist():
        k = seen.get(v, 0)
        seen[v] = k + 1
        keys.append(f"{v}#{k}")
    return np.asarray(keys)


def align(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> np.ndarray:
    """Index into ``b`` that puts its faces in ``a``'s order (matched by video and face index).

    Raises ``ValueError`` if the two runs do not hold the same faces with the same labels.
    """
    ka, kb = face_keys(a["video"]), face_keys(b["video"])
    if len(ka) != len(kb) or set(ka.tolist()) != set(kb.tolist()):
        only_a = len(set(ka.tolist()) - set(kb.tolist()))
        only_b = len(set(kb.tolist()) - set(ka.tolist()))
        raise ValueError(f"paired test needs the same test faces in both runs: {only_a} face(s) "
                         f"only in the first, {only_b} only in the second")
    pos = {k: i for i, k in enumerate(kb.tolist())}
    idx = np.fromiter((pos[k] for k in ka.tolist()), dtype=np.int64, count=len(ka))
    if (np.asarray(a["label"]) != np.asarray(b["label"])[idx]).any():
        raise ValueError("paired test: the two runs label the same face differently")
    return idx


def paired_bootstrap(remedy: Mapping[str, np.ndarray], baseline: Mapping[str, np.ndarray],
                     cfg: BootstrapConfig | None = None,
                     threshold: float = 0.5) -> dict[str, dict[str, dict[str, Any]]]:
    """Remedy minus baseline on the same faces, for each level and metric:
    ``{"diff": d, "ci": [lo, hi], "significant": bool}`` (``None``s where AUC is undefined)."""
    cfg = cfg or BootstrapConfig()
    prob_a, label = _check(remedy["prob"], remedy["label"], remedy["video"])
    idx = align(remedy, baseline)
    prob_b, _ = _check(np.asarray(baseline["prob"])[idx], label, np.asarray(remedy["video"]))
    videos = Videos.of(remedy["video"], label)
    pa, ra = _stats(prob_a, label, videos, cfg, threshold)
    pb, rb = _stats(prob_b, label, videos, cfg, threshold)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for lv in LEVELS:
        out[lv] = {}
        for m in METRICS:
            d = pa[lv][m] - pb[lv][m]
            ci = _percentile(ra[lv][m] - rb[lv][m], cfg.level) if np.isfinite(d) else None
            out[lv][m] = {"diff": float(d) if np.isfinite(d) else None, "ci": ci,
                          "significant": bool(ci is not None and (ci[0] > 0 or ci[1] < 0))}
    return out


__all__ = ["BootstrapConfig", "add_intervals", "align", "paired_bootstrap", "video_bootstrap",
           "weighted_auc"]
