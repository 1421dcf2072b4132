"""Pixel Bleach (Li, Zheng et al., IEEE TMM 2023): learn a bleach that undoes compression for a frozen detector.

For a compressed face x and the frozen detector (trained on HQ):
``phi = features(x)``; ``delta_phi* = -2 phi + m I phi`` (Eq. 4, I = sign of the
logit margin, see :mod:`methods.bleach_generator`); a DCGAN-style generator maps
``delta_phi*`` to a bleach in ``[-1, 1]``; ``bleached = x + s * bleach`` goes
through the same frozen detector. Trained with ``L_rem + alpha L_reg + gamma
L_ce`` (:mod:`methods.bleach_losses`), Adam (lr 2e-4, weight decay 1e-8), on
the balanced offset set: every FP and FN of the frozen detector on the LQ train
split plus a seeded random sample of correctly classified faces. The generator
state of the epoch with the best LQ val metric is kept (never test).

Choices where the paper is vague (each a keyword argument):

- ``s``: the paper calls s both a factor on F3-Net's last-layer output
  (Sec. IV-B) and the scale of the generated bleach (Sec. IV-C1, Table V, Fig. 6).
  We implement the second, ``bleached = x + s * bleach``: the generator
  BatchNorm-normalises its input after the first layer, so a factor on the
  feature would be all but absorbed, whereas Table V and Fig. 6 describe the
  bleach's magnitude corrupting the image at s = 1. ``s=None`` means the
  per-detector default: 0.01 for F3-Net (registered name or class name
  ``f3net``, case and punctuation ignored), 1.0 otherwise.
- ``phi_tar`` (target of L_rem's pull): ``"reflect"`` (default) is
  ``phi + delta_phi*``, the reconstructed and compensated feature the text
  names; ``"class_mean"`` is the mean feature of the true class over the LQ
  train faces the frozen detector gets right (no HQ data is given to a method).
- ``reg_mode``: the reading of Eq. 6 (:data:`methods.bleach_losses.REG_MODES`);
  default ``"scaled_diff"``, k times the RMS of the added bleach.
- ``balance_ratio``: correct faces sampled per wrong face (1.0: as many correct
  as wrong). With no wrong face at all, ``batch_size`` correct faces are used.
- ``clamp``: False (default) leaves ``x + s * bleach`` unclamped (the detector
  normalises any float input and the gradient never saturates); True clamps to [0, 1].
- I and the wrong mask E come from the frozen detector on the unbleached LQ face.
- A last training batch of a single face is dropped (BatchNorm needs two).
- ``zero_init`` (default True, not in the paper): the generator's last layer starts
  at zero, so training starts from bleach = 0, the frozen detector as it is
  (see :meth:`methods.bleach_generator.BleachGenerator.reset_parameters`).

``fit`` writes ``generator.pt`` and ``done.json`` to ``work_dir`` and returns the
stored result when they exist for the same parameters; ``last.pt`` (saved every
epoch) resumes an interrupted fit. The detector stays in eval mode, its
parameters get ``requires_grad=False`` during fit (restored after) and only the
generator's parameters are in the optimiser.

Devices: the fit runs on one device (the CPU or one GPU), also under ``torchrun``, where
the detector's training is distributed but each rank then fits the same generator (same
seed, same faces). It stays single-device on purpose: the generator's BatchNorm statistics
are part of the method (the paper's batches of 14, and their exact recalibration over the
offset set after every epoch), and splitting a batch over GPUs would change them unless
SyncBatchNorm replaced them, which would change the method; and a grid holds many
independent fits (one per detector, manipulation and setting), which ``bench run
--executor local|slurm`` spreads over GPUs with no communication (``bench/executor.py``).
``make gpu-check`` measures one fit epoch's img/s (``bleach_fit``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from bench.registry import METHODS
from datasets.faceset import FaceSet
from detectors.base import Detector
from methods.base import Method, reject_unknown_options
from methods.bleach_generator import BleachGenerator, compensate, offset_direction
from methods.bleach_losses import REG_MODES, ce_loss, regularization_loss, remedy_loss, total_loss
from methods.fit_data import FitData

SCALE_DEFAULTS: dict[str, float] = {"f3net": 0.01}  # normalised detector name -> default s
PHI_TARGETS = ("reflect", "class_mean")
SELECT_METRICS = ("acc", "auc")
CHECKPOINT, DONE, LAST = "generator.pt", "done.json", "last.pt"


def detector_name(detector: nn.Module) -> str:
    """The detector's ``name`` class attribute, else its class name; lowercased, alphanumerics only."""
    name = getattr(type(detector), "name", None)
    if not isinstance(name, str) or not name:
        name = type(detector).__name__
    return re.sub(r"[^a-z0-9]", "", name.lower())


