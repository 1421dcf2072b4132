"""A set of cropped, resized faces with labels: what detectors and methods consume.

The face cache (``datasets/face_cache.py``) produces these; everything
downstream (detector training, methods, evaluation) reads only this type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class FaceSet:
    """``images`` uint8[N,H,W,3] RGB (often a read-only memmap); per-face labels and video keys."""

    images: np.ndarray
    labels: np.ndarray  # int64[N], 0 real, 1 fake
    manipulations: np.ndarray  # str[N]: "real" or the manipulation of the fake video
    video_ids: np.ndarray  # str[N]
    frame_index: np.ndarray | None = None  # int[N], frame number within its clip

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"FaceSet.images must be uint8[N,H,W,3], got {self.images.dtype}{list(self.images.shape)}"
            )
        for name in ("labels", "manipulations", "video_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"FaceSet.{name} has {len(getattr(self, name))} rows, images has {n}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    @property
    def video_keys(self) -> list[tuple[str, str]]:
        return list(zip(self.manipulations.tolist(), self.video_ids.tolist()))

    def subset(self, index: np.ndarray) -> FaceSet:
        fi = None if self.frame_index is None else self.frame_index[index]
        return FaceSet(
            np.asarray(self.images[index]),
            self.labels[index],
            self.manipulations[index],
            self.video_ids[index],
            fi,
        )

    def per_video(self, k: int | None) -> FaceSet:
        """At most ``k`` faces of each video (manipulation and video id), evenly spaced in the
        set's order (positions ``round(linspace(0, n - 1, k))`` of a video's ``n`` faces: the
        first and the last kept); ``None``, or ``k`` at least a video's count, keeps them all.
        Faces keep their order. A cache of frames 1, 6, 11 per clip with ``k = 2`` gives
        frames 1 and 11, the very faces a 2-frame cache holds (``sample_indices``)."""
        if k is None:
            return self
        if int(k) < 1:
            raise ValueError(f"faces per video must be >= 1 (or None for all), got {k!r}")
        keys = np.char.add(np.char.add(self.manipulations.astype(str), "/"),
                           self.video_ids.astype(str))
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if counts.max(initial=0) <= int(k):
            return self
        keep = np.zeros(len(self), dtype=bool)
        order = np.argsort(inverse, kind="stable")  # each video's faces, in set order
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for start, n in zip(starts.tolist(), counts.tolist()):
            pos = np.unique(np.round(np.linspace(0, n - 1, min(n, int(k)))).astype(np.int64))
            keep[order[start + pos]] = True
        return self.subset(np.flatnonzero(keep))

    def select_manipulation(self, manipulation: str) -> FaceSet:
        """Real faces plus the fakes of one manipulation."""
        keep = (self.manipulations == "real") | (self.manipulations == manipulation)
        return self.subset(np.flatnonzero(keep))

    def tensors(self, index: np.ndarray | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch as float [B,3,H,W] in [0, 1] and int64 labels."""
        # Copies of the batch: images and labels may be read-only memory maps (the face cache),
        # which torch.from_numpy warns about on every run.
        x = torch.tensor(np.ascontiguousarray(self.images[index])).permute(0, 3, 1, 2)
        return x.float().div_(255.0), torch.tensor(np.asarray(self.labels[index]), dtype=torch.int64)
