"""DeeperForensics-1.0's perturbation grid: seven distortion types at five levels, ``df_<type>_<level>``.

Jiang et al., "DeeperForensics-1.0" (CVPR 2020), perturb their hidden test set
with seven distortions at five severities. Parameters below follow the
authors' published ``perturbation`` code as best we know it (DF names in
brackets); level 1 is the mildest, 5 the strongest:

| type | DF | parameter per level 1..5 | operation |
|---|---|---|---|
| ``saturation`` | CS | 0.4, 0.3, 0.2, 0.1, 0.0 | chroma (Cb, Cr) of BT.601 YCbCr scaled towards 0.5 by it |
| ``contrast`` | CC | 0.85, 0.725, 0.6, 0.475, 0.35 | pixels multiplied by it, truncated to uint8 as DF does |
| ``block`` | BW | 16, 32, 48, 64, 80 | that many 8x8 grey (128) blocks per 256 px of the short side, random places per frame |
| ``noise`` | GNC | 0.001, 0.002, 0.005, 0.01, 0.05 | Gaussian noise of that *variance* on YCbCr in [0, 1] |
| ``blur`` | GB | 7, 9, 13, 17, 21 | Gaussian blur, kernel k x k, sigma k / 6 |
| ``pixelate`` | JPEG | 2, 3, 4, 5, 6 | downscale by that factor and back (bilinear), DF's "JPEG" type |
| ``h264`` | VC | CRF 30, 32, 35, 38, 40 | H.264 over the clip, yuv420p (DF re-encoded 4:2:0 mp4s) |

Our deviations, all keyword arguments: DF's block count is
``min(H, W) // 256 * p``, which is zero below 256 px, so we use the
continuous ``max(1, round(p * min(H, W) / 256))``; the random draws (block
places, noise) come from ``numpy.random.default_rng`` seeded by the clip's
content, ``seed`` and the frame index (DF used unseeded global RNGs).
Sizes of blur kernels and pixelation factors are DF's absolute pixel values.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bench.core.compression import Compression, clip_seed
from bench.core.registry import COMPRESSIONS, register_pattern
from bleachbench.datasets.compression_video import VideoCodec

DF_LEVELS: dict[str, tuple[float, ...]] = {
    "saturation": (0.4, 0.3, 0.2, 0.1, 0.0),
    "contrast": (0.85, 0.725, 0.6, 0.475, 0.35),
    "block": (16, 32, 48, 64, 80),
    "noise": (0.001, 0.002, 0.005, 0.01, 0.05),
    "blur": (7, 9, 13, 17, 21),
    "pixelate": (2, 3, 4, 5, 6),
    "h264": (30, 32, 35, 38, 40),
}


def _to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 BT.601 YCrCb in [0, 1] (OpenCV's channel order)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)


def _from_ycbcr(ycrcb: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(ycrcb.astype(np.float32), cv2.COLOR_YCrCb2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class DeeperForensicsPerturbation(Compression):
    """One DeeperForensics-1.0 perturbation ``kind`` at ``level`` 1..5 (see the module table).

    Args:
        kind: one of ``saturation, contrast, block, noise, blur, pixelate, h264``.
        level: 1 (mildest) to 5 (strongest).
        seed: mixed with the clip's content hash for the random types (block, noise).
        block_size: side of a grey block in pixels (DF: 8).
    """

    kind: str = "noise"
    level: int = 1
    seed: int = 0
    block_size: int = 8

    def __post_init__(self) -> None:
        if self.kind not in DF_LEVELS:
            raise ValueError(f"df perturbation: kind must be one of {sorted(DF_LEVELS)}, got {self.kind!r}")
        if isinstance(self.level, bool) or self.level not in (1, 2, 3, 4, 5):
            raise ValueError(f"df perturbation: level must be an integer 1..5, got {self.level!r}")

    @property
    def param(self) -> float:
        """DF's parameter for this type and level."""
        return DF_LEVELS[self.kind][int(self.level) - 1]

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        p = self.param
        if self.kind == "h264":
            return VideoCodec(crf=int(p), codec="h264", pix_fmt="yuv420p")(frames)
        if self.kind == "contrast":
            return (frames.astype(np.float32) * p).astype(np.uint8)
        seed = clip_seed(frames, self.seed) if self.kind in ("block", "noise") else 0
        out = np.empty_like(frames)
        for t, frame in enumerate(frames):
            rng = np.random.default_rng([seed, t])
            out[t] = getattr(self, f"_{self.kind}")(frame, p, rng)
        return out

    def _saturation(self, frame: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        ycrcb = _to_ycbcr(frame)
        ycrcb[..., 1:] = 0.5 + (ycrcb[..., 1:] - 0.5) * p
        return _from_ycbcr(ycrcb)

    def _noise(self, frame: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        ycrcb = _to_ycbcr(frame)
        ycrcb += np.sqrt(p) * rng.standard_normal(ycrcb.shape, dtype=np.float32)
        return _from_ycbcr(ycrcb)

    def _block(self, frame: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        h, w, _ = frame.shape
        out = frame.copy()
        b = max(1, min(int(self.block_size), h, w))
        count = max(1, round(p * min(h, w) / 256))
        ys = rng.integers(0, h - b + 1, size=count)
        xs = rng.integers(0, w - b + 1, size=count)
        for y, x in zip(ys, xs):
            out[y : y + b, x : x + b] = 128
        return out

    def _blur(self, frame: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        k = int(p)
        return cv2.GaussianBlur(frame, (k, k), k / 6.0)

    def _pixelate(self, frame: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        h, w, _ = frame.shape
        small = cv2.resize(frame, (max(1, w // int(p)), max(1, h // int(p))), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@register_pattern(
    COMPRESSIONS,
    r"df_(?P<kind>[a-z0-9]+)_(?P<level>\d+)",
    "df_<type>_<level>",
)
def df_perturbation(kind: str, level: int, **kwargs: object) -> DeeperForensicsPerturbation:
    """DeeperForensics-1.0 grid, type saturation|contrast|block|noise|blur|pixelate|h264, level 1..5."""
    return DeeperForensicsPerturbation(kind=str(kind), level=level, **kwargs)
