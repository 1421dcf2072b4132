"""Web-upload chains: what an image platform does to an upload, as named, documented presets.

The paper's real-world test uploaded images to a web design platform
(canva.cn) and downloaded them again. We cannot call a platform offline, so
:class:`WebUpload` applies, to every frame, the steps such platforms apply:

1. downscale by ``scale`` (each side, relative to the input; our faces are
   small, so a platform's absolute "max side 2048 px" is expressed as the
   fraction it removes from a large upload). ``max_side`` adds an absolute
   cap for full-size images (off by default);
2. JPEG at the platform ``quality`` with 4:2:0 chroma subsampling;
3. optionally a second JPEG re-encode at ``requality`` (a CDN or a
   re-share recompressing the already compressed image);
4. upscale back to the input size (``up_interpolation``, bicubic by default,
   as a browser or a face cropper would), so the output keeps the input shape.

The preset parameters are our choices for plausible platforms, not
measurements of any one platform:

| name | scale | quality | requality |
|---|---|---|---|
| ``web_upload`` | 0.75 | 85 | none |
| ``web_upload_social`` | 0.5 | 72 | 80 |
| ``web_upload_strong`` | 0.35 | 50 | 60 |

``web_upload_random`` samples one chain per clip (same chain for every frame
of the clip) from documented ranges, seeded by a hash of the clip's content
and ``seed``, so the same clip always gets the same chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bench.core.compression import Compression, check_quality, clip_seed
from bench.core.registry import COMPRESSIONS
from bleachbench.datasets.compression_image import jpeg_roundtrip

_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


@dataclass(frozen=True)
class WebUpload(Compression):
    """Per-frame chain: downscale, JPEG 4:2:0 at ``quality``, optional re-encode, upscale back.

    Args:
        scale: each side is multiplied by this (0 < scale <= 1) before encoding.
        quality: the platform's JPEG quality (1..100).
        requality: quality of a second JPEG re-encode, or ``None`` for none.
        max_side: optional absolute cap on the longer side after scaling (pixels).
        subsampling: JPEG chroma subsampling, ``"420"`` as platforms use.
        down_interpolation: OpenCV interpolation for the downscale (``"area"``).
        up_interpolation: OpenCV interpolation back to the input size (``"cubic"``).
    """

    scale: float = 0.75
    quality: int = 85
    requality: int | None = None
    max_side: int | None = None
    subsampling: str = "420"
    down_interpolation: str = "area"
    up_interpolation: str = "cubic"

    def __post_init__(self) -> None:
        if not 0.0 < float(self.scale) <= 1.0:
            raise ValueError(f"WebUpload: scale must be in (0, 1], got {self.scale!r}")
        check_quality(self.quality, "WebUpload")
        if self.requality is not None:
            check_quality(self.requality, "WebUpload (requality)")
        if self.max_side is not None and int(self.max_side) < 1:
            raise ValueError(f"WebUpload: max_side must be >= 1 or None, got {self.max_side!r}")
        for interp in (self.down_interpolation, self.up_interpolation):
            if interp not in _INTERPOLATION:
                raise ValueError(f"WebUpload: interpolation must be one of {sorted(_INTERPOLATION)}, got {interp!r}")

    def scaled_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of the uploaded image for an input of that size."""
        s = float(self.scale)
        if self.max_side is not None and max(height, width) * s > self.max_side:
            s = self.max_side / max(height, width)
        return max(1, round(height * s)), max(1, round(width * s))

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        _, h, w, _ = frames.shape
        sh, sw = self.scaled_size(h, w)
        down = _INTERPOLATION[self.down_interpolation]
        up = _INTERPOLATION[self.up_interpolation]
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            img = frame if (sh, sw) == (h, w) else cv2.resize(frame, (sw, sh), interpolation=down)
            img = jpeg_roundtrip(img, self.quality, self.subsampling)
            if self.requality is not None:
                img = jpeg_roundtrip(img, self.requality, self.subsampling)
            out[i] = img if (sh, sw) == (h, w) else cv2.resize(img, (w, h), interpolation=up)
        return out


@COMPRESSIONS.register_module(name="web_upload")
def web_upload(**kwargs: object) -> WebUpload:
    """Web upload, design-platform default: scale 0.75, JPEG q85 4:2:0, upscale back."""
    return WebUpload(**{"scale": 0.75, "quality": 85, "requality": None, **kwargs})


@COMPRESSIONS.register_module(name="web_upload_social")
def web_upload_social(**kwargs: object) -> WebUpload:
    """Web upload, social-network-like: scale 0.5, JPEG q72 4:2:0, re-encode q80, upscale back."""
    return WebUpload(**{"scale": 0.5, "quality": 72, "requality": 80, **kwargs})


@COMPRESSIONS.register_module(name="web_upload_strong")
def web_upload_strong(**kwargs: object) -> WebUpload:
    """Web upload, strong: scale 0.35, JPEG q50 4:2:0, re-encode q60, upscale back."""
    return WebUpload(**{"scale": 0.35, "quality": 50, "requality": 60, **kwargs})


@COMPRESSIONS.register_module(name="web_upload_random")
@dataclass(frozen=True)
class WebUploadRandom(Compression):
    """Web upload with a chain drawn per clip (scale, JPEG q, re-encode) seeded by the clip's content.

    Ranges (uniform): ``scale`` in ``[0.35, 1.0]``; ``quality`` an integer in
    ``[50, 95]``; with probability ``p_reencode`` (0.5) a re-encode at an integer
    ``requality`` in ``[60, 95]``. The draw uses ``numpy.random.default_rng``
    seeded by :func:`clip_seed` (a hash of the frames and ``seed``):
    deterministic per clip, different across clips. :meth:`sample` shows the chain.
    """

    seed: int = 0
    scale_range: tuple[float, float] = (0.35, 1.0)
    quality_range: tuple[int, int] = (50, 95)
    requality_range: tuple[int, int] = (60, 95)
    p_reencode: float = 0.5

    def sample(self, frames: np.ndarray) -> WebUpload:
        """The :class:`WebUpload` chain this clip gets."""
        rng = np.random.default_rng(clip_seed(frames, self.seed))
        scale = float(rng.uniform(*self.scale_range))
        quality = int(rng.integers(self.quality_range[0], self.quality_range[1] + 1))
        requality = int(rng.integers(self.requality_range[0], self.requality_range[1] + 1))
        reencode = bool(rng.random() < self.p_reencode)
        return WebUpload(scale=scale, quality=quality, requality=requality if reencode else None)

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        return self.sample(frames)(frames)
