"""One process of the two-process gloo test (started by torchrun from tests/test_training.py).

Usage: torchrun --nproc_per_node 2 tests/_ddp_worker.py WORK_DIR OUT_DIR
Each rank trains the `tiny` detector for one epoch on 16 faces with launcher
'pytorch' and writes its returned dict to OUT_DIR/rank<r>.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from bench.core.faceset import FaceSet
from bench.core.registry import DETECTORS, build
from bench.run.training import train_detector


def faces(n: int, size: int = 32, seed: int = 0) -> FaceSet:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = rng.integers(60, 120, size=(n, size, size, 3)).astype(np.uint8)
    images[labels == 1, ::2] += 100
    manip = np.where(labels == 1, "FaceSwap", "real")
    return FaceSet(images, labels, manip, np.array([f"v{i}" for i in range(n)]))


def main() -> None:
    work_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    det = build(DETECTORS, "tiny")
    result = train_detector(
        det, faces(16), faces(8, seed=1), work_dir, epochs=1, batch_size=4, lr=1e-2,
        device="cpu", launcher="pytorch", progress=False,
    )
    rank, world = dist.get_rank(), dist.get_world_size()
    head = det.head.weight.detach().flatten()[:4].tolist()
    (out_dir / f"rank{rank}.json").write_text(
        json.dumps({"rank": rank, "world": world, "head": head, **result})
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
