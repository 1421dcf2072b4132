"""Face access for a run: the dataset sources (built once), their data fingerprints, and the
face crops per (dataset, manipulation, compression, split, size) from the face cache, with the
videos it skipped; and the class balancing a run applies where one model sees all four
manipulations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.core import config as C
from bench.core.dataset import ClipSource
from bench.core.detector import face_size
from bench.core.faceset import FaceSet
from bench.core.registry import DATASETS, DETECTORS, build, resolve
from bench.core.spec import RunSpec


def balance_classes(faces: FaceSet, seed: int = 0, oversample: bool = False) -> FaceSet:
    """Make real and fake faces equally many, by undersampling the larger class or
    (``oversample``) by repeating randomly chosen faces of the smaller one.

    Used where one model learns all four manipulations at once (the quick profile), where
    a set holds four fakes per real clip. Detector training oversamples the real faces
    (every fake is seen; more optimiser steps, which training from scratch needs);
    validation and the method's fit undersample the fakes (cheaper, still balanced).
    """
    rng = np.random.default_rng(seed)
    idx = [np.flatnonzero(faces.labels == c) for c in (0, 1)]
    if min(len(i) for i in idx) == 0:
        return faces
    if oversample:
        n = max(len(i) for i in idx)
        keep = [np.concatenate([i, rng.choice(i, n - len(i), replace=True)]) for i in idx]
    else:
        n = min(len(i) for i in idx)
        keep = [i if len(i) == n else rng.choice(i, n, replace=False) for i in idx]
    return faces.subset(np.sort(np.concatenate(keep)))


class Faces:
    """The sources and face crops of one profile, cached in memory and under ``results/cache``."""

    def __init__(self, profile: dict[str, Any], results: Path, progress: bool = True) -> None:
        self.profile, self.results, self.progress = profile, results, progress
        self._sources: dict[str, ClipSource] = {}
        self._fingerprints: dict[str, str] = {}
        self._faces: dict[tuple, FaceSet] = {}
        self._skipped: dict[tuple, dict[str, int]] = {}

    # -- sources --------------------------------------------------------------------------------
    def dataset_kwargs(self, name: str) -> dict[str, Any]:
        """What source ``name`` is built with: the profile's ``dataset`` section if it names
        ``name`` (else none), and a cache folder under the results if the source takes one."""
        cfg = dict(self.profile["dataset"])
        if cfg.get("type") != name:
            cfg = {"type": name}
        factory = resolve(DATASETS, name)
        extra = C.accepted(factory, {"cache_dir": str(self.results / "cache" / name)})
        return {**extra, **cfg}

    def source(self, name: str) -> ClipSource:
        if name not in self._sources:
            self._sources[name] = build(DATASETS, self.dataset_kwargs(name))
        return self._sources[name]

    def fingerprint(self, name: str) -> str:
        """The data fingerprint of dataset ``name``, computed once (some sources hash their index)."""
        if name not in self._fingerprints:
            self._fingerprints[name] = self.source(name).fingerprint()
        return self._fingerprints[name]

    # -- faces ----------------------------------------------------------------------------------
    def load(self, dataset: str, manipulation: str, compression: str, split: str,
             size: int, frames: int | None = None) -> FaceSet:
        """The faces of one cache; with one detector for all manipulations, a manipulation's
        faces are sliced from the cache of all of them (real videos decoded and compressed once).
        ``frames``: faces per clip (default: the split's, :meth:`frames_per_video`)."""
        from bleachbench.datasets.face_cache import load_faces

        fpv = int(frames) if frames is not None else self.frames_per_video(split)
        key = (dataset, manipulation, compression, split, size, fpv)
        if key not in self._faces and manipulation != "all" and not self.per_manipulation:
            whole = self.load(dataset, "all", compression, split, size, fpv)
            self._faces[key] = whole.select_manipulation(manipulation)
            self._skipped[key] = self._skipped[(dataset, "all", *key[2:])]
        if key not in self._faces:
            self._faces[key] = load_faces(
                self.source(dataset), manipulation, compression, split, size, fpv,
                cache_root=self.results / "cache" / "faces", progress=self.progress,
                skip_first=self.skip_first)
            self._skipped[key] = dict(getattr(self._faces[key], "skipped", {}))
        return self._faces[key]

    def skipped(self, spec: RunSpec, compression: str, split: str, size: int) -> dict[str, int]:
        """Videos the face cache skipped (corrupt, no face, ...) for the faces a run used."""
        fpv = self.frames_per_video(split)
        key = (spec.dataset, spec.manipulation, compression, split, size, fpv)
        return self._skipped.get(key, self._skipped.get((spec.dataset, "all", *key[2:]), {}))

    # -- the profile's face settings ------------------------------------------------------------
    @property
    def skip_first(self) -> bool:
        return bool(self.profile["faces"].get("skip_first", False))

    @property
    def per_manipulation(self) -> bool:
        """The paper trains one detector per manipulation; the quick profile one for all four."""
        return C.detector_per_manipulation(self.profile)

    @property
    def method_per_manipulation(self) -> bool:
        """Fit a method per manipulation (the paper) or once on all of them (quick profile)."""
        return C.method_per_manipulation(self.profile)

    def frames_per_video(self, split: str) -> int:
        """Faces per video: ``faces.<split>_frames_per_video`` if the profile sets it, else
        ``faces.frames_per_video`` (the quick profile takes one face from each of many test videos)."""
        faces = self.profile["faces"]
        return int(faces.get(f"{split}_frames_per_video", faces["frames_per_video"]))

    def fit_frames_per_video(self, split: str) -> int | None:
        """Faces per clip of a remedy's LQ ``split`` ("train" or "val") where the profile sets
        ``faces.fit_<split>_frames_per_video`` (more fit or selection faces with the detector
        unchanged), else None: the split's own (:meth:`frames_per_video`)."""
        value = self.profile["faces"].get(f"fit_{split}_frames_per_video")
        return None if value is None or int(value) == self.frames_per_video(split) else int(value)

    def train_faces_per_video(self, detector: str) -> int | None:
        """``train.faces_per_video`` for ``detector`` (``per_detector`` first): the detector
        trains on at most this many of each training video's cached faces (None: all)."""
        k = C.train_options(self.profile, detector).get("faces_per_video")
        return None if k is None else int(k)

    def image_size(self, detector: str) -> int:
        return face_size(resolve(DETECTORS, detector), self.profile["faces"].get("size"))
