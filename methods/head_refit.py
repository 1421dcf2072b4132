"""``head_refit``: the detector's last linear layer refitted on LQ train features, backbone frozen.

Source: the "linear probe" / last-layer retraining baseline (e.g. Kirichenko et
al., "Last Layer Re-Training is Sufficient for Robustness to Spurious
Correlations", ICLR 2023; Kumar et al., "Fine-Tuning can Distort Pretrained
Features", ICLR 2022). The backbone's features of LQ faces are computed once
(frozen, eval mode); an L2-regularised logistic regression (scikit-learn,
lbfgs) on the standardised features is fitted for each ``C`` in ``c_grid`` on
LQ train, the ``C`` with the best LQ val ``select_metric`` is kept, and the
solution (standardisation folded in) is written into the ``head`` of a copy of
the detector as ``[-w/2, w/2]``, ``[-b/2, b/2]``: the same logit margin
``w . phi + b`` as the fitted regression.

What changes: only ``head.weight`` and ``head.bias`` of the copy.

Config keys: ``c_grid`` (inverse regularisation strengths, default
0.001..100 by decades), ``select_metric`` (``"acc"`` default or ``"auc"``),
``max_iter`` (lbfgs iterations, 1000), ``batch_size`` (feature extraction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bench.core.detector import Detector
from bench.core.errors import check_finite
from bench.core.faceset import FaceSet
from bench.core.fit_data import FitData
from bench.core.method import reject_unknown_options
from bench.core.metrics import acc_auc
from bench.core.registry import METHODS
from bleachbench.methods.detector_parts import AdaptedDetectorMethod, head_of, index_batches

SELECT = ("acc", "auc")


@torch.no_grad()
def features_of(detector: Detector, faces: FaceSet, device: torch.device,
                batch_size: int = 64) -> np.ndarray:
    """The frozen detector's features phi of every face, float64 ``[N, D]``."""
    detector.eval()
    out = [detector.features(faces.tensors(idx)[0].to(device)).double().cpu().numpy()
           for idx in index_batches(len(faces), batch_size)]
    return np.concatenate(out)


@METHODS.register_module(name="head_refit")
class HeadRefit(AdaptedDetectorMethod):
    """The last linear layer refitted on LQ train (backbone frozen), regularisation chosen on LQ val."""

    name = "head_refit"
    retrains_detector: ClassVar[bool] = True
    config_keys: ClassVar[tuple[str, ...]] = ("c_grid", "select_metric", "max_iter", "batch_size")

    def __init__(self, c_grid: tuple[float, ...] | list[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
                 select_metric: str = "acc", max_iter: int = 1000, batch_size: int = 64,
                 **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys)
        if select_metric not in SELECT:
            raise ValueError(f"head_refit: select_metric must be one of {SELECT}, got {select_metric!r}")
        grid = [float(c) for c in (c_grid if isinstance(c_grid, (list, tuple)) else [c_grid])]
        if not grid or min(grid) <= 0:
            raise ValueError(f"head_refit: c_grid must be positive numbers, got {c_grid!r}")
        super().__init__()
        self.c_grid, self.select_metric = tuple(grid), select_metric
        self.max_iter, self.batch_size = max_iter, batch_size

    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Fit a logistic regression per C on LQ train features; keep the best on LQ val."""
        model = self._take(detector, device)
        head = head_of(model)
        f_tr = features_of(model, data.train_lq, self._device, self.batch_size)
        f_va = features_of(model, data.val_lq, self._device, self.batch_size)
        y_tr, y_va = np.asarray(data.train_lq.labels), np.asarray(data.val_lq.labels)
        if len(np.unique(y_tr)) < 2:
            raise ValueError("head_refit: LQ train holds one class only; cannot fit a head")
        check_finite(f_tr, "head_refit: the detector's features on LQ train", "the detector "
                     "outputs NaN or inf; check its weights")
        scaler = StandardScaler().fit(f_tr)
        z_tr, z_va = scaler.transform(f_tr), scaler.transform(f_va)
        best: tuple[float, float, LogisticRegression] | None = None
        history = []
        for c in self.c_grid:
            clf = LogisticRegression(C=c, max_iter=self.max_iter).fit(z_tr, y_tr)
            margin = clf.decision_function(z_va)
            acc, auc = acc_auc(y_va, margin, threshold=0.0)
            history.append({"C": c, "val_acc": acc, "val_auc": auc})
            value = auc if self.select_metric == "auc" and auc is not None else acc
            if best is None or value > best[0]:
                best = (value, c, clf)
        assert best is not None
        clf = best[2]
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        w = clf.coef_[0] / scale
        b = float(clf.intercept_[0] - (clf.coef_[0] * scaler.mean_ / scale).sum())
        with torch.no_grad():
            wt = torch.as_tensor(w, dtype=head.weight.dtype, device=head.weight.device)
            head.weight.copy_(torch.stack([-wt / 2, wt / 2]))
            head.bias.copy_(torch.tensor([-b / 2, b / 2], dtype=head.bias.dtype))
        model.eval()
        return {"best_C": best[1], "history": history}
