"""Pixel Bleach's fit: the loop over epochs on the balanced offset set, selection on LQ val,
checkpoints and resume (a mixin of :class:`methods.pixel_bleach.PixelBleach`).

``fit`` writes ``generator.pt``, ``done.json`` and ``arrays.npz`` to ``work_dir``
and returns the stored result when they exist for the same parameters.
``arrays.npz`` holds, for every LQ train face, ``train_label`` int8,
``train_wrong`` bool (the frozen detector's FP/FN), ``train_margin`` float32
(logit fake - real, bias included) and ``train_direction`` int8 (the I used),
and ``offset_index`` int64 (the balanced offset set, indices into LQ train);
``python -m bench diagnose`` reads it. :meth:`PixelBleach.artifacts` returns the
arrays of the shared convention (a seeded subsample of at most 512 test faces of
both classes: features and margins before and after the bleach, eight faces
original / bleach / bleached, and the fit's curves). ``last.pt`` (saved every
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
--executor local|slurm`` spreads over GPUs with no communication (``bench/run/executor.py``).
``make gpu-check`` measures one fit epoch's img/s (``bleach_fit``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.core.detector import Detector, frozen
from bench.core.errors import check_finite
from bench.core.faceset import FaceSet
from bench.core.files import atomic_path
from bench.core.fit_data import FitData
from bench.core.method import Method
from bleachbench.methods.bleach_passes import _batches

CHECKPOINT, DONE, LAST, ARRAYS = "generator.pt", "done.json", "last.pt", "arrays.npz"


def select_score(val: dict[str, Any], metric: str) -> float:
    """The val score ``metric`` names; acc where AUC is undefined (one class)."""
    if val["auc"] is None or metric == "acc":
        return float(val["acc"])
    if metric == "auc":
        return float(val["auc"])
    return (float(val["acc"]) + float(val["auc"])) / 2


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



def _save_atomic(obj: Any, path: Path) -> None:
    """JSON (``.json``) or torch.save, atomically (bench.core.files.atomic_path)."""
    with atomic_path(path) as tmp:
        if path.suffix == ".json":
            tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
        else:
            torch.save(obj, tmp)


def _save_atomic_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


class BleachFit(Method):
    """fit, load, the training loop and its selection (``select_untrained``)."""

    def _restore(self, work_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
        """The stored result (generator and derived state loaded) if ``work_dir`` holds this fit."""
        assert self.generator is not None
        done = work_dir / DONE
        if not (done.exists() and (work_dir / CHECKPOINT).exists()):
            return None
        record = json.loads(done.read_text())
        if record.get("identity") != identity:
            return None
        state = torch.load(work_dir / CHECKPOINT, map_location=self._device)
        self.generator.load_state_dict(state)
        self.generator.eval()
        derived = record.get("derived", {})
        self._feature_rms = float(derived.get("feature_rms", 1.0))
        self._history = record["result"].get("history", [])
        return record["result"]

    @classmethod
    def load(
        cls, cfg: dict[str, Any], detector: Detector, work_dir: Path, size: int, device: torch.device
    ) -> Any:
        """A fitted bleach from its work dir (inference only); ``cfg`` is the record's method_cfg."""
        method = cls(**{k: v for k, v in cfg.items() if k != "type"}, progress=False)
        identity = method._setup(detector, size, device)
        if method._restore(Path(work_dir), identity) is None:
            raise FileNotFoundError(
                f"pixel_bleach: no finished fit for these parameters in {work_dir} "
                f"(expected {CHECKPOINT} and a matching {DONE})"
            )
        detector.eval()
        return method

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
        identity = self._setup(detector, train_lq.size, device)
        with frozen(detector):
            restored = self._restore(work_dir, identity)
            if restored is not None:
                return restored
            try:
                result = self._train(train_lq, val_lq, work_dir, identity)
            finally:
                self._frozen.clear()
        result["seconds"] = time.perf_counter() - start
        assert self.generator is not None
        _save_atomic(self.generator.state_dict(), work_dir / CHECKPOINT)
        _save_atomic(
            {"identity": identity, "result": result, "derived": {"feature_rms": self._feature_rms}},
            work_dir / DONE,
        )
        (work_dir / LAST).unlink(missing_ok=True)
        return result

    def _train(
        self, train_lq: FaceSet, val_lq: FaceSet, work_dir: Path, identity: dict[str, Any]
    ) -> dict[str, Any]:
        assert self.generator is not None
        labels = np.asarray(train_lq.labels)
        scan = self._scan(train_lq)
        wrong = scan["train_wrong"]
        index = balanced_offset_indices(
            wrong, self.balance_ratio, self.seed, min_correct=0 if wrong.any() else self.batch_size
        )
        _save_atomic_npz({**scan, "offset_index": index}, work_dir / ARRAYS)
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
        if self.select_untrained and first == 0:  # the untrained generator is a candidate
            self._recalibrate_bn(train_lq, index)
            val = self._evaluate(val_lq)
            history.append({"epoch": -1, **val,
                            **{f"loss_{k}": math.nan for k in ("total", "rem", "reg", "ce")}})
            best_metric, best_epoch = select_score(val, self.select_metric), -1
            best_state = {k: v.detach().cpu().clone() for k, v in self.generator.state_dict().items()}
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
                idx = np.sort(idx)
                x, y = train_lq.tensors(idx)
                parts = self._losses(x.to(self._device), y.to(self._device),
                                     self._frozen_rows(train_lq, idx))
                check_finite(parts["total"], f"pixel_bleach fit, epoch {epoch + 1}",
                             "try a lower lr or s")
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
            metric = select_score(val, self.select_metric)
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
        self._history = history
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
            "variant": self.variant,
            "select_metric": self.select_metric,
            "feature_rms": self._feature_rms,
            "feature_space_source": (
                "phi" if self._literal_pass
                else "pre_activation" if self._detector is not None and self._detector.pre_activation_modules
                else "phi (the detector names no activation after phi)"
            ),
            "history": history,
        }
