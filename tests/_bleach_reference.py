"""A fixed, seeded Pixel Bleach fit whose outputs are stored in ``tests/data/`` (the paper_literal reference).

``reference_outputs(**options)`` builds a small detector (seeded, trained a few steps on
"HQ" faces), fits ``PixelBleach(**options)`` on "LQ" faces and returns the fit's history,
the generator's parameters and buffers, and the logits on a few faces. The stored file was
made with the code before the re-read (``variant`` did not exist), by
``python tests/_bleach_reference.py``; ``variant="paper_literal"`` must reproduce it within the spread between hosts
(tests/test_pixel_bleach_reread.py says how much), and bit for bit within one process.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from _toy import TwoConvDetector, checkerboard_faces, train_toy

from bench.core.faceset import FaceSet

SIZE = 32
REFERENCE = Path(__file__).parent / "data" / "pixel_bleach_paper_literal.npz"
FIT = dict(epochs=2, batch_size=16, base_channels=16, seed=0, progress=False)


RefDetector = TwoConvDetector


def faces(n: int, seed: int, amplitude: float) -> FaceSet:
    """Flat noisy faces; fakes carry a checkerboard of ``amplitude`` (0.04 "HQ", 0.012 "LQ")."""
    return checkerboard_faces(n, seed, amplitude, SIZE)


def detector() -> RefDetector:
    torch.manual_seed(0)
    return train_toy(RefDetector(), faces(96, 0, 0.04), epochs=2)


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
