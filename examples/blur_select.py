"""blur_select: an example remedy kept outside the repository, loaded with ``--plugin blur_select.py``.

It blurs every face with a Gaussian before the frozen detector (a fixed
preprocessor that smooths compression's block edges) and picks the blur's sigma
from ``sigmas`` by accuracy on LQ val. Nothing is trained, the detector is not
changed, labels are used for the choice only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench.core.fit_data import FitData
from bench.core.method import Method, reject_unknown_options
from bench.core.registry import METHODS


@METHODS.register_module(name="blur_select")
class BlurSelect(Method):
    """A Gaussian blur in front of the frozen detector, sigma chosen on LQ val."""

    # What this remedy needs; the engine gives it only that (see bench/core/fit_data.py).
    retrains_detector = False  # it never changes the detector
    needs_labels = True  # LQ val labels choose sigma
    needs_paired_hq_lq = False
    test_time = False
    config_keys = ("sigmas",)  # the options `--cfg-options method.sigmas=...` may set

    def __init__(self, sigmas: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5), **unknown: Any) -> None:
        reject_unknown_options("blur_select", unknown, self.config_keys)
        self.sigmas = tuple(float(s) for s in sigmas)
        self.sigma = 0.0

    def _blur(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """Separable Gaussian blur of ``[B,3,H,W]`` (reflect padding)."""
        if sigma == 0:
            return x
        r = int(3 * sigma)
        t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = (g / g.sum()).repeat(3, 1, 1)  # [3, 1, k]: one kernel per channel
        x = F.pad(x, (r, r, r, r), mode="reflect")
        x = F.conv2d(x, g.unsqueeze(2), groups=3)  # along the width
        return F.conv2d(x, g.unsqueeze(3), groups=3)  # along the height

    def fit(self, detector, data: FitData, work_dir: Path, device: torch.device) -> dict[str, Any]:
        """Choose sigma by accuracy on LQ val."""
        self.detector, self.device = detector.eval(), device
        correct = dict.fromkeys(self.sigmas, 0)
        with torch.no_grad():
            for start in range(0, len(data.val_lq), 64):  # batches: val may be large
                x, y = data.val_lq.tensors(slice(start, start + 64))
                for s in self.sigmas:
                    pred = detector(self._blur(x.to(device), s)).argmax(1).cpu()
                    correct[s] += int((pred == y).sum())
        self.sigma = max(self.sigmas, key=correct.__getitem__)
        return {"sigma": self.sigma, "val_correct_by_sigma": {str(k): v for k, v in correct.items()}}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector(self._blur(x.to(self.device), self.sigma))
