"""The three losses of Pixel Bleach (Sec. III-C, Eqs. 5-7) and their weighted total.

- :func:`remedy_loss` is L_rem (Eq. 5): pull the bleached features of the
  samples the frozen detector gets wrong (FP and FN) toward a target feature,
  push the bleached features of the others away from the origin.
- :func:`regularization_loss` is L_reg (Eq. 6) under one of three readings
  (:data:`REG_MODES`), because the equation taken literally cannot keep the
  bleach small.
- :func:`ce_loss` is L_ce, the cross-entropy of the frozen detector on the
  bleached image.
- :func:`total_loss` is Eq. 7: ``L_rem + alpha L_reg + gamma L_ce``.

Every square root goes through :func:`safe_sqrt`, whose gradient stays finite
at zero (a batch with no wrong sample gives a pull term of exactly 0 and no NaN).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from bench.core.faceset import FaceSet
from bench.core.method import Method
from bleachbench.methods.bleach_generator import compensate, logit_margin

#: Readings of Eq. 6, ``sqrt(mean((k * I_bl - I_0)^2))`` with ``I_0`` the LQ image.
#:
#: - ``"scaled_diff"`` (default): ``sqrt(mean((k * (I_bl - I_0))^2))`` = k times
#:   the RMS of the added bleach. Its minimum is "no bleach", so the bleach stays
#:   zero wherever L_ce and L_rem gain less than it costs; k is the strength.
#: - ``"ratio"``: ``I_bl`` read as the (scaled) bleach ``I_bl - I_0``:
#:   ``sqrt(mean((k * (I_bl - I_0) - I_0)^2))``, minimal when the bleach equals
#:   ``I_0 / k``, i.e. a bleach-to-image pixel ratio of 1/k (Table IX reports
#:   such a "B/I" ratio).
#: - ``"literal"``: the equation as printed, ``I_bl`` the bleached image. With
#:   k = 50 it is minimal when the bleached image is ``I_0 / 50`` (a nearly black
#:   image), the opposite of a small bleach; kept for the ablation only.
REG_MODES = ("scaled_diff", "ratio", "literal")


def safe_sqrt(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``sqrt(x)`` with a finite gradient at 0 (values below ``eps`` get no gradient)."""
    return torch.sqrt(x.clamp_min(eps))


def remedy_loss(
    phi_bl: torch.Tensor, phi_tar: torch.Tensor, wrong: torch.Tensor, tau: float = 0.2
) -> torch.Tensor:
    """L_rem (Eq. 5).

    ``(1/sqrt(B)) sqrt(sum_{wrong} ||phi_bl - phi_tar||^2)
    - (tau/sqrt(B)) sqrt(sum_{right} ||phi_bl||^2)``, with B the batch size and
    ``wrong`` (the paper's E) a bool ``[B]`` marking the FP and FN of the frozen
    detector on the unbleached LQ input. ``phi_tar`` is ``[B, D]`` (only its
    wrong rows are used). A term with no sample in it is exactly 0.
    """
    if phi_bl.shape != phi_tar.shape or phi_bl.ndim != 2:
        raise ValueError(
            f"remedy_loss: phi_bl {list(phi_bl.shape)} and phi_tar {list(phi_tar.shape)} must both be [B, D]"
        )
    if wrong.shape != phi_bl.shape[:1]:
        raise ValueError(
            f"remedy_loss: wrong must be [B]={phi_bl.shape[0]}, got {list(wrong.shape)}"
        )
    b = phi_bl.shape[0]
    e = wrong.to(phi_bl.dtype)
    pull_sq = ((phi_bl - phi_tar).pow(2).sum(1) * e).sum()
    push_sq = (phi_bl.pow(2).sum(1) * (1.0 - e)).sum()
    zero = phi_bl.sum() * 0.0  # keeps the graph (and device/dtype) when a term is empty
    pull = safe_sqrt(pull_sq) if bool(wrong.any()) else zero
    push = safe_sqrt(push_sq) if bool((~wrong.bool()).any()) else zero
    return (pull - tau * push) / math.sqrt(b)


def regularization_loss(
    bleached: torch.Tensor, original: torch.Tensor, k: float = 50.0, mode: str = "scaled_diff"
) -> torch.Tensor:
    """L_reg (Eq. 6) under reading ``mode`` (see :data:`REG_MODES`); M = all elements."""
    if bleached.shape != original.shape:
        raise ValueError(
            f"regularization_loss: bleached {list(bleached.shape)} vs original {list(original.shape)}"
        )
    if mode == "scaled_diff":
        residual = k * (bleached - original)
    elif mode == "ratio":
        residual = k * (bleached - original) - original
    elif mode == "literal":
        residual = k * bleached - original
    else:
        raise ValueError(f"regularization_loss: unknown mode {mode!r}; expected one of {REG_MODES}")
    return safe_sqrt(residual.pow(2).mean())


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_ce: mean cross-entropy of the detector's logits on the bleached images."""
    return F.cross_entropy(logits, labels)


