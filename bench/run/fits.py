"""Method fits: a method built from the profile and the run, fitted on the LQ train split (val
for model selection) with what its bundle asks for (bench/core/fit_data.py), once per fit key
(the detector checkpoint, the method's arguments, fit compression, manipulation and seed, and
a test-time method's test set), and reused by every run that shares the key."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core import config as C
from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.fit_data import build_fit_data, hand_over
from bench.core.fit_data import flags as fit_flags
from bench.core.registry import METHODS, build, resolve
from bench.core.spec import RunSpec, canonical_json
from bench.core.store import stored_path
from bench.run.detectors import Detectors
from bench.run.faces import Faces, balance_classes
from bench.run.summary import StageClock


@dataclass
class Fit:
    """A fitted method and what its record says about the fit."""
    method: Any
    facts: dict[str, Any]
    key: str  # the fit key (canonical JSON)
    work: Path  # the method's work folder
    cfg: dict[str, Any]  # the method's arguments
    compression: str  # the fit compression
    seconds: float


class Fits:
    """Builds and fits each method once per fit key (``fit``)."""

    def __init__(self, profile: dict[str, Any], results: Path, faces: Faces, detectors: Detectors,
                 device: torch.device, progress: bool, clock: StageClock) -> None:
        self.profile, self.results, self.faces, self.detectors = profile, results, faces, detectors
        self.device, self.progress, self.clock = device, progress, clock
        self._methods: dict[str, tuple[Any, dict[str, Any]]] = {}  # fitted, by fit key

    def method_cfg(self, spec: RunSpec) -> dict[str, Any]:
        """The method's arguments: profile ``method`` keys it takes, the run's parameters,
        and the run's method seed (the detector seed for fit seed 0; bench/core/config.py:
        :func:`~bench.core.config.method_kwargs`)."""
        return {"type": spec.method, **C.method_kwargs(self.profile, spec.method, spec.params,
                                                       spec.method_seed)}

    def manipulation(self, spec: RunSpec) -> str:
        return spec.manipulation if self.faces.method_per_manipulation else "all"

    def fit(self, spec: RunSpec, detector: Detector, checkpoint: str, test: FaceSet) -> Fit:
        """``spec``'s method fitted for ``detector`` (saved at ``checkpoint``), or the fit of an
        earlier run with the same fit key."""
        t = time.perf_counter()
        cfg = self.method_cfg(spec)
        factory = resolve(METHODS, spec.method)
        quiet = {"progress": self.progress} if "progress" in C.signature_names(factory) else {}
        method = build(METHODS, {**cfg, **quiet})
        # A test-time method adapts to one test set: fitted afresh for each.
        on_test = ({"test": [spec.manipulation, spec.test_compression]}
                   if fit_flags(method)["test_time"] else {})
        # the checkpoint as the results folder stores it (relative): a moved folder's fits match
        # fit faces other than the splits' own (faces.fit_*_frames_per_video) enter the key;
        # absent, the key is as before (earlier fits are found again)
        frames = {s: n for s in ("train", "val")
                  if (n := self.faces.fit_frames_per_video(s)) is not None}
        fit_key = canonical_json({"det": stored_path(self.results, checkpoint),
                                  "cfg": cfg, "fit": spec.method_fit_compression,
                                  "manip": self.manipulation(spec), "seed": spec.method_seed,
                                  **on_test, **({"frames": frames} if frames else {})})
        work = self.results / "work" / hashlib.sha256(fit_key.encode()).hexdigest()[:16]
        t = self.clock.add("faces", t)
        t_fit = time.perf_counter()
        if fit_key not in self._methods:
            train_lq, val_lq = self.fit_faces(spec, method, test)
            t = self.clock.add("faces", t)
            facts = self.fit_new(spec, method, detector, train_lq, val_lq, test, work)
            self._methods[fit_key] = (method, facts)
        method, facts = self._methods[fit_key]
        seconds = time.perf_counter() - t_fit
        self.clock.add(f"method fit ({spec.method})", t)
        return Fit(method, facts, fit_key, work, cfg, spec.method_fit_compression, seconds)

    def fit_faces(self, spec: RunSpec, method: Any, test: FaceSet) -> tuple[FaceSet, FaceSet]:
        """The LQ train and val faces ``method`` fits on (balanced where it sees all four
        manipulations; none for a method that reads no faces)."""
        fit_c, fit_manip = spec.method_fit_compression, self.manipulation(spec)
        size = self.faces.image_size(spec.detector)
        if getattr(method, "needs_fit_faces", True):
            train_lq, val_lq = (self.faces.load(spec.dataset, fit_manip, fit_c, split, size,
                                                self.faces.fit_frames_per_video(split))
                                for split in ("train", "val"))
        else:  # a method that reads no faces: no LQ train/val caches are built for it
            train_lq = val_lq = test.subset(np.zeros(0, dtype=np.int64))
        if fit_manip == "all":
            train_lq = balance_classes(train_lq, spec.method_seed)
            val_lq = balance_classes(val_lq, spec.method_seed)
        return train_lq, val_lq

    def fit_new(self, spec: RunSpec, method: Any, detector: Detector, train_lq: FaceSet,
                val_lq: FaceSet, test: FaceSet, work: Path) -> dict[str, Any]:
        """Fit ``method`` on ``train_lq``/``val_lq`` and what its bundle needs (HQ faces,
        the detector's training set, ...); the fit's facts."""
        fit_c, fit_manip = spec.method_fit_compression, self.manipulation(spec)
        size = self.faces.image_size(spec.detector)
        from bench.run.training import train_detector

        data, bundle_facts = build_fit_data(
            method, train_lq, val_lq, compression=fit_c, seed=spec.method_seed,
            test_lq=lambda: test,
            hq=lambda split: self.faces.load(spec.dataset, fit_manip, spec.train_compression,
                                             split, size),
            detector_training=lambda: self.detectors.training_set(spec, fit_c),
            trainer=train_detector)
        facts = {**hand_over(method, detector, data, work, self.device), **bundle_facts}
        facts["fit_on"] = {"manipulation": fit_manip, "compression": fit_c,
                           "n_train": len(data.train_lq), "n_val": len(data.val_lq)}
        return facts
