"""H.264 / H.265 over a whole clip, in memory, the way FaceForensics++ made its c23 and c40 videos.

FF++ encoded its raw frames with ``ffmpeg -r FPS -i %04d.png -crf N -c:v libx264
-vf fps=FPS out.mp4``: no preset and no pixel format given, so ffmpeg used preset
``medium`` and, from RGB (PNG) input, ``yuv444p`` (profile High 4:4:4
Predictive). :class:`VideoCodec` makes the same choices by default with PyAV's
bundled libx264: the RGB frames are converted by swscale (BT.601, limited
range, as the CLI does), encoded as one stream into an MP4 held in a
``BytesIO`` (temporal prediction across frames, never frame by frame), then
decoded back to RGB.

Determinism: every frame gets ``pts = index``, and x264 runs with
``threads=1`` by default. Measured here, libx264 with more than one thread
and its default lookahead threads gives different bits from run to run; with
``threads > 1`` we therefore also set ``lookahead-threads=1`` (repeatable, but
the bits differ from ``threads=1``). ``threads`` is part of the simulator's
identity (``repr``), so a cache keyed on it stays exact.

``pix_fmt="yuv420p"`` (web video) needs even sizes, and libx265 needs at
least 16x16: such frames are padded by edge replication and cropped back.
"""

from __future__ import annotations

import ctypes
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import av
import numpy as np

from bench.core.compression import Compression
from bench.core.registry import COMPRESSIONS, register_pattern
from bleachbench.datasets.video_io import rgb_frames

_CODECS = {"h264": "libx264", "h265": "libx265"}
_PIX_FMTS = ("yuv444p", "yuv420p")
_MIN_SIDE = {"h264": 1, "h265": 16}  # libx265 refuses frames smaller than 16x16 (measured)
_M_PERTURB = -6  # glibc mallopt parameter: fill malloc'ed and freed memory with a fixed byte
_PERTURB_LOCK = threading.Lock()
try:
    _MALLOPT = ctypes.CDLL(None).mallopt
except (OSError, AttributeError):  # not glibc: no guard, see fixed_heap_bytes
    _MALLOPT = None


@contextmanager
def fixed_heap_bytes() -> Iterator[None]:
    """Make libx264's reads of uninitialised heap memory repeatable while the block runs.

    Measured here (PyAV 18.1's libx264, threads=1): the lookahead/mb-tree path
    reads heap memory it never wrote, so the same clip gave different bits from
    call to call (``mbtree=0`` or ``MALLOC_PERTURB_`` made it exact). We set
    glibc's ``M_PERTURB`` (what ``MALLOC_PERTURB_`` sets) for the duration of an
    encode, so that such memory always holds the same byte, and restore it after.
    Without glibc this is a no-op and the output may vary in its last bits.
    """
    if _MALLOPT is None:
        yield
        return
    with _PERTURB_LOCK:
        _MALLOPT(_M_PERTURB, 0xA5)
        try:
            yield
        finally:
            _MALLOPT(_M_PERTURB, 0)


