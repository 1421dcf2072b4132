"""``tent``: test-time entropy minimisation on BatchNorm affine parameters (Wang et al., ICLR 2021).

Source: D. Wang, E. Shelhamer, S. Liu, B. Olshausen, T. Darrell, "Tent: Fully
Test-Time Adaptation by Entropy Minimization", ICLR 2021 (reference code
``github.com/DequanWang/tent``, ``tent.py``). As there:

- BatchNorm layers normalise with the statistics of the current test batch
  (their running statistics are kept, unused and unchanged);
- only the BatchNorm affine parameters (weight and bias) are optimised, on the
  mean entropy of the softmax over the batch; no labels;
- ``predict`` on a batch returns the logits of the forward pass that the update
  is computed from (the update helps the following batches, and with
  ``steps > 1`` the last step's forward is returned).

The engine calls ``predict`` on the test faces in batches of 64
(:data:`bench.core.fit_data.TEST_BATCH_SIZE`) in the stream order
(:func:`bench.core.fit_data.test_stream_order`: shuffled, classes mixed in every
batch; in the stored order, reals first, online Tent on single-class batches
collapsed the ranking), once each, and fits tent afresh for
every test set; ``fit`` itself learns nothing (it prepares the copy and the
optimiser and records the size of the unlabelled test set it was handed).

Choices (config keys):

- ``episodic``: False (default) is online Tent, parameters and optimiser state
  carried from batch to batch; True resets both to the HQ detector's before
  every batch (Tent's episodic variant).
- ``steps``: gradient steps per batch (Tent: 1).
- ``optimizer``: ``"sgd"`` (default; Tent's ImageNet setting, momentum 0.9) or
  ``"adam"`` (Tent's CIFAR setting, betas 0.9/0.999); ``lr`` (default 2.5e-4,
  Tent's ImageNet lr for batch 64).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import torch

from bench.core.detector import Detector
from bench.core.errors import check_finite
from bench.core.fit_data import FitData
from bench.core.method import reject_unknown_options
from bench.core.registry import METHODS
from bleachbench.methods.detector_parts import AdaptedDetectorMethod, batchnorms, trainable_only

OPTIMIZERS = ("sgd", "adam")


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax of each row of ``logits``, ``[B]``."""
    return -(logits.softmax(1) * logits.log_softmax(1)).sum(1)


def configure_for_tent(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Train-mode BatchNorm on batch statistics (running ones untouched); return the affine parameters."""
    model.eval()
    params: list[torch.nn.Parameter] = []
    for m in batchnorms(model):
        m.train()
        m.track_running_stats = False  # batch statistics, no update of the running buffers
        params += [p for p in (m.weight, m.bias) if p is not None]
    if not params:
        raise TypeError("tent: the detector has no BatchNorm affine parameters to adapt")
    trainable_only(model, params)
    return params


@METHODS.register_module(name="tent")
class Tent(AdaptedDetectorMethod):
    """Tent: entropy minimisation on BatchNorm affine parameters over unlabelled LQ test batches."""

    name = "tent"
    retrains_detector: ClassVar[bool] = True
    needs_labels: ClassVar[bool] = False
    test_time: ClassVar[bool] = True
    config_keys: ClassVar[tuple[str, ...]] = ("episodic", "steps", "optimizer", "lr")

    def __init__(self, episodic: bool = False, steps: int = 1, optimizer: str = "sgd",
                 lr: float = 2.5e-4, **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"tent: optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"tent: steps must be a positive int, got {steps!r}")
        super().__init__()
        self.episodic, self.steps, self.optimizer, self.lr = bool(episodic), steps, optimizer, lr
        self._opt: torch.optim.Optimizer | None = None
        self._reset_state: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.batches_seen = 0

    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Prepare the copy (BN on batch statistics, only BN affine trainable) and the optimiser."""
        model = self._take(detector, device)
        params = configure_for_tent(model)
        if self.optimizer == "sgd":
            self._opt = torch.optim.SGD(params, lr=self.lr, momentum=0.9)
        else:
            self._opt = torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.999))
        self._reset_state = (copy.deepcopy(model.state_dict()),
                             copy.deepcopy(self._opt.state_dict()))
        return {"adapted_parameters": int(sum(p.numel() for p in params)),
                "n_test_faces_given": None if data.test_lq is None else len(data.test_lq),
                "test_batch_size": data.test_batch_size}

    def reset(self) -> None:
        """Back to the HQ detector's BatchNorm affine parameters and a fresh optimiser."""
        assert self._detector is not None and self._opt is not None and self._reset_state
        self._detector.load_state_dict(self._reset_state[0])
        self._opt.load_state_dict(self._reset_state[1])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Adapt on this batch (``steps`` entropy steps) and return the logits it was adapted from."""
        if self._detector is None or self._opt is None:
            raise RuntimeError("tent: call fit() before predict()")
        if self.episodic:
            self.reset()
        x = x.to(self._device)
        with torch.enable_grad():
            for _ in range(self.steps):
                logits = self._detector(x)
                loss = softmax_entropy(logits).mean()
                check_finite(loss, "tent adaptation step", "try a lower lr")
                self._opt.zero_grad(set_to_none=True)
                loss.backward()
                self._opt.step()
        self.batches_seen += 1
        return logits.detach()
