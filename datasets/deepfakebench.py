"""Import a DeepfakeBench-preprocessed dataset (e.g. FF++): the ``deepfakebench`` ClipSource.

DeepfakeBench's preprocessing writes cropped, aligned face images and a
dataset JSON (``FaceForensics++.json``) of the form::

    {dataset: {label_name: {split: {compression: {video_name: {"label": ..., "frames": [paths]}}}}}}

with label names such as ``FF-real``, ``FF-DF``, ``FF-F2F``, ``FF-FS``,
``FF-NT`` (mapped to ``real`` and FF++'s manipulation names by
:data:`DFB_LABELS`; another name containing "real" is real, any other is a
manipulation of that name). Users who already ran it can benchmark at once:
the face box is the whole image (``face_detector="whole"``).

Frame paths are resolved against ``root``: an absolute path as is, else
``root / path``, else with leading folders stripped (``datasets/rgb/FaceForensics++/...``
becomes ``FaceForensics++/...``), whichever first finds the first frame; the
same rule is applied to every frame. Compressions: a key of the JSON
(``c23``, ``c40``, ``raw``) is read as stored; any other is the
``COMPRESSIONS`` simulator applied to the stacked crops of the first stored
base in ``base_compressions`` (an approximation: the crops, not the whole
frames, are compressed). Faces (``whole`` by default) are found once per video on
its best stored quality and reused for every compression.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.dataset import REAL, ClipSource, Video, check_split
from bench.core.registry import COMPRESSIONS, DATASETS, build
from bleachbench.datasets.face_detect import FaceBoxer, RawDetector
from bleachbench.datasets.video_io import VideoReadError, read_image, sample_indices

DFB_LABELS = {
    "FF-real": REAL,
    "FF-DF": "Deepfakes",
    "FF-F2F": "Face2Face",
    "FF-FS": "FaceSwap",
    "FF-NT": "NeuralTextures",
    "FF-FH": "FaceShifter",
}


@dataclass(frozen=True)
class DFBClip:
    """``Video.load`` of one DeepfakeBench video (picklable): its frame images per compression."""

    frames: dict[str, tuple[Path, ...]]
    base_compressions: tuple[str, ...]

    def resolve(self, compression: str) -> tuple[str, str | None]:
        if compression in self.frames:
            return compression, None
        for base in self.base_compressions:
            if base in self.frames:
                return base, compression
        raise LookupError(
            f"no stored frames to make {compression!r} from; stored: {', '.join(self.frames)}"
        )

    def _read(self, paths: Sequence[Path]) -> np.ndarray:
        images = [read_image(p)[0] for p in paths]
        if len({im.shape for im in images}) > 1:
            raise VideoReadError(f"frames of different sizes in {paths[0].parent}")
        return np.stack(images)

    def __call__(self, compression: str) -> np.ndarray:
        stored, simulator = self.resolve(compression)
        frames = self._read(self.frames[stored])
        return frames if simulator is None else build(COMPRESSIONS, simulator)(frames)

    def load_frames(
        self, compression: str, frames_per_video: int, skip_first: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The sampled frames; a stored compression reads only their images."""
        stored, simulator = self.resolve(compression)
        if simulator is not None:
            frames = self(compression)
            idx = sample_indices(len(frames), frames_per_video, skip_first)
            return frames[idx], idx
        paths = self.frames[stored]
        idx = sample_indices(len(paths), frames_per_video, skip_first)
        return self._read([paths[i] for i in idx]), idx

    @property
    def best_stored(self) -> str:
        """The best stored quality (``raw``, else ``c23``, else ``c40``, else the first key)."""
        return next((c for c in ("raw", "c23", "c40") if c in self.frames), next(iter(self.frames)))

    def base_key(self) -> str:
        """What the faces found by :meth:`base_frames` depend on (the face cache's box memo)."""
        paths = self.frames[self.best_stored]
        return f"dfb:{self.best_stored}:{paths[0]}:{len(paths)}"

    def base_frames(self, indices: np.ndarray) -> tuple[np.ndarray, str]:
        """Frames ``indices`` at the best stored quality: faces are found there once and the
        same boxes crop every compression of the video."""
        paths = self.frames[self.best_stored]
        return self._read([paths[min(int(i), len(paths) - 1)] for i in indices]), self.best_stored


