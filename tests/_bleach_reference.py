"""A fixed, seeded Pixel Bleach fit whose outputs are stored in ``tests/data/`` (the paper_literal reference).

``reference_outputs(**options)`` builds a small detector (seeded, trained a few steps on
"HQ" faces), fits ``PixelBleach(**options)`` on "LQ" faces and returns the fit's history,
the generator's parameters and buffers, and the logits on a few faces. The stored file was
made with the code before the re-read (``variant`` did not exist), by
``python tests/_bleach_reference.py``; ``variant="paper_literal"`` must reproduce it bit for bit.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bleachbench.datasets.faceset import FaceSet
from bleachbench.detectors.base import Detector

SIZE = 32
REFERENCE = Path(__file__).parent / "data" / "pixel_bleach_paper_literal.npz"
FIT = dict(epochs=2, batch_size=16, base_channels=16, seed=0, progress=False)


class RefDetector(Detector):
    """Two conv layers with BatchNorm and a 64-d pooled feature after a ReLU."""

    input_size = SIZE
    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(64, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def faces(n: int, seed: int, amplitude: float) -> FaceSet:
    """Flat noisy faces; fakes carry a checkerboard of ``amplitude`` (0.04 "HQ", 0.012 "LQ")."""
    g = np.random.default_rng(seed)
    labels = g.integers(0, 2, n)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    pattern = (((yy + xx) % 2) * 2 - 1)[None, :, :, None].astype(np.float64)
    img = g.uniform(0.3, 0.7, (n, 1, 1, 3)) + 0.08 * g.standard_normal((n, SIZE, SIZE, 3))
    img = np.clip(img + amplitude * labels[:, None, None, None] * pattern, 0, 1)
    return FaceSet((img * 255).round().astype(np.uint8), labels.astype(np.int64),
                   np.where(labels == 1, "Deepfakes", "real"), np.array([f"v{i}" for i in range(n)]))


def detector() -> RefDetector:
    torch.manual_seed(0)
    det = RefDetector()
    hq = faces(96, 0, 0.04)
    opt = torch.optim.Adam(det.parameters(), 3e-3)
    for _ in range(2):
        for i in range(0, len(hq), 32):
            x, y = hq.tensors(slice(i, i + 32))
            loss = F.cross_entropy(det(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    det.zero_grad(set_to_none=True)
    return det.eval()


def reference_outputs(**options) -> dict[str, np.ndarray]:
    """Fit ``PixelBleach(**FIT, **options)`` on the fixed problem; its history, state and logits."""
    from bleachbench.methods.pixel_bleach import PixelBleach

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU reductions differ by thread count; one thread is reproducible
    try:
        return _fit(PixelBleach, options)
    finally:
        torch.set_num_threads(threads)


def _fit(cls, options) -> dict[str, np.ndarray]:
    det = detector()
    train, val, test = faces(48, 1, 0.012), faces(16, 2, 0.012), faces(8, 3, 0.012)
    method = cls(**FIT, **options)
    with tempfile.TemporaryDirectory() as tmp:
        result = method.fit(det, train, val, Path(tmp), torch.device("cpu"))
    out = {f"history_{k}": np.array([h[k] for h in result["history"]], dtype=np.float64)
           for k in ("loss_total", "loss_rem", "loss_reg", "loss_ce", "acc", "auc")}
    out["best_epoch"] = np.array(result["best_epoch"])
    for k, v in method.generator.state_dict().items():  # sha256 of the exact bytes (small file)
        out[f"state_{k}"] = np.array(hashlib.sha256(v.detach().cpu().numpy().tobytes()).hexdigest())
    out["logits"] = method.predict(test.tensors(slice(None))[0]).numpy()
    out["torch_version"] = np.array(torch.__version__)
    return out


if __name__ == "__main__":  # regenerate (only with the code the reference is meant to pin)
    outputs = reference_outputs(**dict(a.split("=", 1) for a in sys.argv[1:]))
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, **outputs)
    print(REFERENCE, {k: v.shape for k, v in outputs.items()})
