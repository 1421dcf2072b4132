"""The contract every remedy in ``METHODS`` answers.

A method is given a detector trained on the high-quality compression and
frozen. ``fit`` learns whatever the method needs from one data bundle
(:class:`bench.core.fit_data.FitData`: LQ train, LQ val for model selection, never
test labels; HQ pairs and unlabelled test faces only where declared);
``predict`` returns logits for faces as float ``[B,3,H,W]`` in ``[0, 1]``.
The class flags below say what a method needs; the engine reads them and gives
it only that (see :mod:`bench.core.fit_data`). The older call shape
``fit(detector, train_lq, val_lq, work_dir, device)`` still works both ways: a
plug-in that defines it is called so by the engine, and a caller that uses it
on a bundle-style method has its two FaceSets wrapped into ``FitData``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.fit_data import FitData, is_old_style_fit


def fake_probability(logits: torch.Tensor) -> torch.Tensor:
    """P(fake) per face from two-class logits, in float32: the one expression the engine's
    test predictions and a method's record of the frozen pass (``frozen_prob``) share, so that
    a ``none`` cell taken from that record equals its own pass to the bit."""
    return torch.softmax(logits.float(), dim=1)[:, 1]


def reject_unknown_options(method: str, unknown: dict[str, Any], valid: tuple[str, ...]) -> None:
    """Raise ``TypeError`` naming the unknown options and the valid ones (a no-op if none)."""
    if unknown:
        choices = ", ".join(valid) if valid else "none (it takes no options)"
        raise TypeError(f"{method}: unknown option(s) {sorted(unknown)}; valid options: {choices}")


class Method:
    """Base class of a ``METHODS`` entry."""

    retrains_detector: ClassVar[bool] = False  # changes any parameter or buffer: gets a copy
    needs_labels: ClassVar[bool] = True  # False: the bundle's labels are stripped
    needs_paired_hq_lq: ClassVar[bool] = False  # True: HQ faces paired with LQ train/val
    needs_compression_known: ClassVar[bool] = False  # True: the LQ compression's name
    test_time: ClassVar[bool] = False  # True: unlabelled LQ test faces; adapts at test time
    # True: the detector's own training faces (and LQ partners) and training options
    needs_detector_training: ClassVar[bool] = False
    # False: fit() reads no faces at all (``none``); the engine then builds no LQ train/val
    # caches for it, which a sweep over many test compressions would otherwise pay for.
    needs_fit_faces: ClassVar[bool] = True
    # Scheduling hint for ``run --jobs`` (longest fits start first): how long a fit takes,
    # roughly, relative to a Pixel Bleach fit. Never changes what is computed.
    fit_cost: ClassVar[float] = 1.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Let ``fit(detector, train_lq, val_lq, work_dir, device)`` calls reach a bundle-style ``fit``."""
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is None or is_old_style_fit(fit) or getattr(fit, "_takes_old_calls", False):
            return

        @functools.wraps(fit)
        def fit_any(self: Method, detector: Detector, data: Any, *args: Any, **kw: Any) -> Any:
            if isinstance(data, FaceSet) and args and isinstance(args[0], FaceSet):
                data, args = FitData(data, args[0]), args[1:]
            return fit(self, detector, data, *args, **kw)

        fit_any._takes_old_calls = True  # type: ignore[attr-defined]
        cls.fit = fit_any  # type: ignore[method-assign]

    def fit(
        self,
        detector: Detector,
        data: FitData,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Learn from ``data`` (select on LQ val); return a dict of facts for the run record."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, 2] for faces in [0, 1]."""
        raise NotImplementedError

    def predict_recording(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(predict(x), per-face tensors)``: the default records nothing.

        A method whose :meth:`artifacts` keeps arrays of the prediction's own passes (features,
        margins) returns them here, first dimension the batch; the engine predicts the test
        faces through this and hands the arrays, in face order, to ``artifacts(faces, device,
        recorded=...)``, so the faces are not passed through the detector a second time.
        """
        return self.predict(x), {}

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
