"""A plug-in detector whose training loss becomes NaN (tests/test_config.py: exit 2, one line)."""

import torch

from bench.core.registry import DETECTORS
from bleachbench.detectors.tiny import TinyDetector


@DETECTORS.register_module(name="nan_tiny")
class NanTiny(TinyDetector):
    """TinyDetector whose logits are NaN in training."""

    hidden = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out * float("nan") if self.training else out