def total_loss(
    l_rem: torch.Tensor,
    l_reg: torch.Tensor,
    l_ce: torch.Tensor,
    alpha: float = 1.0,
    gamma: float = 2.0,
    use_rem: bool = True,
    use_reg: bool = True,
) -> torch.Tensor:
    """Eq. 7: ``L_rem + alpha L_reg + gamma L_ce``; ``use_rem``/``use_reg`` drop a term (ablations)."""
    total = gamma * l_ce
    if use_rem:
        total = total + l_rem
    if use_reg:
        total = total + alpha * l_reg
    return total


class BleachLossTerms(Method):
    """The scan of LQ train (wrong mask, margins, I, class means, feature RMS) and one batch's
    losses (a mixin of :class:`methods.pixel_bleach.PixelBleach`)."""

    def _scan(self, faces: FaceSet) -> dict[str, np.ndarray]:
        """Frozen pass over LQ train: wrong mask, margins and I; sets the class means and feature RMS."""
        assert self._detector is not None
        n = len(faces)
        wrong = np.zeros(n, dtype=bool)
        margin = np.zeros(n, dtype=np.float32)
        direction = np.zeros(n, dtype=np.int8)
        sums = torch.zeros(2, self._detector.feature_dim, dtype=torch.float64)
        counts = torch.zeros(2, dtype=torch.float64)
        all_sums, all_counts = sums.clone(), counts.clone()
        square_sum = 0.0
        with torch.no_grad():
            for idx, _, y, phi, _, logits in self._frozen_batches(faces, self.batch_size * 2):
                pred = logits.argmax(1).cpu()
                ok = pred == y
                wrong[idx] = (~ok).numpy()
                margin[idx] = logit_margin(logits).float().cpu().numpy()
                direction[idx] = self._direction(logits).cpu().numpy().astype(np.int8)
                phi = phi.double().cpu()
                square_sum += float(phi.pow(2).sum())
                for c in (0, 1):
                    sel = (y == c) & ok
                    sums[c] += phi[sel].sum(0)
                    counts[c] += sel.sum()
                    all_sums[c] += phi[y == c].sum(0)
                    all_counts[c] += (y == c).sum()
        # A class with no correctly classified face falls back to the mean of all its faces.
        means = torch.where(
            counts[:, None] > 0,
            sums / counts.clamp_min(1)[:, None],
            all_sums / all_counts.clamp_min(1)[:, None],
        )
        self._class_means = means.float().to(self._device)
        rms = math.sqrt(square_sum / max(n * self._detector.feature_dim, 1))
        self._feature_rms = rms if rms > 0 else 1.0
        return {
            "train_label": np.asarray(faces.labels).astype(np.int8),
            "train_wrong": wrong,
            "train_margin": margin,
            "train_direction": direction,
        }

    def _losses(self, x: torch.Tensor, y: torch.Tensor,
                frozen: tuple[torch.Tensor, ...] | None = None) -> dict[str, torch.Tensor]:
        assert self._detector is not None
        bleached, feature, logits, direction = self._bleach(x, frozen)
        wrong = logits.argmax(1) != y
        if self.phi_tar == "reflect":
            phi_tar = feature + compensate(feature, direction, self.m)
        else:
            assert self._class_means is not None
            phi_tar = self._class_means[y]
        feature_bl, phi_bl = self._feature_pair(bleached)
        logits_bl = self._detector.classify(phi_bl)
        if self.input_space == "pixel":
            reg = regularization_loss(bleached, x, self.k, self.reg_mode)
        else:
            norm = self._detector.normalize
            reg = regularization_loss(norm(bleached), norm(x), self.k, self.reg_mode)
        parts = {
            "rem": remedy_loss(self._rem_units(feature_bl), self._rem_units(phi_tar), wrong, self.tau),
            "reg": reg,
            "ce": ce_loss(logits_bl, y),
        }
        parts["total"] = total_loss(
            parts["rem"],
            parts["reg"],
            parts["ce"],
            self.alpha,
            self.gamma,
            self.use_rem,
            self.use_reg,
        )
        return parts
