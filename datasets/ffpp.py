"""FaceForensics++ as users download it: the ``ffpp`` ClipSource.

Layout under ``root`` (what ``faceforensics_download_v4.py`` writes)::

    original_sequences/youtube/{raw,c23,c40}/videos/000.mp4
    manipulated_sequences/{Deepfakes,Face2Face,FaceSwap,NeuralTextures}/{raw,c23,c40}/videos/000_003.mp4
    splits/{train,val,test}.json          # the official splits (kwarg ``splits_dir``)

A split file is a JSON list of id pairs ``[["071", "054"], ...]``. Each pair
``(a, b)`` gives two real videos ``a`` and ``b`` and, per manipulation, two
fakes ``a_b`` (a's scene, b's face) and ``b_a``: 720/140/140 videos in
train/val/test. The split files are not shipped; :func:`load_ffpp_splits`
reads the official ones.

Compressions: ``Video.load(c)`` reads ``<c>/videos`` when ``c`` is one of
``raw``, ``c23``, ``c40`` and that folder exists; otherwise it decodes the
first existing base in ``base_compressions`` (default ``raw``, then
``c23``) and applies the ``COMPRESSIONS`` simulator ``c``, so any simulator
(``jpeg_q50``, ``web_upload``...) applies to real data. From ``c23`` the
result is compressed twice (c23, then the simulator): that is the documented
fallback when raw is not downloaded. ``raw`` itself is never simulated.

Faces: :class:`~datasets.face_detect.FaceBoxer` (``face_detector="haar"``,
FF++'s 1.3x box, largest face, tracked over misses), run **once per video on its
best stored quality** (``raw``, else ``c23``, else ``c40``: :meth:`FFPPClip.base_frames`)
and reused for every compression of that video, stored or simulated, as
FaceForensics++ and DeepfakeBench crop every compression with the same boxes. A
video whose face is not found there is left out of every compression alike. The
face cache's ``manifest.json`` says per category whether a compression was stored or
simulated and from which base (:meth:`FaceForensics.provenance`), and the source's
full configuration with defaults (:meth:`FaceForensics.resolved_config`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.dataset import (
    FFPP_MANIPULATIONS,
    REAL,
    SPLITS,
    ClipSource,
    Video,
    check_split,
)
from bench.core.errors import UserError
from bench.core.registry import COMPRESSIONS, DATASETS, build
from bleachbench.datasets.face_detect import FaceBoxer, RawDetector
from bleachbench.datasets.video_io import count_frames, read_video, sample_indices

STORED_COMPRESSIONS = ("raw", "c23", "c40")


class CompressionUnavailableError(LookupError):
    """A compression that is neither stored nor makeable from a stored base (a setup error, not a skip)."""


class SplitFileError(UserError, ValueError):
    """A FaceForensics++ split file that cannot be used (the message names it and the entries)."""


# an FF++ video id: digits, letters, "_" or "-" (no path separators, no "..", not empty)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _read_split(path: Path) -> list[tuple[str, str]]:
    """One split file's pairs, or a :class:`SplitFileError` naming the file and what is wrong."""
    try:
        pairs = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SplitFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SplitFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(pairs, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, str) for v in p)
        for p in pairs
    ):
        raise SplitFileError(f'{path}: expected a list of id pairs like [["071", "054"], ...]')
    if not pairs:
        raise SplitFileError(f"{path}: the split is empty")
    bad = sorted({v for p in pairs for v in p if not _ID.fullmatch(v)})
    if bad:
        raise SplitFileError(f"{path}: ids must be letters, digits, '_' or '-' (no paths), "
                             f"got {', '.join(map(repr, bad[:5]))}")
    same = [p for p in pairs if p[0] == p[1]]
    if same:
        raise SplitFileError(f"{path}: a pair of an id with itself: {list(same[0])}")
    seen: dict[frozenset[str], int] = {}
    for p in pairs:
        key = frozenset(p)
        if key in seen:
            raise SplitFileError(f"{path}: the pair {list(p)} is listed twice")
        seen[key] = 1
    return [(a, b) for a, b in pairs]


