"""Shared base for detectors that are a timm backbone plus a new 2-way linear head.

Subclasses set ``timm_name`` and the preprocessing facts (``input_size``,
``mean``, ``std``, ``feature_dim``); everything else is here:

- the backbone is ``timm.create_model(timm_name, num_classes=0)``: its pooled
  feature (global average pooling) is phi, so any input of 64 px and up runs
  with the native strides kept; only the final feature map gets smaller
  (2x2 at 64 px for a stride-32 network);
- ``pretrained=False`` by default: random initialisation, nothing is
  downloaded. ``pretrained=True`` asks timm for ImageNet weights (needs the
  Hugging Face hub or its local cache); ``weights=path`` loads a local
  checkpoint weights-only (:mod:`detectors.weights`), and then nothing is
  fetched even with ``pretrained=True`` (the file replaces every tensor);
- ``drop_rate`` is dropout between phi and the head (active in training only),
  so phi itself is never dropped out; ``None`` means the class's
  ``default_drop_rate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import timm
import torch
from torch import nn

from bench.core.detector import Detector
from bench.core.errors import UserError
from bench.core.weights import load_weights


class WeightsUnavailableError(UserError, RuntimeError):
    """Pretrained weights were asked for but cannot be fetched (offline, no cache)."""


def create_timm(name: str, *, pretrained: bool, **kwargs) -> nn.Module:
    """``timm.create_model`` with a clear error when pretrained weights cannot be fetched."""
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except Exception as exc:  # network, hub or cache errors come in many types
        if not pretrained:
            raise
        raise WeightsUnavailableError(
            f"could not get timm's pretrained weights for {name!r} ({type(exc).__name__}: {exc}). "
            f"Offline, point at local weights (--cfg-options "
            f"detector.per_detector.<detector>.weights=PATH, a state_dict file), put timm's "
            f"weights in the Hugging Face cache (HF_HOME), or use pretrained=False."
        ) from exc


class TimmDetector(Detector):
    """A timm backbone (global-pooled feature) and a new ``nn.Linear(feature_dim, 2)`` head."""

    timm_name: ClassVar[str] = ""
    resizable = True  # any face of 64 px and up runs (the profile's faces.size is used)
    default_drop_rate: ClassVar[float] = 0.0

    def __init__(
        self,
        pretrained: bool = False,
        weights: str | Path | None = None,
        drop_rate: float | None = None,
        **timm_kwargs,
    ) -> None:
        super().__init__()
        drop_rate = self.default_drop_rate if drop_rate is None else drop_rate
        # weights= replaces every tensor anyway: ImageNet weights are not fetched then.
        self.backbone = create_timm(
            self.timm_name, pretrained=pretrained and weights is None, num_classes=0,
            drop_rate=0.0, **timm_kwargs
        )
        got = self.backbone.num_features
        if got != self.feature_dim:
            raise ValueError(f"{self.timm_name}: feature_dim {self.feature_dim} != timm's {got}")
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.feature_dim, 2)
        if weights is not None:
            load_weights(self, weights)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def classify(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(phi))
