"""Speed: random batches of 32 faces at 64 px read from a face cache (memmap) through FaceSet.tensors.

Run with ``pytest tests/benchmarks --benchmark-only``; ``extra_info["img_per_s"]`` is the
throughput. The issue asks for at least 10x what a detector consumes while
training on CPU (about 50-150 img/s), i.e. >= 1500 img/s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.dataset import REAL, ClipSource, Video
from bleachbench.datasets.face_cache import load_faces
from bleachbench.datasets.face_detect import FaceBoxer

BATCH = 32


class _RandomClips(ClipSource):
    """In-memory clips (no decoding): only the cache's read path is measured."""

    name = "bench_random"
    manipulations = ("fake",)

    def __init__(self, n_videos: int = 200, n_frames: int = 16, side: int = 96) -> None:
        self.n_videos, self.n_frames, self.side = n_videos, n_frames, side
        self.boxer = FaceBoxer("whole")

    def _clip(self, seed: int):
        def load(compression: str) -> np.ndarray:
            rng = np.random.default_rng(seed)
            return rng.integers(0, 256, (self.n_frames, self.side, self.side, 3), dtype=np.uint8)

        return load

    def videos(self, split: str, manipulation: str) -> list[Video]:
        return [
            Video(
                f"{i:04d}", REAL if i % 2 else "fake", 0 if i % 2 else 1, self._clip(i), self.boxer
            )
            for i in range(self.n_videos)
        ]

    def fingerprint(self) -> str:
        return f"{self.n_videos}-{self.n_frames}-{self.side}"


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("cache"))
    load_faces(_RandomClips(), "fake", "raw", "train", 64, 16, root, workers=1, progress=False)
    return load_faces(
        _RandomClips(), "fake", "raw", "train", 64, 16, root, workers=1, progress=False
    )


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    # a loader worker's setting; on a busy 2-core box more threads only contend
    torch.set_num_threads(1)
    yield 1
    torch.set_num_threads(threads)


def test_cache_random_batch_throughput(benchmark, faces, one_thread) -> None:
    benchmark.extra_info["torch_threads"] = one_thread
    rng = np.random.default_rng(0)
    n = len(faces)

    def batch():
        index = np.sort(rng.choice(n, BATCH, replace=False))
        return faces.tensors(index)

    x, y = benchmark.pedantic(batch, rounds=300, warmup_rounds=10)
    assert x.shape == (BATCH, 3, 64, 64) and y.shape == (BATCH,)
    benchmark.extra_info["img_per_s"] = round(BATCH / benchmark.stats.stats.mean)
    benchmark.extra_info["img_per_s_median"] = round(BATCH / benchmark.stats.stats.median)
    benchmark.extra_info["faces_in_cache"] = n
