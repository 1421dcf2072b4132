"""``bn_adapt``: re-estimate the detector's BatchNorm statistics on unlabelled LQ faces.

Source: AdaBN (Li et al., "Revisiting Batch Normalization for Practical Domain
Adaptation", ICLR-W 2017) and its corruption-robustness form (Schneider et al.,
"Improving robustness against common corruptions by covariate shift
adaptation", NeurIPS 2020). Compression is a covariate shift: the HQ-trained
BatchNorm layers normalise LQ activations with HQ means and variances.

What changes: only BatchNorm running means and variances (and their batch
counters) of a copy of the detector; no parameter, no gradient, no label.

Choices (config keys):

- ``source``: ``"train"`` (default) estimates on the unlabelled LQ train faces
  (inductive: the test set is never seen); ``"test"`` on the unlabelled LQ test
  faces of the set being evaluated (transductive, Schneider et al.'s setting; the
  method is then ``test_time`` and fitted once per test set).
- ``prior``: Schneider et al.'s N/(N+n) weight of the HQ statistics:
  ``stat = prior * stat_HQ + (1 - prior) * stat_LQ``; 0 (default) is AdaBN.
- ``batch_size``: faces per forward pass while estimating; the estimate is the
  exact mean over all faces of the per-batch statistics (``momentum=None``).
- ``max_faces``: at most this many faces (a seeded random subset), None = all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.detector import Detector
from bench.core.fit_data import FitData
from bench.core.method import reject_unknown_options
from bench.core.registry import METHODS
from bleachbench.methods.detector_parts import AdaptedDetectorMethod, batchnorms, index_batches

SOURCES = ("train", "test")


@torch.no_grad()
def reestimate_bn(model: torch.nn.Module, batches: Iterable[torch.Tensor],
                  prior: float = 0.0) -> tuple[int, int]:
    """Replace ``model``'s BatchNorm running statistics by their mean over ``batches``.

    Returns (BatchNorm layers, faces seen).
    """
    norms = batchnorms(model)
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in norms
             if m.running_mean is not None]
    if len(saved) != len(norms):
        raise TypeError("bn_adapt: a BatchNorm layer keeps no running statistics")
    was_training = model.training
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative mean over the batches
        m.train()
    seen = 0
    for x in batches:
        model(x)
        seen += len(x)
    for m, (momentum, mean0, var0) in zip(norms, saved):
        m.momentum = momentum
        m.running_mean.mul_(1 - prior).add_(prior * mean0)
        m.running_var.mul_(1 - prior).add_(prior * var0)
    model.train(was_training)
    return len(norms), seen


@METHODS.register_module(name="bn_adapt")
class BNAdapt(AdaptedDetectorMethod):
    """AdaBN: BatchNorm statistics re-estimated on unlabelled LQ faces (no labels, no gradients)."""

    name = "bn_adapt"
    retrains_detector: ClassVar[bool] = True  # changes BN buffers: works on a copy
    needs_labels: ClassVar[bool] = False
    config_keys: ClassVar[tuple[str, ...]] = ("source", "prior", "batch_size", "max_faces", "seed")

    def __init__(self, source: str = "train", prior: float = 0.0, batch_size: int = 64,
                 max_faces: int | None = None, seed: int = 0, **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys)
        if source not in SOURCES:
            raise ValueError(f"bn_adapt: source must be one of {SOURCES}, got {source!r}")
        if not 0.0 <= float(prior) <= 1.0:
            raise ValueError(f"bn_adapt: prior must be in [0, 1], got {prior!r}")
        if not isinstance(batch_size, int) or batch_size < 2:
            raise ValueError(f"bn_adapt: batch_size must be an int >= 2, got {batch_size!r}")
        super().__init__()
        self.source, self.prior, self.batch_size = source, float(prior), batch_size
        self.max_faces, self.seed = max_faces, seed
        self.test_time = source == "test"  # read by the engine: the test faces are then given

    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Re-estimate every BatchNorm layer's statistics on the chosen unlabelled LQ faces."""
        model = self._take(detector, device)
        faces = data.test_lq if self.source == "test" else data.train_lq
        if faces is None:
            raise ValueError("bn_adapt: source='test' needs the bundle's test_lq (test_time)")
        index = np.arange(len(faces))
        if self.max_faces is not None and self.max_faces < len(faces):
            rng = np.random.default_rng(self.seed)
            index = np.sort(rng.choice(len(faces), self.max_faces, replace=False))
        batches = (faces.tensors(index[b])[0].to(self._device)
                   for b in index_batches(len(index), self.batch_size, drop_single=True))
        layers, seen = reestimate_bn(model, batches, self.prior)
        model.eval()
        return {"bn_layers": layers, "n_faces": seen, "source": self.source}
