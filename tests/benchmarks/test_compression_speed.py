"""Speed of the compression simulators against a bare PyAV loop and the ffmpeg command line.

Run with ``pytest tests/benchmarks/test_compression_speed.py --benchmark-only``.
The clip is 48 frames of 300x300 (FF++ face-crop scale). The ffmpeg CLI
benchmark (FF++'s own command, PNG frames in, MP4 out, decoded back by PyAV)
is skipped when no ``ffmpeg`` binary is on the PATH.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from bench.core.registry import COMPRESSIONS, build

T, H, W = 48, 300, 300


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    yy, xx = np.mgrid[:H, :W].astype(np.float64)
    frames = [
        np.stack([128 + 90 * np.sin((xx + 3 * i) / 9.0) * np.cos(yy / 13.0), xx * 255 / W, (yy + 2 * i) % 256], -1)
        for i in range(T)
    ]
    noise = np.random.default_rng(0).normal(0, 5, (T, H, W, 3))
    return np.clip(np.stack(frames) + noise, 0, 255).astype(np.uint8)


def bare_pyav(frames: np.ndarray, crf: int = 23) -> np.ndarray:
    """The minimal PyAV encode+decode loop (no checks, no padding, no determinism guard)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        s.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    buf.seek(0)
    with av.open(buf) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def ffmpeg_cli(frames: np.ndarray, pngs: Path, crf: int = 23) -> np.ndarray:
    """FF++'s command on PNG frames already on disk, decoded back with PyAV."""
    out = pngs / "out.mp4"
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-r", "25", "-i", str(pngs / "%04d.png"),
           "-crf", str(crf), "-c:v", "libx264", "-vf", "fps=25", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    with av.open(str(out)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_bare_pyav_c23(benchmark, clip: np.ndarray) -> None:
    out = benchmark(bare_pyav, clip)
    assert out.shape == clip.shape


@pytest.mark.parametrize("name", ["c23", "c40", "h265_crf28", "jpeg_q75", "webp_q75", "web_upload", "df_h264_3"])
def test_simulator(benchmark, clip: np.ndarray, name: str) -> None:
    sim = build(COMPRESSIONS, name)
    out = benchmark(sim, clip)
    assert out.shape == clip.shape


def test_c23_threads2(benchmark, clip: np.ndarray) -> None:
    sim = build(COMPRESSIONS, {"type": "c23", "threads": 2})
    assert benchmark(sim, clip).shape == clip.shape


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg binary on PATH")
def test_ffmpeg_cli_c23(benchmark, clip: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pngs = Path(tmp)
        for i, f in enumerate(clip, start=1):
            cv2.imwrite(str(pngs / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        out = benchmark(ffmpeg_cli, clip, pngs)
    assert out.shape == clip.shape
