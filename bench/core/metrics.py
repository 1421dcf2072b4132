"""Detection metrics at frame level and at video level (sklearn underneath).

``compute_metrics(labels, prob_fake, video_keys)`` returns accuracy, AUC, EER,
AP and the confusion counts TP/FP/TN/FN (fake = positive) for frames and,
when video keys are given, for videos: a video's probability is the mean of
its frames' probabilities. Videos are keyed by ``(manipulation, video_id)``
so that two fakes with the same file name under two manipulations never
merge. Accuracy and the counts use the threshold 0.5 on the probability of
"fake" (argmax of two logits). Percentages are returned as 0-100 floats, as
the paper prints them. With one class only, AUC, EER and AP are undefined:
they are ``None`` and ``undefined`` says why (records stay strict JSON).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score, roc_curve


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The rate where false positive and false negative rates meet (0-1)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2.0)


def auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC (0-1) of ``scores`` for ``labels``; None when the labels hold one class only."""
    labels = np.asarray(labels)
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def acc_auc(labels: np.ndarray, scores: np.ndarray,
            threshold: float = 0.5) -> tuple[float, float | None]:
    """Accuracy (0-1) of ``scores > threshold`` as "fake", and :func:`auc_or_none`."""
    labels = np.asarray(labels)
    acc = float(((np.asarray(scores) > threshold).astype(np.int64) == labels).mean())
    return acc, auc_or_none(labels, scores)


def oracle_accuracy(prob: np.ndarray, label: np.ndarray) -> float:
    """The best accuracy (0-100) of ``prob >= t`` over every threshold ``t`` (diagnostic)."""
    prob = np.asarray(prob, dtype=np.float64)
    label = np.asarray(label).astype(bool)
    order = np.argsort(prob, kind="mergesort")
    p, y = prob[order], label[order]
    # A cut before position i calls faces [i:] fake; cuts only between distinct scores.
    neg_below = np.r_[0, np.cumsum(~y)]
    pos_at_or_above = np.r_[np.cumsum(y[::-1])[::-1], 0]
    valid = np.r_[True, p[1:] != p[:-1], True]
    correct = (neg_below + pos_at_or_above)[valid]
    return float(100.0 * correct.max() / len(p))


def _level(labels: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = (prob >= threshold).astype(np.int64)
    tn, fp, fn, tp = confusion_matrix(labels, pred, labels=[0, 1]).ravel()
    both = len(np.unique(labels)) == 2
    out: dict[str, float | int | str | None] = {
        "acc": float(100.0 * (tp + tn) / max(len(labels), 1)),
        "auc": float(100.0 * auc_or_none(labels, prob)) if both else None,
        "eer": float(100.0 * equal_error_rate(labels, prob)) if both else None,
        "ap": float(100.0 * average_precision_score(labels, prob)) if both else None,
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
        "n": int(len(labels)),
    }
    if not both:
        out["undefined"] = "auc, eer, ap: the labels hold one class only"
    return out


def video_scores(
    labels: np.ndarray, prob: np.ndarray, video_keys: Sequence[tuple[str, str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-video labels and mean frame probabilities, keyed by (manipulation, video id)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(video_keys):
        groups.setdefault(tuple(key), []).append(i)
    v_labels, v_prob = [], []
    for key, idx in groups.items():
        lab = labels[idx]
        if not np.all(lab == lab[0]):
            raise ValueError(f"video {key} has frames with different labels")
        v_labels.append(int(lab[0]))
        v_prob.append(float(np.mean(prob[idx])))
    return np.asarray(v_labels, dtype=np.int64), np.asarray(v_prob, dtype=np.float64)


def compute_metrics(
    labels: Sequence[int] | np.ndarray,
    prob_fake: Sequence[float] | np.ndarray,
    video_keys: Sequence[tuple[str, str]] | None = None,
    threshold: float = 0.5,
) -> dict[str, dict[str, Any]]:
    """``{"frame": {...}, "video": {...}}`` (``video`` only when keys are given)."""
    labels = np.asarray(labels, dtype=np.int64)
    prob = np.asarray(prob_fake, dtype=np.float64)
    if labels.shape != prob.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and probabilities {prob.shape} must be equal 1-d")
    if len(labels) == 0:
        raise ValueError("no samples to score")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    out = {"frame": _level(labels, prob, threshold)}
    if video_keys is not None:
        if len(video_keys) != len(labels):
            raise ValueError(f"{len(video_keys)} video keys for {len(labels)} frames")
        v_labels, v_prob = video_scores(labels, prob, video_keys)
        out["video"] = _level(v_labels, v_prob, threshold)
    return out
