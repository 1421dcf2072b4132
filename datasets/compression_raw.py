"""``raw``: the source frames unchanged (FaceForensics++'s uncompressed videos)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.core.compression import Compression
from bench.core.registry import COMPRESSIONS


@COMPRESSIONS.register_module(name="raw")
@dataclass(frozen=True)
class Raw(Compression):
    """Identity: the source frames unchanged (a copy)."""

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        return frames.copy()
