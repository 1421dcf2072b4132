"""``lq_finetune``: the whole detector fine-tuned on labelled LQ train faces (an upper reference).

Source: the standard "train on the target quality" reference of compressed
deepfake detection (e.g. Rössler et al., FaceForensics++, ICCV 2019, train and
test at the same quality; ADD, Woo et al., AAAI 2022, its LQ-trained baseline).
It is not a remedy in front of a frozen detector: every parameter of a copy of
the HQ detector is retrained, starting from the HQ weights, with the harness's
own detector training (the run's detector trainer, handed over as ``data.train``: mmengine Runner,
AdamW, one-cycle lr, horizontal flips), the epoch with the best LQ val accuracy
kept.

Config keys: ``epochs``, ``batch_size``, ``lr`` (peak lr, default 1e-4: a
fine-tune, an order of magnitude under the quick profile's from-scratch lr),
``weight_decay`` (1e-2), ``seed``. The checkpoints live in the run's method
work dir; a finished fit is reused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from bench.core.detector import Detector, freeze
from bench.core.fit_data import FitData
from bench.core.method import reject_unknown_options
from bench.core.registry import METHODS
from bleachbench.methods.detector_parts import AdaptedDetectorMethod


@METHODS.register_module(name="lq_finetune")
class LQFinetune(AdaptedDetectorMethod):
    """The whole detector fine-tuned on LQ train, best LQ-val epoch kept (retrains; upper reference)."""

    name = "lq_finetune"
    retrains_detector: ClassVar[bool] = True
    fit_cost: ClassVar[float] = 1.5  # Xception, quick profile: 84 s against a bleach fit's 51
    config_keys: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "lr", "weight_decay", "seed")

    def __init__(self, epochs: int = 5, batch_size: int = 32, lr: float = 1e-4,
                 weight_decay: float = 1e-2, seed: int = 0, progress: bool = True,
                 **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys + ("progress",))
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"lq_finetune: epochs must be a positive int, got {epochs!r}")
        super().__init__()
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.weight_decay, self.seed, self.progress = weight_decay, seed, progress

    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Fine-tune every parameter of the copy on LQ train; keep the best LQ-val epoch."""
        model = self._take(detector, device)
        for p in model.parameters():
            p.requires_grad_(True)
        info = data.train(model, data.train_lq, data.val_lq, Path(work_dir) / "finetune",
                              epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                              device=str(self._device), seed=self.seed, progress=self.progress,
                              weight_decay=self.weight_decay)
        freeze(model.to(self._device))
        return {"best_val_acc": info.get("best_val_acc"), "seconds": info.get("seconds"),
                "checkpoint": info.get("checkpoint")}
