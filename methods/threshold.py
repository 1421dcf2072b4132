"""The ``threshold`` baseline: move the frozen detector's decision threshold, chosen on LQ val.

Compression mostly shifts a detector's scores (at c40 the HQ-trained detector
calls many real faces fake). Choosing the threshold on the logit margin
``f_fake - f_real`` that maximises LQ val accuracy recovers much of the lost
accuracy with no training at all, but the ranking of faces, hence AUC, is
unchanged by construction. An honest baseline for any remedy that claims
accuracy gains.

``predict`` returns the detector's logits with ``t/2`` taken from the fake
logit and given to the real one, so that ``argmax`` says fake exactly when the
margin exceeds ``t`` and the softmax fake probability stays a monotone function
of the margin. The threshold is the midpoint between two consecutive distinct
val margins (or below/above all of them); among equally accurate thresholds
the one closest to 0 (the detector's own) is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.detector import Detector
from bench.core.fit_data import FitData
from bench.core.method import Method, reject_unknown_options
from bench.core.registry import METHODS


def best_threshold(margins: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(t, accuracy)`` maximising the accuracy of "fake iff margin > t"; ties go to the t nearest 0."""
    margins = np.asarray(margins, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(margins) == 0:
        raise ValueError("threshold: no validation faces to choose a threshold on")
    values = np.unique(margins)
    candidates = np.concatenate(
        [[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0], [0.0]]
    )
    # accuracy of each candidate: correct = (margin > t) == label
    order = np.argsort(margins)
    m_sorted, y_sorted = margins[order], labels[order]
    n_le = np.searchsorted(m_sorted, candidates, side="right")  # faces called real
    reals_le = np.concatenate([[0], np.cumsum(y_sorted == 0)])[n_le]
    fakes_gt = int((labels == 1).sum()) - np.concatenate([[0], np.cumsum(y_sorted == 1)])[n_le]
    acc = (reals_le + fakes_gt) / len(labels)
    best = np.flatnonzero(acc == acc.max())
    i = best[np.argmin(np.abs(candidates[best]))]
    return float(candidates[i]), float(acc[i])


@METHODS.register_module(name="threshold")
class Threshold(Method):
    """Move the decision threshold to the best one on LQ val (accuracy only; AUC unchanged)."""

    retrains_detector: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = False
    config_keys: ClassVar[tuple[str, ...]] = ("batch_size",)

    def __init__(self, batch_size: int = 64, **unknown: Any) -> None:
        reject_unknown_options("threshold", unknown, self.config_keys)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"threshold: batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = batch_size
        self.threshold: float | None = None
        self._detector: Detector | None = None
        self._device = torch.device("cpu")

    def params(self) -> dict[str, Any]:
        return {}  # batch_size only sets the inference chunk; it does not change the result

    def fit(
        self,
        detector: Detector,
        data: FitData,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Choose t on the logit margins of LQ val."""
        val_lq = data.val_lq
        self._device = torch.device(device)
        self._detector = detector.to(self._device).eval()
        margins = []
        with torch.no_grad():
            for start in range(0, len(val_lq), self.batch_size):
                x, _ = val_lq.tensors(slice(start, start + self.batch_size))
                logits = self._detector(x.to(self._device)).float().cpu()
                margins.append(logits[:, 1] - logits[:, 0])
        m = torch.cat(margins).numpy()
        labels = np.asarray(val_lq.labels)
        self.threshold, acc = best_threshold(m, labels)
        return {
            "threshold": self.threshold,
            "val_acc_before": float(((m > 0).astype(np.int64) == labels).mean()),
            "val_acc_after": acc,
        }

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self._detector is None or self.threshold is None:
            raise RuntimeError("threshold: call fit() before predict()")
        self._detector.eval()
        logits = self._detector(x.to(self._device))
        shift = torch.tensor(
            [self.threshold / 2, -self.threshold / 2], dtype=logits.dtype, device=logits.device
        )
        return logits + shift
