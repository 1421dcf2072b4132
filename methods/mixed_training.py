"""``mixed_training``: the detector trained from the start on HQ faces with compression augmentation.

Source: the common practical defence of training on a mixture of qualities
(e.g. FaceForensics++, Rössler et al., ICCV 2019, models trained on mixed
qualities; the "quality-agnostic" training of Le & Woo, "Quality-Agnostic
Deepfake Detection with Intra-model Collaborative Learning", ICCV 2023). A
copy of the detector architecture is re-initialised (every module's
``reset_parameters``; the harness's detectors are trained from random
initialisation too) and trained with the harness's detector training
(the run's detector trainer, handed over as ``data.train``: AdamW, one-cycle lr, flips; the epoch
with the best LQ val accuracy kept) on:

- every HQ train face (the detector's train compression, e.g. c23), and
- one compressed copy of every HQ train face, its compression drawn per face
  (seeded) from ``augment``: ``"lq"`` is the same face from the LQ cache (the
  paired LQ train face, e.g. c40: the face cache compresses whole videos, so
  H.264 levels cannot be applied to a single crop on the fly), any other name is
  a ``COMPRESSIONS`` entry applied to the crop as a one-frame clip
  (``jpeg_q<q>`` with ``q`` drawn from ``jpeg_quality``, ``web_upload``, ...).

The copies are drawn once, not per epoch (a fixed 2N-face training set).

``recipe`` says which HQ faces and which training (a choice; the default is the
fair comparison with the frozen detector):

- ``"detector"`` (default): the detector's own training faces, as its training
  saw them (the quick profile's 3,360 class-balanced faces), and the detector's
  own training options (``train.*`` and ``train.per_detector.<name>.*``: epochs,
  batch size, lr, weight decay, the blur augmentation ``blur_p``, ...). So the
  retrained copy differs from the detector only by the compressed copies. The
  method's ``epochs``/``batch_size``/``lr``/``weight_decay`` are not used with
  this recipe: a profile's shared ``method.epochs``/``method.batch_size`` are
  meant for the remedies that fit on the bundle, and would change the recipe.
- ``"bundle"``: the method's fit bundle (the LQ train faces the other remedies
  fit on, e.g. 840 balanced faces, and their HQ partners) with the method's own
  options (None: 5 epochs, batch 32, lr 2e-3, weight decay 1e-2) and no blur
  augmentation. This is what ``mixed_training`` did before ``recipe`` existed; on
  the quick profile it is below the frozen detector, partly because it sees a
  quarter of the detector's faces.

Config keys: ``augment`` (default ``("lq", "jpeg", "web_upload")``; ``"jpeg"``
means ``jpeg_q<q>``), ``jpeg_quality`` (inclusive range, default (30, 90)),
``recipe``, ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.detector import Detector, freeze
from bench.core.faceset import FaceSet
from bench.core.fit_data import FitData
from bench.core.method import reject_unknown_options
from bench.core.registry import COMPRESSIONS, METHODS, build
from bleachbench.methods.detector_parts import AdaptedDetectorMethod


def augmented_copies(hq: FaceSet, lq: FaceSet, augment: tuple[str, ...],
                     jpeg_quality: tuple[int, int], seed: int) -> tuple[FaceSet, dict[str, int]]:
    """One compressed copy of every HQ face (compression drawn per face); returns it and the draw counts."""
    rng = np.random.default_rng(seed)
    images = np.empty_like(np.asarray(hq.images))
    counts: dict[str, int] = {}
    compressors: dict[str, Any] = {}
    for i in range(len(hq)):
        name = augment[rng.integers(len(augment))]
        if name == "lq":
            images[i] = lq.images[i]
        else:
            if name == "jpeg":
                name = f"jpeg_q{int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))}"
            if name not in compressors:
                compressors[name] = build(COMPRESSIONS, name)
            images[i] = compressors[name](np.asarray(hq.images[i : i + 1]))[0]
        key = name.split("_q")[0] if name.startswith("jpeg_q") else name
        counts[key] = counts.get(key, 0) + 1
    return FaceSet(images, hq.labels, hq.manipulations, hq.video_ids, hq.frame_index), counts


def concat(a: FaceSet, b: FaceSet) -> FaceSet:
    """Two FaceSets, one after the other."""
    fi = None if a.frame_index is None or b.frame_index is None else \
        np.concatenate([a.frame_index, b.frame_index])
    return FaceSet(np.concatenate([np.asarray(a.images), np.asarray(b.images)]),
                   np.concatenate([a.labels, b.labels]),
                   np.concatenate([a.manipulations, b.manipulations]),
                   np.concatenate([a.video_ids, b.video_ids]), fi)


@METHODS.register_module(name="mixed_training")
class MixedTraining(AdaptedDetectorMethod):
    """The detector retrained from scratch on HQ faces plus compressed copies (LQ, JPEG, web upload)."""

    name = "mixed_training"
    retrains_detector: ClassVar[bool] = True
    needs_paired_hq_lq: ClassVar[bool] = True
    fit_cost: ClassVar[float] = 20.0  # a second training: Xception 17 min, a bleach fit 51 s
    config_keys: ClassVar[tuple[str, ...]] = (
        "augment", "jpeg_quality", "recipe", "epochs", "batch_size", "lr", "weight_decay", "seed")
    RECIPES: ClassVar[tuple[str, ...]] = ("detector", "bundle")
    BUNDLE_DEFAULTS: ClassVar[dict[str, Any]] = {"epochs": 5, "batch_size": 32, "lr": 2e-3,
                                                 "weight_decay": 1e-2}

    def __init__(self, augment: tuple[str, ...] | list[str] = ("lq", "jpeg", "web_upload"),
                 jpeg_quality: tuple[int, int] | list[int] = (30, 90), recipe: str = "detector",
                 epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, weight_decay: float | None = None,
                 seed: int = 0, progress: bool = True, **unknown: Any) -> None:
        reject_unknown_options(self.name, unknown, self.config_keys + ("progress",))
        if recipe not in self.RECIPES:
            raise ValueError(f"mixed_training: recipe must be one of {', '.join(self.RECIPES)}, "
                             f"got {recipe!r}")
        self.recipe = recipe
        self.needs_detector_training = recipe == "detector"  # read by the engine's bundle
        augment = (augment,) if isinstance(augment, str) else tuple(augment)
        if not augment:
            raise ValueError("mixed_training: augment must name at least one compression")
        for name in augment:
            if name not in ("lq", "jpeg"):
                build(COMPRESSIONS, name)  # an unknown name fails here, with the known ones
        lo, hi = (int(q) for q in jpeg_quality)
        if not 1 <= lo <= hi <= 100:
            raise ValueError(f"mixed_training: jpeg_quality must be 1 <= lo <= hi <= 100, got {jpeg_quality!r}")
        super().__init__()
        self.augment, self.jpeg_quality = augment, (lo, hi)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.seed, self.progress = seed, progress

    def training_set(self, data: FitData) -> tuple[FaceSet, FaceSet, dict[str, Any]]:
        """The HQ faces, their LQ partners and the training options of ``recipe``."""
        if self.recipe == "detector":
            if data.detector_train_hq is None or data.detector_train_lq is None:
                raise ValueError("mixed_training: recipe='detector' but the bundle holds no "
                                 "detector training set (the engine gives it to methods that "
                                 "declare needs_detector_training)")
            opts = {k: v for k, v in (data.detector_train_options or {}).items()
                    if k not in ("progress", "seed", "device", "work_dir")}
            return data.detector_train_hq, data.detector_train_lq, {**self.BUNDLE_DEFAULTS, **opts}
        given = {k: v for k, v in (("epochs", self.epochs), ("batch_size", self.batch_size),
                                   ("lr", self.lr), ("weight_decay", self.weight_decay))
                 if v is not None}
        if data.train_hq is None:
            raise ValueError("mixed_training: the bundle holds no HQ train faces")
        return data.train_hq, data.train_lq, {**self.BUNDLE_DEFAULTS, **given}

    def fit(self, detector: Detector, data: FitData, work_dir: Path,
            device: torch.device) -> dict[str, Any]:
        """Re-initialise the copy and train it on HQ train + compressed copies; keep the best LQ-val epoch."""
        hq, lq, opts = self.training_set(data)
        model = self._take(detector, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            for m in model.modules():
                if m is not model and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        for p in model.parameters():
            p.requires_grad_(True)
        copies, counts = augmented_copies(hq, lq, self.augment, self.jpeg_quality, self.seed)
        info = data.train(model, concat(hq, copies), data.val_lq, Path(work_dir) / "mixed",
                              device=str(self._device), seed=self.seed, progress=self.progress,
                              **opts)
        freeze(model.to(self._device))
        return {"best_val_acc": info.get("best_val_acc"), "augment_counts": counts,
                "n_train": 2 * len(hq), "recipe": self.recipe,
                "train_options": {k: v for k, v in opts.items() if isinstance(v, int | float | str | bool)},
                "checkpoint": info.get("checkpoint")}
