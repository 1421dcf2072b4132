"""Per-frame image codecs: JPEG (OpenCV/libjpeg, explicit chroma subsampling) and WebP.

Each frame is encoded and decoded on its own (no temporal prediction). OpenCV
works in BGR; the conversion from and to our RGB frames is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bench.core.compression import Compression, check_quality
from bench.core.registry import COMPRESSIONS, register_pattern

_SAMPLING = {
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
}


def jpeg_roundtrip(rgb: np.ndarray, quality: int, subsampling: str = "420") -> np.ndarray:
    """Encode one ``uint8[H,W,3]`` RGB image as JPEG at ``quality`` and decode it back."""
    params = [
        cv2.IMWRITE_JPEG_QUALITY, int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SAMPLING[subsampling],
    ]  # fmt: skip
    return _roundtrip(rgb, ".jpg", params)


def webp_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode one ``uint8[H,W,3]`` RGB image as lossy WebP (always 4:2:0) and decode it back."""
    return _roundtrip(rgb, ".webp", [cv2.IMWRITE_WEBP_QUALITY, int(quality)])


def _roundtrip(rgb: np.ndarray, ext: str, params: list[int]) -> np.ndarray:
    ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {rgb.shape} image as {ext} with {params}")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape != rgb.shape:
        got = None if bgr is None else bgr.shape
        raise RuntimeError(f"OpenCV decoded {ext} of a {rgb.shape} image as {got}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class Jpeg(Compression):
    """Per-frame JPEG through OpenCV at ``quality`` (1..100), chroma ``subsampling`` 420/422/444."""

    quality: int = 75
    subsampling: str = "420"

    def __post_init__(self) -> None:
        check_quality(self.quality, "Jpeg")
        if self.subsampling not in _SAMPLING:
            raise ValueError(f"Jpeg: subsampling must be one of {sorted(_SAMPLING)}, got {self.subsampling!r}")

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([jpeg_roundtrip(f, self.quality, self.subsampling) for f in frames])


@dataclass(frozen=True)
class WebP(Compression):
    """Per-frame lossy WebP through OpenCV/libwebp at ``quality`` (1..100; 4:2:0 by the format)."""

    quality: int = 75

    def __post_init__(self) -> None:
        check_quality(self.quality, "WebP")

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([webp_roundtrip(f, self.quality) for f in frames])


@register_pattern(COMPRESSIONS, r"jpeg_q(?P<quality>\d+)", "jpeg_q<quality>", stronger="lower")
def jpeg_q(quality: int, **kwargs: object) -> Jpeg:
    """Per-frame JPEG at quality <quality> (OpenCV, 4:2:0 chroma subsampling set explicitly)."""
    return Jpeg(quality=quality, **kwargs)


@register_pattern(COMPRESSIONS, r"webp_q(?P<quality>\d+)", "webp_q<quality>", stronger="lower")
def webp_q(quality: int, **kwargs: object) -> WebP:
    """Per-frame lossy WebP at quality <quality> (OpenCV/libwebp, 4:2:0)."""
    return WebP(quality=quality, **kwargs)
