"""The host side of a harness training step at paper size: FaceDataset + mmengine's collate
over 299 px faces (batch 32), against a bare loop that fancy-indexes a batch at once.

On a GPU this is what the CPU does per step while the GPU waits (num_workers=0, the paper
profile's default): on the first H200 check the harness lagged a bare loop by 7-11 ms a
batch, about what the CHW-view collate cost before FaceDataset kept HWC items. Run with
``pytest tests/benchmarks --benchmark-only``; compare the two rows of one run.
"""

from __future__ import annotations

import numpy as np
import torch
from mmengine.dataset import DefaultSampler, default_collate
from torch.utils.data import DataLoader

from bench.core.faceset import FaceSet
from bench.run.training import FaceDataset

SIZE, BATCH, N = 299, 32, 256


def _faces() -> FaceSet:
    rng = np.random.default_rng(0)
    labels = (np.arange(N) % 2).astype(np.int64)
    images = rng.integers(0, 256, size=(N, SIZE, SIZE, 3), dtype=np.uint8)
    return FaceSet(images, labels, np.where(labels == 1, "FaceSwap", "real"),
                   np.array([f"v{i}" for i in range(N)]))


def test_harness_loader(benchmark):
    torch.set_num_threads(1)
    faces = _faces()
    data = FaceDataset(faces)
    loader = DataLoader(data, batch_size=BATCH, sampler=DefaultSampler(data, shuffle=True),
                        collate_fn=default_collate, num_workers=0)

    def epoch() -> int:
        return sum(len(batch["inputs"]) for batch in loader)

    assert benchmark(epoch) == N


def test_bare_fancy_index(benchmark):
    torch.set_num_threads(1)
    faces = _faces()
    order = np.random.default_rng(0).permutation(N)

    def epoch() -> int:
        total = 0
        for i in range(0, N, BATCH):
            x = torch.from_numpy(faces.images[np.sort(order[i:i + BATCH])])
            y = torch.from_numpy(np.asarray(faces.labels)[np.sort(order[i:i + BATCH])])
            total += len(x) + 0 * len(y)
        return total

    assert benchmark(epoch) == N