def load_ffpp_splits(splits_dir: str | Path) -> dict[str, list[tuple[str, str]]]:
    """The official ``train/val/test.json`` pair lists, checked: ``{split: [(a, b), ...]}``.

    Refused with a :class:`SplitFileError` naming the file and the entries: undecodable or
    malformed files, empty splits, empty or path-like ids, duplicate pairs, and an id in two
    splits (train/test leakage)."""
    splits_dir = Path(splits_dir)
    missing = [
        str(splits_dir / f"{s}.json") for s in SPLITS if not (splits_dir / f"{s}.json").is_file()
    ]
    if missing:
        raise FileNotFoundError("FaceForensics++ split files not found: " + ", ".join(missing))
    out = {split: _read_split(splits_dir / f"{split}.json") for split in SPLITS}
    ids = {split: {v for p in pairs for v in p} for split, pairs in out.items()}
    for i, one in enumerate(SPLITS):
        for two in SPLITS[i + 1:]:
            shared = sorted(ids[one] & ids[two])
            if shared:
                raise SplitFileError(
                    f"{splits_dir}: ids in both {one}.json and {two}.json (leakage): "
                    f"{', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''}")
    return out


@dataclass(frozen=True)
class FFPPClip:
    """``Video.load`` of one FF++ video (picklable): a stored compression, else base + simulator."""

    name: str  # file stem, e.g. "071_054"
    folder: Path  # the category folder holding <compression>/videos/
    stored: tuple[str, ...]  # compressions whose folder exists, e.g. ("raw", "c23")
    base_compressions: tuple[str, ...]

    def resolve(self, compression: str) -> tuple[Path, str | None]:
        """``(file to decode, simulator name or None)`` for ``compression``."""
        if compression in self.stored:
            return self.path(compression), None
        if compression == "raw":
            raise CompressionUnavailableError(
                f"raw frames need {self.folder / 'raw' / 'videos'}; raw cannot be made from a compressed copy"
            )
        for base in self.base_compressions:
            if base in self.stored and base != compression:
                return self.path(base), compression
        tried = [str(self.folder / c / "videos") for c in (compression, *self.base_compressions)]
        raise CompressionUnavailableError(
            f"cannot make {compression!r} for {self.name}: none of {', '.join(tried)} exists"
        )

    def path(self, compression: str) -> Path:
        return self.folder / compression / "videos" / f"{self.name}.mp4"

    @property
    def best_stored(self) -> str:
        """The best stored quality (``raw``, else ``c23``, else ``c40``): faces are found there."""
        return next(c for c in STORED_COMPRESSIONS if c in self.stored)

    def base_key(self) -> str:
        """What the faces found by :meth:`base_frames` depend on (the face cache's box memo)."""
        path = self.path(self.best_stored)
        return f"ffpp:{path}:{path.stat().st_size}"

    def base_frames(self, indices: np.ndarray) -> tuple[np.ndarray, str]:
        """Frames ``indices`` at the best stored quality (faces are found on these for every
        compression), and that quality's name."""
        path = self.path(self.best_stored)
        n = count_frames(path)
        idx = np.minimum(np.asarray(indices, dtype=np.int64), max(n - 1, 0))
        return read_video(path, idx), self.best_stored

    def __call__(self, compression: str) -> np.ndarray:
        path, simulator = self.resolve(compression)
        frames = read_video(path)
        return frames if simulator is None else build(COMPRESSIONS, simulator)(frames)

    def load_frames(
        self, compression: str, frames_per_video: int, skip_first: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Only the sampled frames; a stored compression decodes no frame past the last one needed."""
        path, simulator = self.resolve(compression)
        if simulator is not None:  # a simulator compresses the whole clip, then we sample
            frames = self(compression)
            idx = sample_indices(len(frames), frames_per_video, skip_first)
            return frames[idx], idx
        idx = sample_indices(count_frames(path), frames_per_video, skip_first)
        return read_video(path, idx), idx


@DATASETS.register_module(name="ffpp")
class FaceForensics(ClipSource):
    """FaceForensics++ from its download layout and official pair splits (raw/c23/c40 or simulated)."""

    name = "ffpp"

    def __init__(
        self,
        root: str | Path,
        splits_dir: str | Path | None = None,
        manipulations: Sequence[str] = FFPP_MANIPULATIONS,
        face_detector: str | dict[str, Any] | RawDetector = "haar",
        face_scale: float = 1.3,
        base_compressions: Sequence[str] = ("raw", "c23"),
        real_subset: str = "youtube",
    ) -> None:
        self.root = Path(root)
        self.splits_dir = Path(splits_dir) if splits_dir is not None else self.root / "splits"
        self.manipulations = tuple(manipulations)
        self.base_compressions = tuple(base_compressions)
        self.boxer = FaceBoxer(face_detector, scale=face_scale)
        self.folders = {REAL: self.root / "original_sequences" / real_subset}
        self.folders.update(
            {m: self.root / "manipulated_sequences" / m for m in self.manipulations}
        )
        self.stored = {
            k: tuple(c for c in STORED_COMPRESSIONS if (f / c / "videos").is_dir())
            for k, f in self.folders.items()
        }
        missing = [
            "one of " + ", ".join(str(f / c / "videos") for c in STORED_COMPRESSIONS)
            for k, f in self.folders.items()
            if not self.stored[k]
        ]
        missing += [
            str(self.splits_dir / f"{s}.json")
            for s in SPLITS
            if not (self.splits_dir / f"{s}.json").is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"FaceForensics++ under {self.root} is incomplete; expected:\n  "
                + "\n  ".join(missing)
            )
        self.splits = load_ffpp_splits(self.splits_dir)
        self.real_subset, self.face_scale = real_subset, float(face_scale)
        self._fingerprint: str | None = None

    def resolved_config(self) -> dict[str, Any]:
        """Everything this source was built with, defaults included (for records and manifests)."""
        return {
            "type": self.name, "root": str(self.root), "splits_dir": str(self.splits_dir),
            "manipulations": list(self.manipulations), "face_detector": self.boxer.spec,
            "face_scale": self.face_scale, "base_compressions": list(self.base_compressions),
            "real_subset": self.real_subset,
            "stored": {k: list(v) for k, v in self.stored.items()},
            "faces_found_at": {k: next(c for c in STORED_COMPRESSIONS if c in v)
                               for k, v in self.stored.items()},
        }

    def provenance(self, compression: str) -> dict[str, dict[str, Any]]:
        """Per category (``real`` and each manipulation): whether ``compression`` is read as
        stored or simulated, from which base, and where the faces are found."""
        out: dict[str, dict[str, Any]] = {}
        for k, folder in self.folders.items():
            clip = FFPPClip("", folder, self.stored[k], self.base_compressions)
            entry: dict[str, Any] = {"faces_found_at": clip.best_stored}
            try:
                path, simulator = clip.resolve(compression)
            except CompressionUnavailableError as exc:
                entry.update(stored=False, unavailable=str(exc))
            else:
                base = path.parts[-3]
                entry.update(stored=simulator is None, base=base,
                             **({"simulator": simulator,
                                 "note": f"simulated from the stored {base} copies"
                                         + (" (compressed twice)" if base != "raw" else "")}
                                if simulator else {}))
            out[k] = entry
        return out

    def _video(self, category: str, name: str) -> Video:
        clip = FFPPClip(name, self.folders[category], self.stored[category], self.base_compressions)
        return Video(name, category, 0 if category == REAL else 1, clip, self.boxer)

    def videos(self, split: str, manipulation: str) -> list[Video]:
        """Real videos of ``split`` (each id once) then its fakes ``a_b`` and ``b_a`` of ``manipulation``."""
        check_split(split)
        if manipulation not in self.manipulations:
            raise KeyError(
                f"unknown manipulation {manipulation!r}; this source has {', '.join(self.manipulations)}"
            )
        pairs = self.splits[split]
        reals = list(dict.fromkeys(v for pair in pairs for v in pair))
        fakes = [n for a, b in pairs for n in (f"{a}_{b}", f"{b}_{a}")]
        return [self._video(REAL, r) for r in reals] + [self._video(manipulation, f) for f in fakes]

    def fingerprint(self) -> str:
        """Hash of the video files (relative paths and sizes), the splits and the face settings."""
        if self._fingerprint is None:
            h = hashlib.sha1(b"ffpp-v2")  # v2: faces found once, at the best stored quality
            h.update(
                json.dumps([self.splits, self.base_compressions, self.boxer.describe()]).encode()
            )
            for category, folder in sorted(self.folders.items()):
                for c in self.stored[category]:
                    for f in sorted((folder / c / "videos").glob("*.mp4")):
                        h.update(f"{category}/{c}/{f.name}:{f.stat().st_size}\n".encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint
