"""``add_kd``: knowledge distillation from the HQ detector (teacher) to an LQ student, on paired faces.

Source, in spirit: ADD (Woo, Mu, Rana, ... Kim, "ADD: Frequency Attention and
Multi-View based Knowledge Distillation to Detect Low-Quality Compressed
Deepfake Images", AAAI 2022). ADD's teacher is trained on HQ faces and frozen; its
student, of the same architecture, learns on the LQ version of the same faces
with ``CE + alpha * L_FA + beta * L_MA``.

What is implemented here (config keys in brackets):

- the teacher: the frozen HQ detector, fed the HQ face of each LQ train face
  (paired: same video, frame and box);
- the student: a copy of the HQ detector (ADD starts from ImageNet weights; we
  start from the HQ weights, which the harness has and which is the stronger
  start), every parameter trained on LQ faces with cross-entropy on the labels;
- ``beta`` (default 1): ADD's multi-view attention distillation, reduced to
  the final feature phi: the sliced Wasserstein distance between the batch of
  student features on LQ and teacher features on HQ, over ``n_views`` random
  unit projections (ADD Eq. 9-10, applied to phi instead of the backbone's
  intermediate maps);
- ``feature_weight`` (default 1): mean squared distance between the student's
  phi on each LQ face and the teacher's phi on its HQ pair (a per-sample
  feature distillation; FitNets, Romero et al., ICLR 2015);
- ``kd_weight`` (default 0) and ``temperature`` (4): Hinton et al. logit
  distillation, not part of ADD, off by default.

Not implemented: ADD's frequency attention distillation (``L_FA``: DCT-domain
attention on the backbone's intermediate feature maps), because the detector
contract exposes only phi and logits; the student is selected on LQ val
accuracy (best epoch), where ADD reports the last.

Other keys: ``epochs``, ``batch_size``, ``lr`` (Adam, 1e-4), ``seed``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bench.core.detector import Detector, freeze
from bench.core.errors import check_finite
from bench.core.fit_data import FitData
from bench.core.method import reject_unknown_options
from bench.core.registry import METHODS
from bleachbench.methods.detector_parts import AdaptedDetectorMethod, better, index_batches, score


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, n_views: int,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared sliced 2-Wasserstein distance between two equal-size batches ``[B, D]``."""
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein: shapes differ, {list(a.shape)} vs {list(b.shape)}")
    proj = torch.randn(a.shape[1], n_views, generator=generator).to(a.device, a.dtype)
    proj = proj / proj.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ proj, dim=0)
    pb, _ = torch.sort(b @ proj, dim=0)
    return (pa - pb).pow(2).mean()


@METHODS.register_module(name="add_kd")
class AddKD(AdaptedDetectorMethod):
    """ADD-style distillation: HQ teacher on HQ pairs -> LQ student (CE + sliced-Wasserstein + feature KD)."""

    name = "add_kd"
    retrains_detector: ClassVar[bool] = True
    needs_paired_hq_lq: ClassVar[bool] = True
    config_keys: ClassVar[tuple[str, ...]] = (
        "epochs", "batch_size", "lr", "beta", "n_views", "feature_weight", "kd_weight",
        "temperature", "seed")  # fmt: skip

    def __init__(self, epochs: int = 5, batch_size: int = 32, lr: float = 1e-4, beta: float = 1.0,
                 n_views: int = 64, feature_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0, seed: int = 0, progress: bool = True,
                 **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys + ("progress",))
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"add_kd: epochs must be a positive int, got {epochs!r}")
        if not isinstance(batch_size, int) or batch_size < 2:
            raise ValueError(f"add_kd: batch_size must be an int >= 2, got {batch_size!r}")
        if min(beta, feature_weight, kd_weight) < 0 or temperature <= 0 or n_views < 1:
            raise ValueError("add_kd: weights must be >= 0, temperature > 0, n_views >= 1")
        super().__init__()
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.beta, self.n_views, self.feature_weight = float(beta), int(n_views), float(feature_weight)
        self.kd_weight, self.temperature, self.progress = float(kd_weight), float(temperature), progress

    def _loss(self, student: Detector, teacher: Detector, lq: torch.Tensor, hq: torch.Tensor,
              y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            phi_t = teacher.features(hq)
            logit_t = teacher.classify(phi_t)
        phi_s = student.features(lq)
        logit_s = student.classify(phi_s)
        loss = F.cross_entropy(logit_s, y)
        if self.beta:
            loss = loss + self.beta * sliced_wasserstein(phi_s, phi_t, self.n_views, gen)
        if self.feature_weight:
            loss = loss + self.feature_weight * F.mse_loss(phi_s, phi_t)
        if self.kd_weight:
            t = self.temperature
            loss = loss + self.kd_weight * t * t * F.kl_div(
                F.log_softmax(logit_s / t, 1), F.log_softmax(logit_t / t, 1),
                reduction="batchmean", log_target=True)
        return loss

    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Distil the HQ teacher into the LQ student on paired train faces; keep the best LQ-val epoch."""
        if data.train_hq is None:
            raise ValueError("add_kd: the bundle holds no paired HQ faces")
        start = time.perf_counter()
        student = self._take(detector, device)
        teacher = freeze(copy.deepcopy(student))
        for p in student.parameters():
            p.requires_grad_(True)
        opt = torch.optim.Adam(student.parameters(), lr=self.lr)
        rng = np.random.default_rng(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        best = score(student, data.val_lq, self._device)
        history: list[dict[str, Any]] = [{"epoch": 0, **{f"val_{k}": v for k, v in best.items()}}]
        best_epoch, best_state = 0, copy.deepcopy(student.state_dict())
        for epoch in tqdm(range(1, self.epochs + 1), desc="add_kd", disable=not self.progress):
            student.train()
            total, n = 0.0, 0
            for idx in index_batches(len(data.train_lq), self.batch_size, rng, drop_single=True):
                lq, y = data.train_lq.tensors(idx)
                hq, _ = data.train_hq.tensors(idx)
                loss = self._loss(student, teacher, lq.to(self._device), hq.to(self._device),
                                  y.to(self._device), gen)
                check_finite(loss, f"add_kd fit, epoch {epoch}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, n = total + float(loss.detach()) * len(idx), n + len(idx)
            student.eval()
            val = score(student, data.val_lq, self._device)
            history.append({"epoch": epoch, "train_loss": total / max(n, 1),
                            **{f"val_{k}": v for k, v in val.items()}})
            if better(val, best, "acc"):
                best, best_epoch, best_state = val, epoch, copy.deepcopy(student.state_dict())
        student.load_state_dict(best_state)
        freeze(student)
        return {"best_epoch": best_epoch, "best_val_acc": best["acc"], "best_val_auc": best["auc"],
                "history": history, "seconds": time.perf_counter() - start}