@DATASETS.register_module(name="deepfakebench")
class DeepfakeBenchSource(ClipSource):
    """Faces already cropped by DeepfakeBench's preprocessing, read from its dataset JSON."""

    name = "deepfakebench"

    def __init__(
        self,
        root: str | Path,
        json_path: str | Path | None = None,
        dataset: str = "FaceForensics++",
        label_map: dict[str, str] | None = None,
        base_compressions: Sequence[str] = ("raw", "c23"),
        face_detector: str | dict[str, Any] | RawDetector = "whole",
    ) -> None:
        self.root = Path(root)
        self.json_path = Path(json_path) if json_path is not None else self.root / f"{dataset}.json"
        if not self.json_path.is_file():
            raise FileNotFoundError(
                f"DeepfakeBench dataset JSON not found: {self.json_path} (pass json_path=)"
            )
        raw = json.loads(self.json_path.read_text())
        if dataset not in raw:
            raise KeyError(f"{self.json_path} has no dataset {dataset!r}; it has {', '.join(raw)}")
        self.dataset, self.base_compressions = dataset, tuple(base_compressions)
        self.boxer = FaceBoxer(face_detector, scale=1.0)
        labels = {**DFB_LABELS, **(label_map or {})}
        # (split, manipulation, video) -> {compression: [frame paths as written]}
        table: dict[tuple[str, str, str], dict[str, list[str]]] = {}
        for label_name, splits in raw[dataset].items():
            manipulation = labels.get(
                label_name, REAL if "real" in label_name.lower() else label_name
            )
            for split, comps in splits.items():
                for comp, vids in comps.items():
                    if not isinstance(vids, dict):
                        raise ValueError(
                            f"{self.json_path}: {dataset}/{label_name}/{split}/{comp} must map video names to entries"
                        )
                    for name, entry in vids.items():
                        if not isinstance(entry, dict) or not isinstance(entry.get("frames"), list):
                            raise ValueError(
                                f"{self.json_path}: {label_name}/{split}/{comp}/{name} has no 'frames' list"
                            )
                        table.setdefault((split, manipulation, name), {})[comp] = entry["frames"]
        if not table:
            raise ValueError(f"{self.json_path}: no videos under {dataset!r}")
        self.table = table
        self.manipulations = tuple(sorted({m for _, m, _ in table if m != REAL}))
        self._strip = self._find_strip()

    def _find_strip(self) -> int | None:
        first = next(p for comps in self.table.values() for paths in comps.values() for p in paths)
        parts = Path(first).parts
        if Path(first).is_absolute() and Path(first).is_file():
            return None
        tried = []
        for k in range(len(parts)):
            candidate = self.root.joinpath(*parts[k:])
            tried.append(str(candidate))
            if candidate.is_file():
                return k
        raise FileNotFoundError(
            f"cannot find DeepfakeBench frame {first!r} under root {self.root}; tried:\n  "
            + "\n  ".join(tried)
        )

    def _path(self, p: str) -> Path:
        return Path(p) if self._strip is None else self.root.joinpath(*Path(p).parts[self._strip :])

    def videos(self, split: str, manipulation: str) -> list[Video]:
        """Real videos of ``split`` then the fakes of ``manipulation``, each sorted by name."""
        check_split(split)
        if manipulation not in self.manipulations:
            raise KeyError(
                f"unknown manipulation {manipulation!r}; {self.json_path.name} has {', '.join(self.manipulations)}"
            )
        out = []
        for wanted in (REAL, manipulation):
            for (s, m, name), comps in sorted(self.table.items()):
                if s == split and m == wanted:
                    clip = DFBClip(
                        {c: tuple(self._path(p) for p in ps) for c, ps in comps.items()},
                        self.base_compressions,
                    )
                    out.append(Video(name, m, 0 if m == REAL else 1, clip, self.boxer))
        return out

    def resolved_config(self) -> dict[str, Any]:
        """Everything this source was built with, defaults included (for records and manifests)."""
        return {"type": self.name, "root": str(self.root), "json_path": str(self.json_path),
                "dataset": self.dataset, "base_compressions": list(self.base_compressions),
                "face_detector": self.boxer.spec, "face_scale": self.boxer.scale}

    def fingerprint(self) -> str:
        """Hash of the dataset JSON, the path rule and the settings."""
        h = hashlib.sha1(self.json_path.read_bytes())
        h.update(
            json.dumps(
                [self.dataset, self._strip, self.base_compressions, self.boxer.describe(),
                 "faces-once-v2"]
            ).encode()
        )
        return h.hexdigest()[:16]
