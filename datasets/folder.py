"""``real/`` and ``fake/`` folders of images or videos: the ``folder`` ClipSource.

For Celeb-DF, DFDC or a user's own data. Two layouts under ``root``::

    real/...  fake/...                                  # split by file hash
    train/{real,fake}/...  val/...  test/...            # splits given by folders

Files are found recursively; images (``.png``, ``.jpg``...) are one-frame
clips, videos (``.mp4``, ``.avi``...) are decoded with PyAV. A fake in a
subfolder ``fake/<name>/...`` belongs to manipulation ``<name>``; a fake
directly in ``fake/`` to manipulation ``"fake"``. A video id is the file's
path under ``real/`` (or ``fake/<name>/``) without its extension.

Hash split (no split folders): each file's path relative to ``root`` is
hashed (SHA-1, so the split is stable across machines and does not depend on
listing order) to a number ``u`` in [0, 1): train if ``u < ratios[0]``, val if
``u < ratios[0] + ratios[1]``, else test. Default ratios 0.8/0.1/0.1. Note:
unlike FF++'s pair splits this does not keep an identity in one split.

Compressions: ``raw`` is the file as stored (it may already be compressed);
any other name applies that ``COMPRESSIONS`` simulator to the decoded clip.
Faces are found once per file, on the file as stored, and the same boxes crop every
compression of it (a file whose face is not found is left out of every compression).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.dataset import REAL, SPLITS, ClipSource, Video, check_split
from bench.core.registry import COMPRESSIONS, DATASETS, build
from bleachbench.datasets.face_detect import FaceBoxer, RawDetector
from bleachbench.datasets.video_io import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    count_frames,
    read_clip,
    read_video,
    sample_indices,
)

FAKE = "fake"


@dataclass(frozen=True)
class FolderClip:
    """``Video.load`` of one file (picklable): decoded as stored, then an optional simulator."""

    path: Path

    @property
    def is_image(self) -> bool:
        return self.path.suffix.lower() in IMAGE_EXTENSIONS

    def __call__(self, compression: str) -> np.ndarray:
        frames = read_clip(self.path)
        return frames if compression == "raw" else build(COMPRESSIONS, compression)(frames)

    def load_frames(
        self, compression: str, frames_per_video: int, skip_first: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The sampled frames; a raw video decodes no frame past the last one needed."""
        if compression != "raw" or self.is_image:
            frames = self(compression)
            idx = sample_indices(len(frames), frames_per_video, skip_first)
            return frames[idx], idx
        idx = sample_indices(count_frames(self.path), frames_per_video, skip_first)
        return read_video(self.path, idx), idx

    def base_key(self) -> str:
        """What the faces found by :meth:`base_frames` depend on (the face cache's box memo)."""
        return f"folder:{self.path}:{self.path.stat().st_size}"

    def base_frames(self, indices: np.ndarray) -> tuple[np.ndarray, str]:
        """Frames ``indices`` of the file as stored: faces are found there once and reused for
        every simulated compression of it."""
        if self.is_image:
            return read_clip(self.path), "raw"
        n = count_frames(self.path)
        idx = np.minimum(np.asarray(indices, dtype=np.int64), max(n - 1, 0))
        return read_video(self.path, idx), "raw"


@dataclass(frozen=True)
class _Entry:
    split: str
    manipulation: str
    video_id: str
    path: Path


@DATASETS.register_module(name="folder")
class FolderSource(ClipSource):
    """Images or videos in real/ and fake/ folders (Celeb-DF, DFDC, your own), split by hash or by folder."""

    name = "folder"

    def __init__(
        self,
        root: str | Path,
        ratios: Sequence[float] = (0.8, 0.1, 0.1),
        face_detector: str | dict[str, Any] | RawDetector = "haar",
        face_scale: float = 1.3,
    ) -> None:
        self.root = Path(root)
        if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(
                f"ratios must be three non-negative numbers summing to 1, got {ratios!r}"
            )
        self.ratios = tuple(float(r) for r in ratios)
        self.face_scale = float(face_scale)
        self.boxer = FaceBoxer(face_detector, scale=face_scale)
        self.split_folders = any((self.root / s).is_dir() for s in SPLITS)
        self.entries = self._scan()
        self.manipulations = tuple(
            sorted({e.manipulation for e in self.entries if e.manipulation != REAL})
        )
        self._fingerprint: str | None = None

    def _scan(self) -> list[_Entry]:
        tops = [self.root / s for s in SPLITS] if self.split_folders else [self.root]
        expected = [t / c for t in tops for c in (REAL, FAKE)]
        missing = [str(p) for p in expected if not p.is_dir()]
        if missing:
            raise FileNotFoundError(
                f"folder dataset under {self.root}: expected real/ and fake/ folders "
                f"(or train/val/test/{{real,fake}}); missing:\n  " + "\n  ".join(missing)
            )
        entries = []
        for top in tops:
            for cls in (REAL, FAKE):
                files = sorted(
                    p
                    for p in (top / cls).rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
                )
                if not files:
                    raise FileNotFoundError(f"no images or videos under {top / cls}")
                for p in files:
                    rel = p.relative_to(top / cls)
                    manipulation = (
                        REAL if cls == REAL else (rel.parts[0] if len(rel.parts) > 1 else FAKE)
                    )
                    under = rel if cls == REAL or len(rel.parts) == 1 else Path(*rel.parts[1:])
                    split = top.name if self.split_folders else self._hash_split(p)
                    entries.append(_Entry(split, manipulation, under.with_suffix("").as_posix(), p))
        return entries

    def _hash_split(self, path: Path) -> str:
        digest = hashlib.sha1(path.relative_to(self.root).as_posix().encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u < self.ratios[0]:
            return "train"
        return "val" if u < self.ratios[0] + self.ratios[1] else "test"

    def videos(self, split: str, manipulation: str) -> list[Video]:
        """Real clips of ``split`` plus the fakes of ``manipulation`` in it."""
        check_split(split)
        if manipulation not in self.manipulations:
            raise KeyError(
                f"unknown manipulation {manipulation!r}; {self.root} has {', '.join(self.manipulations)}"
            )
        return [
            Video(
                e.video_id,
                e.manipulation,
                0 if e.manipulation == REAL else 1,
                FolderClip(e.path),
                self.boxer,
            )
            for e in self.entries
            if e.split == split and e.manipulation in (REAL, manipulation)
        ]

    def resolved_config(self) -> dict[str, Any]:
        """Everything this source was built with, defaults included (for records and manifests)."""
        return {"type": self.name, "root": str(self.root), "ratios": list(self.ratios),
                "face_detector": self.boxer.spec, "face_scale": self.face_scale,
                "split_by": "folders" if self.split_folders else "hash"}

    def provenance(self, compression: str) -> dict[str, dict[str, Any]]:
        """``raw`` is each file as stored; any other compression is simulated from it."""
        entry: dict[str, Any] = {"faces_found_at": "raw", "stored": compression == "raw",
                                 "base": "raw"}
        if compression != "raw":
            entry.update(simulator=compression, note="simulated from the files as stored")
        return {k: dict(entry) for k in (REAL, *self.manipulations)}

    def fingerprint(self) -> str:
        """Hash of the files (relative paths, sizes, splits) and the face settings."""
        if self._fingerprint is None:
            h = hashlib.sha1(b"folder-v2")  # v2: faces found once, on the file as stored
            h.update(json.dumps([self.ratios, self.boxer.describe()]).encode())
            for e in self.entries:
                rel = e.path.relative_to(self.root).as_posix()
                h.update(f"{e.split}:{rel}:{e.path.stat().st_size}\n".encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint
