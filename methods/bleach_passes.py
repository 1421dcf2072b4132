"""Pixel Bleach's passes over face sets: the frozen detector's pass kept for the fit, the
generator's BatchNorm recalibration and the val evaluation (a mixin of
:class:`methods.pixel_bleach.PixelBleach`).

Speed, not part of the method (``frozen_cache_mb``, default 1024, not in ``params()``): the
frozen detector's pass on the unbleached faces (feature, phi, logits) does not change while
the generator trains, so the fit keeps it from the scan of LQ train and the first val epoch
when it fits in that many MiB, instead of repeating it every step: one of the four detector
passes of a training step. Where a fresh pass would round differently (batches under
:data:`EXACT_BATCH` faces on a CPU) the pass is made afresh, so the fit is the same to the
last bit on a CPU (``tests/test_pixel_bleach.py``); ``0`` always makes it afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.faceset import FaceSet
from bench.core.method import Method
from bench.core.metrics import acc_auc

#: On a CPU (oneDNN, torch 2.14), a frozen detector gives a face the same result, bit for bit, in
#: any batch of at least this many faces, and rounds differently in the last bit in smaller
#: ones (measured on the five detectors at 64 px, 1 thread): :meth:`PixelBleach._frozen_rows`
#: hands back kept rows only where a fresh pass would equal them.
EXACT_BATCH = 16


def _batches(index: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start : start + size]



class BleachPasses(Method):
    """The kept frozen pass, BatchNorm recalibration, val evaluation."""

    def _frozen_batches(
        self, faces: FaceSet, batch: int
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The frozen pass over every face of ``faces``, in order: ``(idx, x, y, feature, phi,
        logits)`` per batch. Kept for :meth:`_frozen_rows` when all of it fits in
        ``frozen_cache_mb`` (call under ``torch.no_grad()``)."""
        assert self._detector is not None
        keep, parts, spans = None, [], []
        for idx in _batches(np.arange(len(faces)), batch):
            x, y = faces.tensors(idx)
            x = x.to(self._device)
            feature, phi = self._feature_pair(x)
            logits = self._detector.classify(phi)
            if keep is None:
                per_face = sum(t[0].numel() * t.element_size() for t in (feature, phi, logits))
                keep = len(faces) * per_face <= self.frozen_cache_mb * 2**20
            if keep:
                parts.append((feature, phi, logits))
                spans.append((int(idx[0]), len(idx)))
            yield idx, x, y, feature, phi, logits
        if keep:
            exact = np.concatenate([np.full(k, k >= EXACT_BATCH) for _, k in spans])
            self._frozen[id(faces)] = (faces, set(spans), exact,
                                       *(torch.cat([p[i] for p in parts]) for i in range(3)))

    def _frozen_rows(self, faces: FaceSet, idx: np.ndarray) -> tuple[torch.Tensor, ...] | None:
        """``(feature, phi, logits)`` of ``faces[idx]`` from the kept frozen pass, or None
        (then the caller makes a fresh pass).

        The detector is frozen and in eval mode, so a face's pass depends on the other faces
        of its batch only through the kernel the batch size selects. Kept rows are handed
        back where a fresh pass would equal them: ``idx`` is one of the kept pass's own
        batches (val, every epoch), or ``idx`` and the batches that computed its rows all
        hold at least :data:`EXACT_BATCH` faces. On a CPU the fit is then the same to the
        last bit (tests/test_pixel_bleach.py); on a GPU a kernel may still round
        differently. It saves one of the four detector passes of a training step and one
        of the two of every val epoch after the first."""
        entry = self._frozen.get(id(faces))
        if entry is None or entry[0] is not faces:
            return None
        idx = np.asarray(idx, dtype=np.int64)
        own_batch = len(idx) > 0 and (int(idx[0]), len(idx)) in entry[1] and bool(
            np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))))
        if not own_batch and (len(idx) < EXACT_BATCH or not entry[2][idx].all()):
            return None
        sel = torch.as_tensor(idx, device=entry[3].device)
        return tuple(t.index_select(0, sel) for t in entry[3:])

    @torch.no_grad()
    def _recalibrate_bn(self, faces: FaceSet, index: np.ndarray) -> None:
        """Exact BatchNorm statistics of the generator over ``faces[index]`` (momentum None = cumulative mean)."""
        assert self.generator is not None and self._detector is not None
        norms = [
            mod
            for mod in self.generator.modules()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm)
        ]
        if not norms:  # generator_norm="none": nothing to recalibrate
            return
        saved = [mod.momentum for mod in norms]
        for mod in norms:
            mod.reset_running_stats()
            mod.momentum = None
        self.generator.train()
        for idx in _batches(index, self.batch_size):
            if len(idx) >= 2:
                x, _ = faces.tensors(idx)
                self._bleach(x.to(self._device), self._frozen_rows(faces, idx))
        for mod, momentum in zip(norms, saved):
            mod.momentum = momentum
        self.generator.eval()

    @torch.no_grad()
    def _evaluate(self, faces: FaceSet) -> dict[str, Any]:
        """Accuracy, AUC (None with one class) and mean |x_bl - x| of the current generator on ``faces``."""
        assert self._detector is not None and self.generator is not None
        self.generator.eval()
        probs, labels, abs_sum, n_px = [], [], 0.0, 0
        batch = self.batch_size * 2
        if id(faces) in self._frozen:  # the frozen pass kept from the first epoch
            stream = ((*faces.tensors(idx), self._frozen_rows(faces, idx))
                      for idx in _batches(np.arange(len(faces)), batch))
        else:
            stream = ((x, y, (f, p, lg)) for _, x, y, f, p, lg in self._frozen_batches(faces, batch))
        for x, y, frozen in stream:
            x = x.to(self._device)
            bleached, _, _, _ = self._bleach(x, frozen)
            probs.append(self._detector(bleached).softmax(1)[:, 1].float().cpu())
            labels.append(y)
            abs_sum += float((bleached - x).abs().sum())
            n_px += x.numel()
        p, t = torch.cat(probs).numpy(), torch.cat(labels).numpy()
        acc, auc = acc_auc(t, p)
        return {"acc": acc, "auc": auc, "mean_abs_bleach": abs_sum / max(n_px, 1)}
