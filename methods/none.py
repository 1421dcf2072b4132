"""The ``none`` baseline: the frozen HQ-trained detector applied to LQ faces as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from bench.core.detector import Detector
from bench.core.fit_data import FitData
from bench.core.method import Method, reject_unknown_options
from bench.core.registry import METHODS


@METHODS.register_module(name="none")
class NoRemedy(Method):
    """No remedy: the detector trained on HQ, tested on LQ as it is."""

    retrains_detector: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False  # it learns nothing
    needs_fit_faces: ClassVar[bool] = False  # nor reads any face: no LQ train/val is built
    config_keys: ClassVar[tuple[str, ...]] = ()
    # Its predictions are the frozen detector's own forward pass on the faces as given: the
    # engine may take them from a method that records that very pass ("frozen_prob",
    # records_frozen_prob) on the same test faces, instead of passing them once more.
    predicts_frozen_detector: ClassVar[bool] = True

    def __init__(self, **unknown: Any) -> None:
        reject_unknown_options("none", unknown, self.config_keys)
        self._detector: Detector | None = None
        self._device = torch.device("cpu")

    def fit(
        self,
        detector: Detector,
        data: FitData,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Nothing to learn: keep the detector (in eval mode, on ``device``)."""
        self._device = torch.device(device)
        self._detector = detector.to(self._device).eval()
        return {}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self._detector is None:
            raise RuntimeError("none: call fit() before predict()")
        self._detector.eval()
        return self._detector(x.to(self._device))

    def params(self) -> dict[str, Any]:
        return {}