@dataclass(frozen=True)
class VideoCodec(Compression):
    """Encode the whole clip with libx264/libx265 at a CRF in memory and decode it back to RGB.

    Args:
        crf: constant rate factor (0..51; FF++ c23 = 23, c40 = 40).
        codec: ``"h264"`` (libx264) or ``"h265"`` (libx265).
        pix_fmt: ``"yuv444p"`` (what ffmpeg picks from RGB input, the FF++ default) or
            ``"yuv420p"`` (web video; odd sizes padded to even and cropped back).
        preset: x264/x265 preset; ``"medium"`` is ffmpeg's default.
        fps: frame rate written to the stream (FF++ used the source rate; 25 here).
        threads: encoder threads; 1 (default) is bit-exact on every machine.
        options: extra codec options passed to the encoder (strings), e.g. ``{"tune": "film"}``.
    """

    crf: int = 23
    codec: str = "h264"
    pix_fmt: str = "yuv444p"
    preset: str = "medium"
    fps: int = 25
    threads: int = 1
    options: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.codec not in _CODECS:
            raise ValueError(f"VideoCodec: codec must be one of {sorted(_CODECS)}, got {self.codec!r}")
        if self.pix_fmt not in _PIX_FMTS:
            raise ValueError(f"VideoCodec: pix_fmt must be one of {_PIX_FMTS}, got {self.pix_fmt!r}")
        if isinstance(self.crf, bool) or not float(self.crf).is_integer() or not 0 <= self.crf <= 51:
            raise ValueError(f"VideoCodec: crf must be an integer in [0, 51], got {self.crf!r}")
        if int(self.threads) < 1 or int(self.fps) < 1:
            raise ValueError(f"VideoCodec: threads and fps must be >= 1, got {self.threads}, {self.fps}")

    def encoder_options(self) -> dict[str, str]:
        """The options handed to the encoder (strings, as ffmpeg takes them)."""
        opts = {"crf": str(int(self.crf)), "preset": self.preset}
        threads = int(self.threads)
        if self.codec == "h264":
            opts["threads"] = str(threads)
            if threads > 1:
                opts["x264-params"] = "lookahead-threads=1"
        else:
            # x265: a thread pool of `threads` with one frame thread (WPP only) is repeatable.
            pools = "none" if threads == 1 else str(threads)
            opts["x265-params"] = f"log-level=error:pools={pools}:frame-threads=1"
        opts.update({str(k): str(v) for k, v in self.options.items()})
        return opts

    def coded_size(self, height: int, width: int) -> tuple[int, int]:
        """Size actually encoded: even for yuv420p, at least 16 for libx265 (edge-padded, cropped back)."""
        low = _MIN_SIDE[self.codec]
        h, w = max(height, low), max(width, low)
        if self.pix_fmt == "yuv420p":
            h, w = h + h % 2, w + w % 2
        return h, w

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        _, h, w, _ = frames.shape
        ph, pw = self.coded_size(h, w)
        padded = frames
        if (ph, pw) != (h, w):
            padded = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        try:
            with fixed_heap_bytes():
                data = self._encode(padded)
                out = self._decode(data, padded.shape)
        except av.error.FFmpegError as exc:
            raise RuntimeError(
                f"{self!r} failed on a clip of shape {frames.shape} with encoder options "
                f"{self.encoder_options()}: {exc}"
            ) from exc
        return np.ascontiguousarray(out[:, :h, :w])

    def _encode(self, frames: np.ndarray) -> bytes:
        _, h, w, _ = frames.shape
        buf = io.BytesIO()
        with av.open(buf, mode="w", format="mp4") as container:
            stream = container.add_stream(_CODECS[self.codec], rate=int(self.fps))
            stream.width, stream.height, stream.pix_fmt = w, h, self.pix_fmt
            stream.codec_context.thread_count = int(self.threads)
            stream.options = self.encoder_options()
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i  # explicit timestamps: without them x264's output varies run to run
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return buf.getvalue()

    def _decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=np.uint8)
        n = 0
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            stream.thread_count = 1  # decoding is exact at any thread count; one spares thread start-up
            for rgb in rgb_frames(container.decode(stream)):
                if n >= shape[0]:
                    raise RuntimeError(f"{self!r}: decoder returned more than {shape[0]} frames")
                out[n] = rgb
                n += 1
        if n != shape[0]:
            raise RuntimeError(f"{self!r}: encoded {shape[0]} frames but decoded {n}")
        return out


@register_pattern(COMPRESSIONS, r"h264_crf(?P<crf>\d+)", "h264_crf<crf>", stronger="higher")
def h264_crf(crf: int, **kwargs: object) -> VideoCodec:
    """H.264 (libx264) over the whole clip at CRF <crf>, FF++ defaults (yuv444p, preset medium)."""
    return VideoCodec(crf=crf, codec="h264", **kwargs)


@register_pattern(COMPRESSIONS, r"h265_crf(?P<crf>\d+)", "h265_crf<crf>", stronger="higher")
def h265_crf(crf: int, **kwargs: object) -> VideoCodec:
    """H.265 (libx265) over the whole clip at CRF <crf> (yuv444p, preset medium)."""
    return VideoCodec(crf=crf, codec="h265", **kwargs)


@COMPRESSIONS.register_module(name="c23")
def c23(**kwargs: object) -> VideoCodec:
    """FaceForensics++ HQ: H.264 CRF 23 over the whole clip (libx264, yuv444p, preset medium)."""
    return VideoCodec(crf=23, codec="h264", **kwargs)


@COMPRESSIONS.register_module(name="c40")
def c40(**kwargs: object) -> VideoCodec:
    """FaceForensics++ LQ: H.264 CRF 40 over the whole clip (libx264, yuv444p, preset medium)."""
    return VideoCodec(crf=40, codec="h264", **kwargs)