def default_scale(detector: nn.Module) -> float:
    """The per-detector default bleach scale s: 0.01 for F3-Net, 1.0 otherwise."""
    return SCALE_DEFAULTS.get(detector_name(detector), 1.0)


def balanced_offset_indices(
    wrong: np.ndarray, ratio: float = 1.0, seed: int = 0, min_correct: int = 0
) -> np.ndarray:
    """Every wrong index plus ``round(ratio * n_wrong)`` correct ones sampled without replacement (seeded).

    At least ``min_correct`` correct ones are taken (used when nothing is wrong);
    never more than exist. Returned sorted.
    """
    wrong = np.asarray(wrong, dtype=bool)
    wrong_idx, right_idx = np.flatnonzero(wrong), np.flatnonzero(~wrong)
    n_right = min(len(right_idx), max(int(round(ratio * len(wrong_idx))), min_correct))
    picked = np.random.default_rng(seed).choice(right_idx, size=n_right, replace=False)
    return np.sort(np.concatenate([wrong_idx, picked]).astype(np.int64))


@contextlib.contextmanager
def frozen(detector: nn.Module) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` for the block; the flags (not the mode) are restored after."""
    flags = [p.requires_grad for p in detector.parameters()]
    detector.eval()
    for p in detector.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(detector.parameters(), flags):
            p.requires_grad_(flag)


def _batches(index: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start : start + size]


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".json":
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    else:
        torch.save(obj, tmp)
    os.replace(tmp, path)


@METHODS.register_module(name="pixel_bleach")
class PixelBleach(Method):
    """Pixel Bleach (TMM 2023): a generator adds a learned bleach to LQ faces before the frozen detector."""

    retrains_detector: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = False
    #: keys of ``params()``; a caller may filter profile sections with it
    config_keys: ClassVar[tuple[str, ...]] = (
        "epochs", "batch_size", "lr", "weight_decay", "s", "m", "alpha", "gamma", "k", "tau",
        "use_rem", "use_reg", "phi_tar", "reg_mode", "balance_ratio", "clamp", "select_metric",
        "base_channels", "zero_init", "seed",
    )  # fmt: skip

    def __init__(
        self,
        epochs: int = 20,
        batch_size: int = 16,
        lr: float = 2e-4,
        weight_decay: float = 1e-8,
        s: float | None = None,
        m: float = 0.7,
        alpha: float = 1.0,
        gamma: float = 2.0,
        k: float = 50.0,
        tau: float = 0.2,
        use_rem: bool = True,
        use_reg: bool = True,
        phi_tar: str = "reflect",
        reg_mode: str = "scaled_diff",
        balance_ratio: float = 1.0,
        clamp: bool = False,
        select_metric: str = "acc",
        base_channels: int = 256,
        zero_init: bool = True,
        seed: int = 0,
        progress: bool = True,
        **unknown: Any,
    ) -> None:
        reject_unknown_options("pixel_bleach", unknown, self.config_keys + ("progress",))
        for key, value, ok in (
            ("epochs", epochs, isinstance(epochs, int) and epochs >= 1),
            ("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 2),
            ("s", s, s is None or s > 0),
            ("balance_ratio", balance_ratio, balance_ratio >= 0),
            ("phi_tar", phi_tar, phi_tar in PHI_TARGETS),
            ("reg_mode", reg_mode, reg_mode in REG_MODES),
            ("select_metric", select_metric, select_metric in SELECT_METRICS),
        ):
            if not ok:
                raise ValueError(
                    f"pixel_bleach: bad {key}={value!r} (see the PixelBleach docstring)"
                )
        self.epochs, self.batch_size, self.lr, self.weight_decay = (
            epochs,
            batch_size,
            lr,
            weight_decay,
        )
        self.s, self.m, self.alpha, self.gamma, self.k, self.tau = s, m, alpha, gamma, k, tau
        self.use_rem, self.use_reg, self.phi_tar, self.reg_mode = (
            use_rem,
            use_reg,
            phi_tar,
            reg_mode,
        )
        self.balance_ratio, self.clamp, self.select_metric = balance_ratio, clamp, select_metric
        self.base_channels, self.seed, self.progress = base_channels, seed, progress
        self.zero_init = bool(zero_init)
        self.generator: BleachGenerator | None = None
        self._detector: Detector | None = None
        self._device = torch.device("cpu")
        self._scale = 1.0
        self._class_means: torch.Tensor | None = None

    def params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    # ----------------------------------------------------------------- bleach
    def _bleach(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(bleached, phi, logits)``: the frozen pass on x, Eq. 4, the generator, x + s * bleach."""
        assert self._detector is not None and self.generator is not None
        with torch.no_grad():
            phi = self._detector.features(x)
            logits = self._detector.classify(phi)
        bleach = self.generator(compensate(phi, offset_direction(logits), self.m))
        bleached = x + self._scale * bleach
        if self.clamp:
            bleached = bleached.clamp(0.0, 1.0)
        return bleached, phi, logits

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the frozen detector on the bleached faces (two detector passes + the generator)."""
        if self.generator is None or self._detector is None:
            raise RuntimeError("pixel_bleach: call fit() before predict()")
        if (
            x.ndim != 4
            or x.shape[-1] != self.generator.out_size
            or x.shape[-2] != self.generator.out_size
        ):
            raise ValueError(
                f"pixel_bleach was fitted on {self.generator.out_size} px faces; got input {list(x.shape)}"
            )
        self._detector.eval()
        self.generator.eval()
        bleached, _, _ = self._bleach(x.to(self._device))
        return self._detector(bleached)

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        detector: Detector,
        data: FitData,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Train the generator on the balanced offset set of LQ train; keep the best LQ-val epoch."""
        train_lq, val_lq = data.train_lq, data.val_lq
        start = time.perf_counter()
        if val_lq.size != train_lq.size:
            raise ValueError(
                f"pixel_bleach: train faces are {train_lq.size} px but val faces {val_lq.size} px"
            )
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        self._device = torch.device(device)
        self._detector = detector.to(self._device)
        self._scale = float(self.s) if self.s is not None else default_scale(detector)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.generator = BleachGenerator(
                detector.feature_dim, train_lq.size, self.base_channels, self.zero_init
            )
        self.generator.to(self._device)
        identity = {
            "params": self.params(), "s_resolved": self._scale,
            "feature_dim": int(detector.feature_dim), "size": train_lq.size,
        }  # fmt: skip
        with frozen(detector):
            done = work_dir / DONE
            if done.exists() and (work_dir / CHECKPOINT).exists():
                record = json.loads(done.read_text())
                if record.get("identity") == identity:
                    state = torch.load(work_dir / CHECKPOINT, map_location=self._device)
                    self.generator.load_state_dict(state)
                    self.generator.eval()
                    return record["result"]
            result = self._train(train_lq, val_lq, work_dir, identity)
        result["seconds"] = time.perf_counter() - start
        _save_atomic(self.generator.state_dict(), work_dir / CHECKPOINT)
        _save_atomic({"identity": identity, "result": result}, done)
        (work_dir / LAST).unlink(missing_ok=True)
        return result

    def _scan(self, faces: FaceSet) -> np.ndarray:
        """Frozen pass over LQ train: the wrong mask; sets the class-mean targets as a side effect."""
        assert self._detector is not None
        wrong = np.zeros(len(faces), dtype=bool)
        sums = torch.zeros(2, self._detector.feature_dim, dtype=torch.float64)
        counts = torch.zeros(2, dtype=torch.float64)
        all_sums, all_counts = sums.clone(), counts.clone()
        with torch.no_grad():
            for idx in _batches(np.arange(len(faces)), self.batch_size * 2):
                x, y = faces.tensors(idx)
                phi = self._detector.features(x.to(self._device))
                pred = self._detector.classify(phi).argmax(1).cpu()
                ok = pred == y
                wrong[idx] = (~ok).numpy()
                phi = phi.double().cpu()
                for c in (0, 1):
                    sel = (y == c) & ok
                    sums[c] += phi[sel].sum(0)
                    counts[c] += sel.sum()
                    all_sums[c] += phi[y == c].sum(0)
                    all_counts[c] += (y == c).sum()
        # A class with no correctly classified face falls back to the mean of all its faces.
        means = torch.where(
            counts[:, None] > 0,
            sums / counts.clamp_min(1)[:, None],
            all_sums / all_counts.clamp_min(1)[:, None],
        )
        self._class_means = means.float().to(self._device)
        return wrong

    def _losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        assert self._detector is not None
        bleached, phi, logits = self._bleach(x)
        wrong = logits.argmax(1) != y
        if self.phi_tar == "reflect":
            phi_tar = phi + compensate(phi, offset_direction(logits), self.m)
        else:
            assert self._class_means is not None
            phi_tar = self._class_means[y]
        phi_bl = self._detector.features(bleached)
        logits_bl = self._detector.classify(phi_bl)
        parts = {
            "rem": remedy_loss(phi_bl, phi_tar, wrong, self.tau),
            "reg": regularization_loss(bleached, x, self.k, self.reg_mode),
            "ce": ce_loss(logits_bl, y),
        }
        parts["total"] = total_loss(
            parts["rem"],
            parts["reg"],
            parts["ce"],
            self.alpha,
            self.gamma,
            self.use_rem,
            self.use_reg,
        )
        return parts

    def _train(
        self, train_lq: FaceSet, val_lq: FaceSet, work_dir: Path, identity: dict[str, Any]
    ) -> dict[str, Any]:
        assert self.generator is not None
        labels = np.asarray(train_lq.labels)
        wrong = self._scan(train_lq)
        index = balanced_offset_indices(
            wrong, self.balance_ratio, self.seed, min_correct=0 if wrong.any() else self.batch_size
        )
        opt = torch.optim.Adam(
            self.generator.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        best_state, best_metric, best_epoch, history, first = None, -math.inf, -1, [], 0
        last = work_dir / LAST
        if last.exists():
            ckpt = torch.load(last, map_location=self._device, weights_only=False)
            if ckpt.get("identity") == identity:
                self.generator.load_state_dict(ckpt["generator"])
                opt.load_state_dict(ckpt["optimizer"])
                best_state, best_metric, best_epoch = (
                    ckpt["best_state"],
                    ckpt["best_metric"],
                    ckpt["best_epoch"],
                )
                history, first = ckpt["history"], ckpt["epoch"] + 1
        epochs = tqdm(range(first, self.epochs), desc="pixel_bleach", disable=not self.progress)
        for epoch in epochs:
            self.generator.train()
            order = np.random.default_rng([self.seed, epoch]).permutation(index)
            sums = {"total": 0.0, "rem": 0.0, "reg": 0.0, "ce": 0.0}
            n_steps = 0
            bar = tqdm(
                list(_batches(order, self.batch_size)), leave=False, disable=not self.progress
            )
            for idx in bar:
                if len(idx) < 2:
                    continue
                x, y = train_lq.tensors(np.sort(idx))
                parts = self._losses(x.to(self._device), y.to(self._device))
                opt.zero_grad(set_to_none=True)
                parts["total"].backward()
                opt.step()
                for key in sums:
                    sums[key] += float(parts[key].detach())
                n_steps += 1
                bar.set_postfix(loss=f"{sums['total'] / n_steps:.3f}")
            self._recalibrate_bn(train_lq, index)
            val = self._evaluate(val_lq)
            row = {
                "epoch": epoch,
                **val,
                **{f"loss_{k}": v / max(n_steps, 1) for k, v in sums.items()},
            }
            history.append(row)
            metric = val[self.select_metric]
            metric = val["acc"] if metric is None else metric
            if metric > best_metric:
                best_metric, best_epoch = metric, epoch
                best_state = {
                    k: v.detach().cpu().clone() for k, v in self.generator.state_dict().items()
                }
            epochs.set_postfix(val_acc=f"{val['acc']:.3f}")
            _save_atomic(
                {"identity": identity, "generator": self.generator.state_dict(), "optimizer": opt.state_dict(),
                 "best_state": best_state, "best_metric": best_metric, "best_epoch": best_epoch,
                 "history": history, "epoch": epoch},
                last,
            )  # fmt: skip
        assert best_state is not None
        self.generator.load_state_dict(best_state)
        self.generator.eval()
        best = history[[h["epoch"] for h in history].index(best_epoch)]
        return {
            "n_train": len(train_lq),
            "n_train_fp": int((wrong & (labels == 0)).sum()),
            "n_train_fn": int((wrong & (labels == 1)).sum()),
            "n_train_wrong": int(wrong.sum()),
            "n_balanced": len(index),
            "best_epoch": best_epoch,
            "best_val_acc": best["acc"],
            "best_val_auc": best["auc"],
            "mean_abs_bleach": best["mean_abs_bleach"],
            "s": self._scale,
            "history": history,
        }

    @torch.no_grad()
    def _recalibrate_bn(self, faces: FaceSet, index: np.ndarray) -> None:
        """Exact BatchNorm statistics of the generator over ``faces[index]`` (momentum None = cumulative mean)."""
        assert self.generator is not None and self._detector is not None
        norms = [
            mod
            for mod in self.generator.modules()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm)
        ]
        saved = [mod.momentum for mod in norms]
        for mod in norms:
            mod.reset_running_stats()
            mod.momentum = None
        self.generator.train()
        for idx in _batches(index, self.batch_size):
            if len(idx) >= 2:
                x, _ = faces.tensors(idx)
                self._bleach(x.to(self._device))
        for mod, momentum in zip(norms, saved):
            mod.momentum = momentum
        self.generator.eval()

    @torch.no_grad()
    def _evaluate(self, faces: FaceSet) -> dict[str, Any]:
        """Accuracy, AUC (None with one class) and mean |x_bl - x| of the current generator on ``faces``."""
        assert self._detector is not None and self.generator is not None
        self.generator.eval()
        probs, labels, abs_sum, n_px = [], [], 0.0, 0
        for idx in _batches(np.arange(len(faces)), self.batch_size * 2):
            x, y = faces.tensors(idx)
            x = x.to(self._device)
            bleached, _, _ = self._bleach(x)
            probs.append(self._detector(bleached).softmax(1)[:, 1].float().cpu())
            labels.append(y)
            abs_sum += float((bleached - x).abs().sum())
            n_px += x.numel()
        p, t = torch.cat(probs).numpy(), torch.cat(labels).numpy()
        acc = float(((p > 0.5).astype(np.int64) == t).mean())
        auc = float(roc_auc_score(t, p)) if len(np.unique(t)) == 2 else None
        return {"acc": acc, "auc": auc, "mean_abs_bleach": abs_sum / max(n_px, 1)}
