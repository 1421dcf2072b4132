"""Shared training of a preprocessor (a small U-Net) in front of the frozen detector, on paired HQ/LQ faces.

``restoration`` and ``stability_denoiser`` differ only in their loss
(:meth:`PairedPreprocessor.loss`). Both:

- declare ``needs_paired_hq_lq`` and not ``needs_labels`` (they learn from
  LQ/HQ pairs of the same face, never from real/fake labels);
- train a :class:`methods.unet.ResidualUNet` (identity at initialisation) with
  Adam on LQ train pairs; the frozen detector (eval mode, ``requires_grad``
  off) only passes gradients through to the U-Net;
- keep the epoch with the lowest loss on the LQ/HQ val pairs (the same
  objective; no label, no test face);
- predict ``detector(clamp(unet(x), 0, 1))`` (``clamp`` config key);
- write ``unet.pt`` and ``done.json`` to the work dir and reuse them when the
  parameters match.

Common config keys: ``epochs``, ``batch_size``, ``lr`` (Adam, 1e-3), ``width``
and ``depth`` (U-Net size), ``clamp`` (True), ``seed``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.core.detector import Detector, frozen
from bench.core.errors import check_finite
from bench.core.fit_data import FitData
from bench.core.method import Method, reject_unknown_options
from bleachbench.methods.detector_parts import index_batches
from bleachbench.methods.unet import ResidualUNet

COMMON_KEYS = ("epochs", "batch_size", "lr", "width", "depth", "clamp", "seed")


class PairedPreprocessor(Method):
    """Base of a U-Net preprocessor trained on paired HQ/LQ faces for a frozen detector."""

    name = ""
    retrains_detector: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = True
    config_keys: ClassVar[tuple[str, ...]] = COMMON_KEYS  # a subclass adds its loss's keys

    def __init__(self, epochs: int = 5, batch_size: int = 32, lr: float = 1e-3, width: int = 16,
                 depth: int = 3, clamp: bool = True, seed: int = 0, progress: bool = True,
                 **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys + ("progress",))
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"{self.name}: epochs must be a positive int, got {epochs!r}")
        if not isinstance(batch_size, int) or batch_size < 2:
            raise ValueError(f"{self.name}: batch_size must be an int >= 2, got {batch_size!r}")
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.width, self.depth, self.clamp, self.seed = width, depth, bool(clamp), seed
        self.progress = progress
        self.unet: ResidualUNet | None = None
        self._detector: Detector | None = None
        self._device = torch.device("cpu")

    def params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    # ------------------------------------------------------------------ subclass hook
    def loss(self, out: torch.Tensor, lq: torch.Tensor, hq: torch.Tensor) -> torch.Tensor:
        """The training (and selection) loss of the preprocessed LQ batch ``out`` against its HQ pair."""
        raise NotImplementedError

    # ------------------------------------------------------------------ pieces
    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        assert self.unet is not None
        out = self.unet(x)
        return out.clamp(0.0, 1.0) if self.clamp else out

    def _pairs(self, data: FitData, split: str, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        lq, hq = (data.train_lq, data.train_hq) if split == "train" else (data.val_lq, data.val_hq)
        assert hq is not None
        return lq.tensors(idx)[0].to(self._device), hq.tensors(idx)[0].to(self._device)

    @torch.no_grad()
    def _val_loss(self, data: FitData) -> float:
        assert self.unet is not None
        self.unet.eval()
        total, n = 0.0, 0
        for idx in index_batches(len(data.val_lq), self.batch_size * 2):
            lq, hq = self._pairs(data, "val", idx)
            total += float(self.loss(self.preprocess(lq), lq, hq)) * len(idx)
            n += len(idx)
        return total / max(n, 1)

    # ------------------------------------------------------------------ contract
    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Train the U-Net on LQ/HQ train pairs; keep the epoch with the lowest LQ/HQ val loss."""
        if data.train_hq is None or data.val_hq is None:
            raise ValueError(f"{self.name}: the bundle holds no paired HQ faces")
        start = time.perf_counter()
        self._device = torch.device(device)
        self._detector = detector.to(self._device).eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.unet = ResidualUNet(self.width, self.depth).to(self._device)
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        identity = {"method": self.name, "params": self.params(), "size": data.train_lq.size,
                    "n_train": len(data.train_lq)}
        done = work_dir / "done.json"
        if done.exists() and (work_dir / "unet.pt").exists():
            record = json.loads(done.read_text())
            if record.get("identity") == identity:
                self.unet.load_state_dict(torch.load(work_dir / "unet.pt", map_location=self._device))
                self.unet.eval()
                return record["result"]
        result = self._train(data)
        result["seconds"] = time.perf_counter() - start
        torch.save(self.unet.state_dict(), work_dir / "unet.pt")
        done.write_text(json.dumps({"identity": identity, "result": result}, indent=1))
        return result

    def _train(self, data: FitData) -> dict[str, Any]:
        assert self.unet is not None and self._detector is not None
        opt = torch.optim.Adam(self.unet.parameters(), lr=self.lr)
        rng = np.random.default_rng(self.seed)
        history = [{"epoch": 0, "val_loss": self._val_loss(data)}]
        best_loss, best_epoch = history[0]["val_loss"], 0
        best_state = {k: v.clone() for k, v in self.unet.state_dict().items()}
        with frozen(self._detector, eval_mode=False):
            for epoch in tqdm(range(1, self.epochs + 1), desc=self.name, disable=not self.progress):
                self.unet.train()
                total, n = 0.0, 0
                for idx in index_batches(len(data.train_lq), self.batch_size, rng, drop_single=True):
                    lq, hq = self._pairs(data, "train", idx)
                    loss = self.loss(self.preprocess(lq), lq, hq)
                    check_finite(loss, f"{self.name} fit, epoch {epoch}")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total, n = total + float(loss.detach()) * len(idx), n + len(idx)
                val = self._val_loss(data)
                history.append({"epoch": epoch, "train_loss": total / max(n, 1), "val_loss": val})
                if val < best_loss:
                    best_loss, best_epoch = val, epoch
                    best_state = {k: v.clone() for k, v in self.unet.state_dict().items()}
        self.unet.load_state_dict(best_state)
        self.unet.eval()
        return {"best_epoch": best_epoch, "best_val_loss": best_loss, "history": history}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.unet is None or self._detector is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        self.unet.eval()
        self._detector.eval()
        return self._detector(self.preprocess(x.to(self._device)))
