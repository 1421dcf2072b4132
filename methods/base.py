"""The contract every remedy in ``METHODS`` answers.

A method is given a detector trained on the high-quality compression and
frozen. ``fit`` learns whatever the method needs from the low-quality train
split (``val`` for model selection, never test); ``predict`` returns logits
for faces as float ``[B,3,H,W]`` in ``[0, 1]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from datasets.faceset import FaceSet
from detectors.base import Detector


def reject_unknown_options(method: str, unknown: dict[str, Any], valid: tuple[str, ...]) -> None:
    """Raise ``TypeError`` naming the unknown options and the valid ones (a no-op if none)."""
    if unknown:
        choices = ", ".join(valid) if valid else "none (it takes no options)"
        raise TypeError(f"{method}: unknown option(s) {sorted(unknown)}; valid options: {choices}")


class Method:
    """Base class of a ``METHODS`` entry."""

    retrains_detector: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = False

    def fit(
        self,
        detector: Detector,
        train_lq: FaceSet,
        val_lq: FaceSet,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Learn from LQ train (select on LQ val); return a dict of facts for the run record."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, 2] for faces in [0, 1]."""
        raise NotImplementedError

    def artifacts(self, faces: FaceSet, device: torch.device) -> dict[str, np.ndarray]:
        """Extra per-run arrays saved in the run's ``runs/<run_id>.npz`` (default: none).

        The engine calls this once, after predicting the test ``faces``, and saves each
        array under its key beside ``prob``, ``label`` and ``video`` (which a method must
        not use). For figures and diagnosis; keep them small (a subsample, float16).
        """
        return {}

    def params(self) -> dict[str, Any]:
        """The parameters that identify this method in a run spec (JSON scalars only)."""
        return {}
