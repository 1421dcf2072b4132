"""Pixel Bleach's per-run arrays (:meth:`BleachArtifacts.artifacts`): a seeded subsample of test
faces, features and margins before and after the bleach, eight pictures, the fit's curves."""

from __future__ import annotations

import numpy as np
import torch

from bench.core.faceset import FaceSet
from bench.core.method import Method
from bleachbench.methods.bleach_passes import _batches

N_SUBSAMPLE, N_IMAGES = 512, 8


def artifact_subsample(labels: np.ndarray, n: int = N_SUBSAMPLE, seed: int = 0) -> np.ndarray:
    """At most ``n`` indices, sorted, seeded: up to ``n // 2`` of each class, topped up from the other."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in (0, 1)]
    take = [min(len(p), n // 2) for p in pools]
    for c in (0, 1):  # give what one class lacks to the other
        take[c] = min(len(pools[c]), n - take[1 - c])
    return np.sort(np.concatenate([pools[c][: take[c]] for c in (0, 1)])).astype(np.int64)


class BleachArtifacts(Method):
    """:meth:`artifacts` of a fitted bleach (a mixin of :class:`methods.pixel_bleach.PixelBleach`)."""

    @torch.no_grad()
    def artifacts(self, faces: FaceSet, device: torch.device,
                  recorded: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """The shared Pixel Bleach arrays (BRIEF/README) on a seeded subsample of ``faces``.

        ``recorded``: :meth:`predict_recording`'s arrays for every face of ``faces``, in order
        (the engine's test prediction); the subsample is read from them instead of passing
        its faces through the detector again. Without it, the subsample is predicted here.
        """
        self._check_input(faces.tensors(slice(0, 1))[0] if len(faces) else torch.zeros(1, 3, 1, 1))
        assert self._detector is not None and self.generator is not None
        self._detector.eval()
        self.generator.eval()
        idx = artifact_subsample(faces.labels, N_SUBSAMPLE, self.seed)
        keys = ("phi_before", "phi_after", "margin_before", "margin_after")
        if recorded is not None:
            short = [k for k in keys if len(recorded.get(k, ())) != len(faces)]
            if short:
                raise ValueError(f"pixel_bleach.artifacts: recorded arrays {short} do not hold "
                                 f"one row per face of the {len(faces)} faces")
            parts = {k: [np.asarray(recorded[k])[idx]] for k in keys}
        else:
            parts = {k: [] for k in keys}
            for chunk in _batches(idx, self.batch_size * 2):
                recorded_here = self.predict_recording(faces.tensors(chunk)[0])[1]
                for k in keys:
                    parts[k].append(recorded_here[k].float().cpu().numpy())
        labels = np.asarray(faces.labels)[idx]
        # eight faces for pictures: the first of each class in subsample order, alternating
        by_class = [idx[labels == c] for c in (0, 1)]
        pics = [i for pair in zip(*(list(b) + [None] * N_IMAGES for b in by_class)) for i in pair]
        pics = np.array([i for i in pics if i is not None][:N_IMAGES], dtype=np.int64)
        x = faces.tensors(pics)[0].to(self._device)
        bleached = self._bleach(x)[0]
        hist = self._history
        return {
            "idx_sub": idx,
            "label_sub": labels.astype(np.int8),
            "phi_before": np.concatenate(parts["phi_before"]).astype(np.float16),
            "phi_after": np.concatenate(parts["phi_after"]).astype(np.float16),
            "margin_before": np.concatenate(parts["margin_before"]).astype(np.float32),
            "margin_after": np.concatenate(parts["margin_after"]).astype(np.float32),
            "images_original": np.asarray(faces.images[pics], dtype=np.uint8),
            "images_bleach": (bleached - x).permute(0, 2, 3, 1).float().cpu().numpy().astype(np.float16),
            "images_bleached": (bleached.clamp(0, 1) * 255).round().to(torch.uint8)
            .permute(0, 2, 3, 1).cpu().numpy(),
            "curve_epoch": np.array([h["epoch"] for h in hist], dtype=np.int64),
            "curve_train_loss": np.array([h["loss_total"] for h in hist], dtype=np.float64),
            "curve_val_acc": np.array([h["acc"] for h in hist], dtype=np.float64),
            "curve_val_auc": np.array(
                [np.nan if h["auc"] is None else h["auc"] for h in hist], dtype=np.float64
            ),
        }
