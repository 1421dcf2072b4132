"""The ``linear_probe`` reference: a logistic regression refitted on the frozen detector's phi of LQ faces.

The detector stays frozen; only its last linear layer is in effect replaced by
one learned on LQ train: phi (the head's input, :meth:`Detector.features`) is
standardised (mean and std of LQ train) and fed to an L2 logistic regression
(sklearn, lbfgs). Its inverse regularisation C is chosen on LQ val among
``cs`` by the same rule as Pixel Bleach's default selection, ``(acc + AUC) / 2``
(acc alone where val has one class), ties to the smaller C (the stronger
regularisation). Test is never seen.

It measures what phi already carries about LQ faces: a remedy that acts only
through the detector's features (the bleach adds to pixels, but the detector
reads them through phi) has this as a natural reference, and ``threshold`` as
the reference that moves only the decision.

``predict`` returns logits ``[-d/2, d/2]`` with d the probe's decision function,
so ``softmax`` gives the probe's probability of "fake".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from bench.registry import METHODS
from datasets.faceset import FaceSet
from detectors.base import Detector
from methods.base import Method, reject_unknown_options

DEFAULT_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


@torch.no_grad()
def frozen_features(
    detector: Detector, faces: FaceSet, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """phi [N, D] float64 of the frozen detector (eval mode) for every face, in order."""
    detector.eval()
    out = []
    for start in range(0, len(faces), batch_size):
        x, _ = faces.tensors(slice(start, start + batch_size))
        out.append(detector.features(x.to(device)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, detector.feature_dim))


def val_score(labels: np.ndarray, prob: np.ndarray) -> tuple[float, float, float | None]:
    """``(score, acc, auc)``: score = (acc + AUC) / 2, or acc where labels have one class."""
    acc = float(((prob > 0.5).astype(np.int64) == labels).mean())
    if len(np.unique(labels)) < 2:
        return acc, acc, None
    auc = float(roc_auc_score(labels, prob))
    return (acc + auc) / 2, acc, auc


@METHODS.register_module(name="linear_probe")
class LinearProbe(Method):
    """Logistic regression on the frozen detector's phi of LQ train; C chosen on LQ val."""

    retrains_detector: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = False
    config_keys: ClassVar[tuple[str, ...]] = ("cs", "max_iter", "batch_size")

    def __init__(
        self,
        cs: tuple[float, ...] | list[float] | str = DEFAULT_CS,
        max_iter: int = 2000,
        batch_size: int = 64,
        **unknown: Any,
    ) -> None:
        reject_unknown_options("linear_probe", unknown, self.config_keys)
        if isinstance(cs, str):  # "0.01,0.1,1" from a record's params or the command line
            cs = cs.split(",")
        cs = tuple(float(c) for c in cs)
        if not cs or any(c <= 0 for c in cs):
            raise ValueError(f"linear_probe: cs must be positive numbers, got {cs!r}")
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"linear_probe: max_iter must be a positive int, got {max_iter!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"linear_probe: batch_size must be a positive int, got {batch_size!r}")
        self.cs, self.max_iter, self.batch_size = tuple(sorted(cs)), max_iter, batch_size
        self.probe: Pipeline | None = None
        self._detector: Detector | None = None
        self._device = torch.device("cpu")

    def params(self) -> dict[str, Any]:
        return {"cs": ",".join(f"{c:g}" for c in self.cs), "max_iter": self.max_iter}

    def fit(
        self,
        detector: Detector,
        train_lq: FaceSet,
        val_lq: FaceSet,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Fit one probe per C on LQ train's phi; keep the best on LQ val."""
        y_train, y_val = np.asarray(train_lq.labels), np.asarray(val_lq.labels)
        if len(np.unique(y_train)) < 2:
            raise ValueError("linear_probe: LQ train holds one class; a probe needs both")
        self._device = torch.device(device)
        self._detector = detector.to(self._device).eval()
        phi_train = frozen_features(detector, train_lq, self._device, self.batch_size)
        phi_val = frozen_features(detector, val_lq, self._device, self.batch_size)
        scores = []
        best: tuple[float, Pipeline, float] | None = None
        for c in self.cs:
            probe = make_pipeline(
                StandardScaler(), LogisticRegression(C=c, max_iter=self.max_iter)
            ).fit(phi_train, y_train)
            score, acc, auc = val_score(y_val, probe.predict_proba(phi_val)[:, 1])
            scores.append({"C": c, "val_score": score, "val_acc": acc, "val_auc": auc})
            if best is None or score > best[0]:  # strict: ties keep the smaller C
                best = (score, probe, c)
        assert best is not None
        self.probe = best[1]
        chosen = next(s for s in scores if s["C"] == best[2])
        return {
            "C": best[2],
            "val_acc": chosen["val_acc"],
            "val_auc": chosen["val_auc"],
            "train_acc": float(self.probe.score(phi_train, y_train)),
            "val_scores": scores,
        }

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self._detector is None or self.probe is None:
            raise RuntimeError("linear_probe: call fit() before predict()")
        self._detector.eval()
        phi = self._detector.features(x.to(self._device)).double().cpu().numpy()
        d = torch.from_numpy(self.probe.decision_function(phi)).float()
        return torch.stack([-d / 2, d / 2], dim=1).to(x.device)
