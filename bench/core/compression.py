"""What every compression simulator shares: the frames check, a content seed, ``psnr`` and ``raw``.

A simulator in ``COMPRESSIONS`` is a callable ``frames uint8[T,H,W,3] RGB ->
uint8[T,H,W,3]`` of the same shape. Subclass :class:`Compression` and write
``_apply(frames)``: ``__call__`` checks the input first (:func:`check_frames`)
and the output after, so every simulator fails the same clear way on bad input.
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench.core.registry import COMPRESSIONS


def check_frames(frames: object, who: str = "compression") -> np.ndarray:
    """Return ``frames`` as a C-contiguous ``uint8[T,H,W,3]`` array, or raise ``ValueError``.

    Accepts any array-like of that dtype and shape (non-contiguous views are
    copied). Rejects: other dtypes, a single frame ``[H,W,3]`` (pass
    ``frames[None]``), other channel counts, an empty clip and zero-sized frames.
    """
    expected = "expected uint8[T,H,W,3] RGB frames with T, H, W >= 1"
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"{who}: {expected}, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{who}: {expected}, got dtype {frames.dtype} (convert with .astype(np.uint8))")
    if frames.ndim == 3 and frames.shape[-1] == 3:
        raise ValueError(f"{who}: {expected}, got one frame of shape {frames.shape}; pass frames[None]")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{who}: {expected}, got shape {frames.shape}")
    if min(frames.shape[:3]) < 1:
        raise ValueError(f"{who}: {expected}, got an empty clip of shape {frames.shape}")
    return np.ascontiguousarray(frames)


def clip_seed(frames: np.ndarray, seed: int = 0) -> int:
    """A 63-bit seed from the clip's content (and shape) and ``seed``: same clip, same draw."""
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray(frames.shape, dtype=np.int64).tobytes())
    h.update(int(seed).to_bytes(8, "little", signed=True))
    h.update(np.ascontiguousarray(frames).data)
    return int.from_bytes(h.digest(), "little") >> 1


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels of two same-shape arrays (inf if equal)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(peak**2 / mse))


def check_quality(quality: int, who: str, low: int = 1, high: int = 100) -> int:
    """``quality`` as an int in ``[low, high]``, or a ``ValueError`` naming ``who``."""
    if isinstance(quality, bool) or not float(quality).is_integer() or not low <= quality <= high:
        raise ValueError(f"{who}: quality must be an integer in [{low}, {high}], got {quality!r}")
    return int(quality)


def compression_spec(name: str) -> str:
    """What compression ``name`` builds (module, class and parameters): part of cache keys, so
    changing a compression's parameters (or a plug-in's) never reuses crops made with others."""
    from bench.core.registry import build

    obj = build(COMPRESSIONS, name)
    return f"{type(obj).__module__}.{describe_compression(obj, name)}"


class UnstableDescriptionError(ValueError):
    """A compression whose description (the face-cache key) holds a memory address."""


def describe_compression(obj: object, name: str = "") -> str:
    """A stable description of a built compression: its ``describe()`` if it has one, else its
    ``repr`` (a dataclass's lists its fields). One holding a memory address (a plain class's
    default ``<X object at 0x...>``) is refused: it would change in every process, and every run
    would build a new face cache."""
    import re

    describe = getattr(obj, "describe", None)
    text = str(describe()) if callable(describe) else repr(obj)
    if re.search(r" at 0x[0-9a-fA-F]+", text):
        raise UnstableDescriptionError(
            f"compression {name or type(obj).__name__!r} describes itself as {text!r}, which "
            f"holds a memory address: face caches are keyed by this description, so each run "
            f"would build a new one. Give {type(obj).__qualname__} a describe() method returning "
            f"its parameters (e.g. 'ResizeHalf(scale=0.5)'), make it a dataclass, or define __repr__."
        )
    return text


class Compression:
    """Base class: ``__call__`` checks the frames, runs ``_apply`` and checks the result."""

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        frames = check_frames(frames, name)
        out = self._apply(frames)
        if out.shape != frames.shape or out.dtype != np.uint8:
            raise RuntimeError(
                f"{self!r} returned {out.dtype}{list(out.shape)} for input uint8{list(frames.shape)}"
            )
        return out

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError
