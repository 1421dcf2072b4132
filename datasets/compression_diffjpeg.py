"""Differentiable JPEG (kornia) for methods that train through compression: ``diff_jpeg_q<quality>``.

A thin wrapper over :func:`kornia.enhance.jpeg_codec_differentiable` (Reich
et al., WACV 2024): standard JPEG quantisation tables scaled by quality,
4:2:0 chroma, with a differentiable rounding, so gradients flow to the
input (and to the quality). :meth:`DiffJpeg.tensor` is the training path on
float ``[B,3,H,W]`` in ``[0, 1]``; calling the object on ``uint8[T,H,W,3]``
frames answers the ``COMPRESSIONS`` contract (no gradient, CPU, float32).
It approximates, not reproduces, libjpeg: use ``jpeg_q<quality>`` to test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from kornia.enhance import jpeg_codec_differentiable

from bench.core.compression import Compression, check_quality
from bench.core.registry import COMPRESSIONS, register_pattern


@dataclass(frozen=True)
class DiffJpeg(Compression):
    """Differentiable JPEG at ``quality`` (kornia); ``tensor(x)`` keeps gradients, frames work too.

    Args:
        quality: JPEG quality 1..100.
        batch_size: frames per kornia call on the uint8 path (bounds memory).
    """

    quality: int = 75
    batch_size: int = 64

    def __post_init__(self) -> None:
        check_quality(self.quality, "DiffJpeg")

    def tensor(self, x: torch.Tensor, quality: torch.Tensor | float | None = None) -> torch.Tensor:
        """JPEG-code float ``[B,3,H,W]`` in ``[0, 1]`` differentiably; ``quality`` overrides (``[B]`` or scalar)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            got = f"{type(x).__name__} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"DiffJpeg.tensor: expected a float tensor [B,3,H,W] in [0, 1], got {got}")
        q = self.quality if quality is None else quality
        q = torch.as_tensor(q, dtype=x.dtype, device=x.device).reshape(-1)
        return jpeg_codec_differentiable(x, q)

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty_like(frames)
        with torch.no_grad():
            for i in range(0, len(frames), self.batch_size):
                x = torch.from_numpy(frames[i : i + self.batch_size]).permute(0, 3, 1, 2).float() / 255.0
                y = self.tensor(x).clamp(0.0, 1.0)
                out[i : i + self.batch_size] = (
                    (y * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
                )
        return out


@register_pattern(COMPRESSIONS, r"diff_jpeg_q(?P<quality>\d+)", "diff_jpeg_q<quality>",
                  stronger="lower")
def diff_jpeg_q(quality: int, **kwargs: object) -> DiffJpeg:
    """Differentiable JPEG at quality <quality> (kornia); .tensor(x) for float [B,3,H,W] with gradients."""
    return DiffJpeg(quality=quality, **kwargs)
