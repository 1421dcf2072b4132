"""The contract every dataset source in ``DATASETS`` answers.

A source yields labelled *videos* (clips of RGB frames) per split and per
manipulation, the way FaceForensics++ is organised: one binary task per
manipulation, real videos against the fakes of that manipulation.

Manipulation names follow FaceForensics++ (``Deepfakes``, ``Face2Face``,
``FaceSwap``, ``NeuralTextures``) so that tables line up with the paper; a
real video's ``manipulation`` is ``"real"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")
FFPP_MANIPULATIONS = ("FaceSwap", "Face2Face", "Deepfakes", "NeuralTextures")
REAL = "real"


@dataclass(frozen=True)
class Video:
    """One labelled clip.

    ``load(compression)`` returns ``uint8[T,H,W,3]`` RGB frames of the whole
    scene at that compression (``"raw"`` for the source frames); a source
    decides whether it reads a stored version (FF++'s ``c23`` folders) or
    applies a simulator from ``COMPRESSIONS``. ``face_boxes(frames)`` gives one
    ``(x0, y0, x1, y1)`` box per frame (already enlarged), or ``None`` for a
    frame with no face.
    """

    video_id: str
    manipulation: str  # "real" or a manipulation name
    label: int  # 0 real, 1 fake
    load: Callable[[str], np.ndarray] = field(compare=False, repr=False)
    face_boxes: Callable[[np.ndarray], list[tuple[int, int, int, int] | None]] = field(
        compare=False, repr=False
    )

    @property
    def key(self) -> tuple[str, str]:
        """Videos are keyed by (manipulation, id): fakes with one name under two methods differ."""
        return (self.manipulation, self.video_id)


class ClipSource:
    """Base class of a ``DATASETS`` entry."""

    name: str = "base"
    manipulations: Sequence[str] = FFPP_MANIPULATIONS

    def videos(self, split: str, manipulation: str) -> list[Video]:
        """Real videos of ``split`` plus the fakes of ``manipulation`` in it."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A short string that changes whenever the source's content would change (cache key)."""
        raise NotImplementedError


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split
