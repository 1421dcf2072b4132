"""Shared pieces of the remedies that adapt a detector: its BatchNorm layers and head, batching and scoring.

- :func:`batchnorms` and :func:`head_of` find what ``bn_adapt``, ``tent`` and
  ``head_refit`` may change;
- :func:`trainable_only` sets ``requires_grad`` on exactly the named parameters;
- :func:`score` is accuracy and AUC of any ``x -> logits`` on a labelled FaceSet
  (model selection on LQ val);
- :class:`AdaptedDetectorMethod` is the common shape of a remedy whose
  prediction is its own (adapted) copy of the detector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.method import Method
from bench.core.metrics import acc_auc

BatchNorm = nn.modules.batchnorm._BatchNorm


def batchnorms(model: nn.Module) -> list[BatchNorm]:
    """Every BatchNorm layer (1d/2d/3d, SyncBN) of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, BatchNorm)]


def head_of(detector: nn.Module) -> nn.Linear:
    """The detector's last linear layer ``head`` (``[feature_dim] -> 2``), or a clear error."""
    head = getattr(detector, "head", None)
    if not isinstance(head, nn.Linear) or head.out_features != 2:
        raise TypeError(
            f"{type(detector).__name__}: expected a 2-way nn.Linear `head` (bench/core/detector.py "
            f"contract), found {type(head).__name__}")
    return head


def trainable_only(model: nn.Module, params: list[nn.Parameter]) -> None:
    """``requires_grad`` True on ``params`` and False on every other parameter of ``model``."""
    keep = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)


def index_batches(n: int, batch_size: int, rng: np.random.Generator | None = None,
                  drop_single: bool = False) -> Iterator[np.ndarray]:
    """Indices ``0..n-1`` in batches (shuffled when ``rng`` is given); a last batch of one dropped on request."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        idx = np.sort(order[start : start + batch_size])
        if drop_single and len(idx) < 2:
            continue
        yield idx


@torch.no_grad()
def score(predict: Callable[[torch.Tensor], torch.Tensor], faces: FaceSet,
          device: torch.device, batch_size: int = 64) -> dict[str, float | None]:
    """``{"acc", "auc"}`` of ``predict`` on labelled ``faces`` (AUC None with one class)."""
    probs, labels = [], []
    for idx in index_batches(len(faces), batch_size):
        x, y = faces.tensors(idx)
        probs.append(predict(x.to(device)).float().softmax(1)[:, 1].cpu())
        labels.append(y)
    p, t = torch.cat(probs).numpy(), torch.cat(labels).numpy()
    if (t < 0).any():
        raise ValueError("score: these faces are unlabelled (labels stripped)")
    acc, auc = acc_auc(t, p)
    return {"acc": acc, "auc": auc}


def better(new: dict[str, float | None], best: dict[str, float | None] | None, metric: str) -> bool:
    """True if ``new`` beats ``best`` on ``metric`` (``acc``/``auc``; a missing AUC falls back to acc)."""
    if best is None:
        return True
    key = metric if new.get(metric) is not None and best.get(metric) is not None else "acc"
    return float(new[key]) > float(best[key])  # type: ignore[arg-type]


class AdaptedDetectorMethod(Method):
    """A remedy whose ``predict`` is its own adapted copy of the detector, in eval mode."""

    retrains_detector = True
    name = ""

    def __init__(self) -> None:
        self._detector: Detector | None = None
        self._device = torch.device("cpu")

    def _take(self, detector: Detector, device: torch.device) -> Detector:
        self._device = torch.device(device)
        self._detector = detector.to(self._device)
        return self._detector

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self._detector is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        self._detector.eval()
        return self._detector(x.to(self._device))

    def params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in getattr(self, "config_keys", ())}
