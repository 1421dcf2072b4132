"""The frozen detector of a run: trained on the train compression (or loaded from its finished
checkpoint), cached in memory and on disk by a hash of what its weights depend on, and frozen
for the methods; and its training set, for a method that retrains it with the same recipe."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.core import config as C
from bench.core.detector import Detector, freeze
from bench.core.faceset import FaceSet
from bench.core.locks import detector_lock
from bench.core.registry import DETECTORS, build
from bench.core.spec import RunSpec
from bench.core.store import atomic_write_text
from bench.run.faces import Faces, balance_classes
from bench.run.run_config import detector_key
from bench.run.summary import RunSummary, StageClock


class Detectors:
    """Trains or loads each frozen detector once per engine (``get``)."""

    def __init__(self, profile: dict[str, Any], results: Path, faces: Faces,
                 config: Callable[[RunSpec], dict[str, Any]], device: torch.device,
                 progress: bool, clock: StageClock, summary: RunSummary) -> None:
        self.profile, self.results, self.faces, self.config = profile, results, faces, config
        self.device, self.progress, self.clock, self.summary = device, progress, clock, summary
        self._detectors: dict[str, tuple[Detector, dict[str, Any]]] = {}

    def manipulation(self, spec: RunSpec) -> str:
        return spec.manipulation if self.faces.per_manipulation else "all"

    def get(self, spec: RunSpec) -> tuple[Detector, dict[str, Any]]:
        """The frozen detector for ``spec``, trained on the train compression (cached).

        The checkpoint folder is keyed by a hash of exactly what the trained weights depend
        on (:func:`bench.run.run_config.detector_key`: data fingerprint, faces, train
        compression and its parameters, detector arguments, every training option, seed):
        changing any of them trains a new detector, repeating them reuses it.
        ``train.epochs=0`` trains nothing and evaluates the detector as built (e.g.
        ``detector.weights=PATH``).
        """
        cfg = self.config(spec)
        size = self.faces.image_size(spec.detector)
        key = detector_key(cfg, fingerprint=self.faces.fingerprint(spec.dataset),
                           manipulation=self.manipulation(spec),
                           compression=spec.train_compression,
                           frames={s: self.faces.frames_per_video(s) for s in ("train", "val")},
                           size=size)
        digest = C.digest(key)
        if digest in self._detectors:
            return self._detectors[digest]
        t = time.perf_counter()
        if int(cfg["train"]["epochs"]) == 0:  # evaluate the detector as built, untrained here
            torch.manual_seed(spec.seed)
            model = self.build(spec)
            det_kwargs = {k: v for k, v in cfg["detector"].items() if k != "type"}
            info = {"checkpoint": f"untrained:{digest}", "best_val_acc": None, "epochs": 0,
                    "seconds": 0.0, "key": key, "weights": det_kwargs.get("weights")}
        else:
            train, val = self.training_faces(spec, size)
            t = self.clock.add("faces", t)
            model, info = self.trained(spec, key, digest, size, train, val)
        freeze(model.to(self.device))
        self.clock.add("detector training", t)
        self._detectors[digest] = (model, info)
        return model, info

    def build(self, spec: RunSpec) -> Detector:
        return build(DETECTORS, {"type": spec.detector,
                                 **C.detector_kwargs(self.profile, spec.detector)})

    def training_faces(self, spec: RunSpec, size: int) -> tuple[FaceSet, FaceSet]:
        """The detector's train and val faces (``train.faces_per_video`` of each training
        video; balanced where one detector learns all four manipulations)."""
        manip = self.manipulation(spec)
        train = self.faces.load(spec.dataset, manip, spec.train_compression, "train", size)
        train = train.per_video(self.faces.train_faces_per_video(spec.detector))
        val = self.faces.load(spec.dataset, manip, spec.train_compression, "val", size)
        if manip == "all":  # four fakes per real clip: balance so accuracy means the same
            train = balance_classes(train, spec.seed, oversample=True)
            val = balance_classes(val, spec.seed)
        return train, val

    def trained(self, spec: RunSpec, key: dict[str, Any], digest: str, size: int,
                train: FaceSet, val: FaceSet) -> tuple[Detector, dict[str, Any]]:
        """Train ``spec``'s detector into its checkpoint folder (resuming or reusing what is
        there) and load its best weights."""
        from bench.run.training import build_runner, load_detector_checkpoint, train_detector

        manip = self.manipulation(spec)
        work = (self.results / "checkpoints" / f"{spec.dataset}-{key['fingerprint']}" /
                f"{spec.detector}_{spec.train_compression}_{manip}_seed{spec.seed}_{size}px-{digest}")
        with detector_lock(work):  # concurrent jobs (--executor) never train one detector twice
            done = (work / "done.json").exists()
            if not done:
                # Said even under --quiet: a training takes minutes, and a changed key (a new
                # training option, another seed) retrains where a user may expect a reuse.
                print(f"training {spec.detector} (seed {spec.seed}): no finished checkpoint "
                      f"with this configuration; into {work}", flush=True)
                atomic_write_text(work / "config.json", json.dumps(
                    key, indent=2, sort_keys=True, default=str) + "\n")
            torch.manual_seed(spec.seed)
            model = self.build(spec)
            opts = C.accepted(build_runner, C.train_options(self.profile, spec.detector))
            info = train_detector(model, train, val, work, device=str(self.device),
                                  seed=spec.seed, progress=self.progress, **opts)
        self.summary.cached["detectors"] += int(done)
        model = load_detector_checkpoint(self.build(spec), info["checkpoint"], trusted=True)
        return model, info

    def training_set(self, spec: RunSpec, lq_compression: str
                     ) -> tuple[FaceSet, FaceSet, dict[str, Any]]:
        """What ``spec``'s detector was trained on, for a method that retrains it with the same
        recipe (``needs_detector_training``): its HQ training faces as its training saw them
        (same balancing, same seed), the same faces' cache at ``lq_compression`` (paired by the
        method's bundle), and its training options."""
        from bench.run.training import build_runner

        manip = self.manipulation(spec)
        size = self.faces.image_size(spec.detector)
        hq = self.faces.load(spec.dataset, manip, spec.train_compression, "train", size)
        hq = hq.per_video(self.faces.train_faces_per_video(spec.detector))
        lq = self.faces.load(spec.dataset, manip, lq_compression, "train", size)
        if manip == "all":
            hq = balance_classes(hq, spec.seed, oversample=True)
        opts = C.accepted(build_runner, C.train_options(self.profile, spec.detector))
        return hq, lq, opts
