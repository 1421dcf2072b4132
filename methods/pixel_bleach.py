"""Pixel Bleach (Li, Zheng et al., IEEE TMM 2023): learn a bleach that undoes compression for a frozen detector.

For a compressed face x and the frozen detector (trained on HQ):
``phi = features(x)``; ``delta_phi* = -2 phi + m I phi`` (Eq. 4, I = sign of the
logit margin, see :mod:`methods.bleach_generator`); a DCGAN-style generator maps
``delta_phi*`` to a bleach in ``[-1, 1]``; ``bleached = x + s * bleach`` goes
through the same frozen detector. Trained with ``L_rem + alpha L_reg + gamma
L_ce`` (:mod:`methods.bleach_losses`), Adam (lr 2e-4, weight decay 1e-8), on
the balanced offset set: every FP and FN of the frozen detector on the LQ train
split plus a seeded random sample of correctly classified faces. The generator
state of the epoch with the best LQ val metric is kept (never test).

Two readings (``variant``), each a set of defaults for the keys below; any key
given explicitly overrides its variant's value:

============================  =====================  ==========================
key                           ``paper_literal``      ``reread`` (default)
============================  =====================  ==========================
``feature_space``             ``"phi"``              ``"pre_activation"``
``feature_scale``             ``"none"``             ``"train_rms"``
``direction_bias``            True                   False
``generator_norm``            ``"batch"``            ``"none"``
``condition_on_direction``    False                  True
``input_space``               ``"pixel"``            ``"normalized"``
``select_metric``             ``"acc"``              ``"acc_auc"``
============================  =====================  ==========================

``paper_literal`` is the reading this harness shipped first, kept bit for bit
(``tests/data/pixel_bleach_paper_literal.npz``). It collapses the features: phi
is the pooled feature after the last ReLU (every entry >= 0), so L_rem's target
``(m I - 1) phi`` (<= 0) is reachable only by phi_bl = 0; L_rem's scale follows
the detector's feature norm (6-10 against L_ce's 1.6-2.1 on the quick Xception);
BatchNorm after the bias-free first layer removes the factor ``m I - 2`` that is
all a batch of equal I carries; I includes the head's bias, which the paper's
``Delta f = <Delta w, phi>`` does not; s = 1 in [0, 1] pixels is twice that in
Xception's [-1, 1] input. ``reread`` changes exactly these, for these reasons:

- ``feature_space``: ``"pre_activation"`` takes the feature that L_rem and the
  generator see at the detector's pooled input of its last activation
  (:meth:`detectors.base.Detector.feature_pair`), where the reflection through the
  origin that Eq. 3 asks for exists (about half its entries are negative), so
  the target is reachable without erasing the feature. ``"phi"``: the head's input.
  I, E and L_ce always use the head's phi and logits.
- ``feature_scale``: ``"train_rms"`` divides that feature by its RMS element over
  the LQ train faces (measured once before training) for the generator's input
  (elements about 1), and L_rem additionally by ``sqrt(D)`` (a face's feature
  norm about 1), so L_rem weighs the same against L_ce for every detector.
  ``"none"``: raw features.
- ``direction_bias``: False takes I = sign of ``<w_fake - w_real, phi>`` (the
  margin minus the head's bias margin), the paper's Delta f; True includes the
  bias (the decision's sign). E (wrong) is always the decision with the bias.
- ``generator_norm``, ``condition_on_direction``: see
  :mod:`methods.bleach_generator`; ``"none"`` + True keep what I and m carry
  (a batch of equal I no longer loses them to BatchNorm, and I is an input).
- ``input_space``: ``"normalized"`` adds ``s * bleach`` in the detector's
  normalised input (``x + s * std * bleach`` in pixels, so s means the same for
  every detector) and measures L_reg there; ``"pixel"`` adds ``s * bleach`` to
  the [0, 1] pixels and measures L_reg there.
- ``select_metric``: the val score that picks the kept epoch: ``"acc"``,
  ``"auc"``, or ``"acc_auc"`` = (acc + AUC) / 2, so that neither a threshold
  shift that costs ranking (acc alone) nor a ranking that decides badly (AUC
  alone) wins by itself. A val set with one class has no AUC: acc is used.

Choices where the paper is vague (each a keyword argument):

- ``s``: the paper calls s both a factor on F3-Net's last-layer output
  (Sec. IV-B) and the scale of the generated bleach (Sec. IV-C1, Table V, Fig. 6).
  We implement the second, ``bleached = x + s * bleach``: the generator
  BatchNorm-normalises its input after the first layer, so a factor on the
  feature would be all but absorbed, whereas Table V and Fig. 6 describe the
  bleach's magnitude corrupting the image at s = 1. ``s=None`` means the
  per-detector default: 0.01 for F3-Net (registered name or class name
  ``f3net``, case and punctuation ignored), 1.0 otherwise.
- ``phi_tar`` (target of L_rem's pull): ``"reflect"`` (default) is
  ``phi + delta_phi*``, the reconstructed and compensated feature the text
  names; ``"class_mean"`` is the mean feature of the true class over the LQ
  train faces the frozen detector gets right (no HQ data is given to a method);
  both in ``feature_space``.
- ``reg_mode``: the reading of Eq. 6 (:data:`methods.bleach_losses.REG_MODES`);
  default ``"scaled_diff"``, k times the RMS of the added bleach.
- ``balance_ratio``: correct faces sampled per wrong face (1.0: as many correct
  as wrong). With no wrong face at all, ``batch_size`` correct faces are used.
- ``clamp``: False (default) leaves ``x + s * bleach`` unclamped (the detector
  normalises any float input and the gradient never saturates); True clamps to [0, 1].
- I and the wrong mask E come from the frozen detector on the unbleached LQ face.
- A last training batch of a single face is dropped (BatchNorm needs two).
- ``zero_init`` (default True, not in the paper): the generator's last layer starts
  at zero, so training starts from bleach = 0, the frozen detector as it is
  (see :meth:`methods.bleach_generator.BleachGenerator.reset_parameters`).

Speed, not part of the method (``frozen_cache_mb``, default 1024, not in ``params()``): the
frozen detector's pass on the unbleached faces (feature, phi, logits) does not change while
the generator trains, so the fit keeps it from the scan of LQ train and the first val epoch
when it fits in that many MiB, instead of repeating it every step: one of the four detector
passes of a training step. Where a fresh pass would round differently (batches under
:data:`EXACT_BATCH` faces on a CPU) the pass is made afresh, so the fit is the same to the
last bit on a CPU (``tests/test_pixel_bleach.py``); ``0`` always makes it afresh.

``fit`` writes ``generator.pt``, ``done.json`` and ``arrays.npz`` to ``work_dir``
and returns the stored result when they exist for the same parameters.
``arrays.npz`` holds, for every LQ train face, ``train_label`` int8,
``train_wrong`` bool (the frozen detector's FP/FN), ``train_margin`` float32
(logit fake - real, bias included) and ``train_direction`` int8 (the I used),
and ``offset_index`` int64 (the balanced offset set, indices into LQ train);
``python -m bench diagnose`` reads it. :meth:`PixelBleach.artifacts` returns the
arrays of the shared convention (a seeded subsample of at most 512 test faces of
both classes: features and margins before and after the bleach, eight faces
original / bleach / bleached, and the fit's curves). ``last.pt`` (saved every
epoch) resumes an interrupted fit. The detector stays in eval mode, its
parameters get ``requires_grad=False`` during fit (restored after) and only the
generator's parameters are in the optimiser.

Devices: the fit runs on one device (the CPU or one GPU), also under ``torchrun``, where
the detector's training is distributed but each rank then fits the same generator (same
seed, same faces). It stays single-device on purpose: the generator's BatchNorm statistics
are part of the method (the paper's batches of 14, and their exact recalibration over the
offset set after every epoch), and splitting a batch over GPUs would change them unless
SyncBatchNorm replaced them, which would change the method; and a grid holds many
independent fits (one per detector, manipulation and setting), which ``bench run
--executor local|slurm`` spreads over GPUs with no communication (``bench/run/executor.py``).
``make gpu-check`` measures one fit epoch's img/s (``bleach_fit``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from bench.core.detector import Detector
from bench.core.errors import check_finite
from bench.core.faceset import FaceSet
from bench.core.fit_data import FitData
from bench.core.method import Method, fake_probability, reject_unknown_options
from bench.core.registry import METHODS
from bench.core.schema import Rule
from bleachbench.methods.bleach_generator import (
    NORMS,
    BleachGenerator,
    compensate,
    logit_margin,
    offset_direction,
)
from bleachbench.methods.bleach_losses import (
    REG_MODES,
    ce_loss,
    regularization_loss,
    remedy_loss,
    total_loss,
)

SCALE_DEFAULTS: dict[str, float] = {"f3net": 0.01}  # normalised detector name -> default s
PHI_TARGETS = ("reflect", "class_mean")
SELECT_METRICS = ("acc", "auc", "acc_auc")
FEATURE_SPACES = ("phi", "pre_activation")
FEATURE_SCALES = ("none", "train_rms")
INPUT_SPACES = ("pixel", "normalized")
#: the defaults of each reading (see the module docstring); an explicit key overrides them
VARIANTS: dict[str, dict[str, Any]] = {
    "paper_literal": {
        "feature_space": "phi", "feature_scale": "none", "direction_bias": True,
        "generator_norm": "batch", "condition_on_direction": False, "input_space": "pixel",
        "select_metric": "acc",
    },
    "reread": {
        "feature_space": "pre_activation", "feature_scale": "train_rms", "direction_bias": False,
        "generator_norm": "none", "condition_on_direction": True, "input_space": "normalized",
        "select_metric": "acc_auc",
    },
}  # fmt: skip
#: On a CPU (oneDNN, torch 2.14), a frozen detector gives a face the same result, bit for bit, in
#: any batch of at least this many faces, and rounds differently in the last bit in smaller
#: ones (measured on the five detectors at 64 px, 1 thread): :meth:`PixelBleach._frozen_rows`
#: hands back kept rows only where a fresh pass would equal them.
EXACT_BATCH = 16
CHECKPOINT, DONE, LAST, ARRAYS = "generator.pt", "done.json", "last.pt", "arrays.npz"
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


def select_score(val: dict[str, Any], metric: str) -> float:
    """The val score ``metric`` names; acc where AUC is undefined (one class)."""
    if val["auc"] is None or metric == "acc":
        return float(val["acc"])
    if metric == "auc":
        return float(val["auc"])
    return (float(val["acc"]) + float(val["auc"])) / 2


def detector_name(detector: nn.Module) -> str:
    """The detector's ``name`` class attribute, else its class name; lowercased, alphanumerics only."""
    name = getattr(type(detector), "name", None)
    if not isinstance(name, str) or not name:
        name = type(detector).__name__
    return re.sub(r"[^a-z0-9]", "", name.lower())


def default_scale(detector: nn.Module) -> float:
    """The per-detector default bleach scale s: 0.01 for F3-Net, 1.0 otherwise."""
    return SCALE_DEFAULTS.get(detector_name(detector), 1.0)


def balanced_offset_indices(
    wrong: np.ndarray, ratio: float = 1.0, seed: int = 0, min_correct: int = 0
) -> np.ndarray:
    """Every wrong index plus ``round(ratio * n_wrong)`` correct ones sampled without replacement (seeded).

    At least ``min_correct`` correct ones are taken (used when nothing is wrong);
    never more than exist. Returned sorted.
    """
    wrong = np.asarray(wrong, dtype=bool)
    wrong_idx, right_idx = np.flatnonzero(wrong), np.flatnonzero(~wrong)
    n_right = min(len(right_idx), max(int(round(ratio * len(wrong_idx))), min_correct))
    picked = np.random.default_rng(seed).choice(right_idx, size=n_right, replace=False)
    return np.sort(np.concatenate([wrong_idx, picked]).astype(np.int64))


@contextlib.contextmanager
def frozen(detector: nn.Module) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` for the block; the flags (not the mode) are restored after."""
    flags = [p.requires_grad for p in detector.parameters()]
    detector.eval()
    for p in detector.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(detector.parameters(), flags):
            p.requires_grad_(flag)


def _batches(index: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start : start + size]


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        if path.suffix == ".json":
            tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
        else:
            torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk or a kill leaves no half-written temp file behind
        tmp.unlink(missing_ok=True)
        raise


def _save_atomic_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@METHODS.register_module(name="pixel_bleach")
class PixelBleach(Method):
    """Pixel Bleach (TMM 2023): a generator adds a learned bleach to LQ faces before the frozen detector."""

    retrains_detector: ClassVar[bool] = False
    needs_paired_hq_lq: ClassVar[bool] = False
    #: keys of ``params()``; a caller may filter profile sections with it
    config_keys: ClassVar[tuple[str, ...]] = (
        "epochs", "batch_size", "lr", "weight_decay", "s", "m", "alpha", "gamma", "k", "tau",
        "use_rem", "use_reg", "phi_tar", "reg_mode", "balance_ratio", "clamp", "select_metric",
        "base_channels", "zero_init", "seed", "variant", "feature_space", "feature_scale",
        "direction_bias", "generator_norm", "condition_on_direction", "input_space",
        "frozen_cache_mb", "select_untrained",
    )  # fmt: skip
    #: keys that change how fast a fit runs, never what it computes: not in ``params()``
    runtime_keys: ClassVar[tuple[str, ...]] = ("frozen_cache_mb",)
    #: types and ranges of its keys, checked with the configuration before any work
    #: (bench/core/schema.py; the same checks as __init__'s)
    config_ranges: ClassVar[dict[str, Rule]] = {
        "batch_size": Rule("int", lo=2),
        "s": Rule("float", lo=0, open_lo=True, optional=True),
        "balance_ratio": Rule("float", lo=0),
        "frozen_cache_mb": Rule("float", lo=0),
        "phi_tar": Rule("str", choices=PHI_TARGETS),
        "reg_mode": Rule("str", choices=REG_MODES),
        "variant": Rule("str", choices=tuple(VARIANTS)),
        "select_metric": Rule("str", choices=SELECT_METRICS, optional=True),
        "feature_space": Rule("str", choices=FEATURE_SPACES, optional=True),
        "feature_scale": Rule("str", choices=FEATURE_SCALES, optional=True),
        "generator_norm": Rule("str", choices=NORMS, optional=True),
        "input_space": Rule("str", choices=INPUT_SPACES, optional=True),
    }
    # predict_recording records "frozen_prob", the unmodified detector's P(fake) on the faces
    # as given, from the frozen pass it makes anyway: the engine takes the `none` cells of the
    # same faces from it instead of passing them through the detector once more (bench/run/engine.py).
    records_frozen_prob: ClassVar[bool] = True

    def __init__(
        self,
        epochs: int = 20,
        batch_size: int = 16,
        lr: float = 2e-4,
        weight_decay: float = 1e-8,
        s: float | None = None,
        m: float = 0.7,
        alpha: float = 1.0,
        gamma: float = 2.0,
        k: float = 50.0,
        tau: float = 0.2,
        use_rem: bool = True,
        use_reg: bool = True,
        phi_tar: str = "reflect",
        reg_mode: str = "scaled_diff",
        balance_ratio: float = 1.0,
        clamp: bool = False,
        select_metric: str | None = None,
        base_channels: int = 256,
        zero_init: bool = True,
        seed: int = 0,
        variant: str = "reread",
        feature_space: str | None = None,
        feature_scale: str | None = None,
        direction_bias: bool | None = None,
        generator_norm: str | None = None,
        condition_on_direction: bool | None = None,
        input_space: str | None = None,
        frozen_cache_mb: float = 1024.0,
        select_untrained: bool = False,
        progress: bool = True,
        **unknown: Any,
    ) -> None:
        reject_unknown_options("pixel_bleach", unknown, self.config_keys + ("progress",))
        if variant not in VARIANTS:
            raise ValueError(f"pixel_bleach: bad variant={variant!r}; expected one of {list(VARIANTS)}")
        given = {
            "feature_space": feature_space, "feature_scale": feature_scale,
            "direction_bias": direction_bias, "generator_norm": generator_norm,
            "condition_on_direction": condition_on_direction, "input_space": input_space,
            "select_metric": select_metric,
        }  # fmt: skip
        reading = {key: VARIANTS[variant][key] if value is None else value for key, value in given.items()}
        for key, value, ok in (
            ("epochs", epochs, isinstance(epochs, int) and epochs >= 1),
            ("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 2),
            ("s", s, s is None or s > 0),
            ("balance_ratio", balance_ratio, balance_ratio >= 0),
            ("frozen_cache_mb", frozen_cache_mb, frozen_cache_mb >= 0),
            ("phi_tar", phi_tar, phi_tar in PHI_TARGETS),
            ("reg_mode", reg_mode, reg_mode in REG_MODES),
            ("select_metric", reading["select_metric"], reading["select_metric"] in SELECT_METRICS),
            ("feature_space", reading["feature_space"], reading["feature_space"] in FEATURE_SPACES),
            ("feature_scale", reading["feature_scale"], reading["feature_scale"] in FEATURE_SCALES),
            ("generator_norm", reading["generator_norm"], reading["generator_norm"] in NORMS),
            ("input_space", reading["input_space"], reading["input_space"] in INPUT_SPACES),
        ):
            if not ok:
                raise ValueError(
                    f"pixel_bleach: bad {key}={value!r} (see the PixelBleach docstring)"
                )
        self.epochs, self.batch_size, self.lr, self.weight_decay = (
            epochs,
            batch_size,
            lr,
            weight_decay,
        )
        self.s, self.m, self.alpha, self.gamma, self.k, self.tau = s, m, alpha, gamma, k, tau
        self.use_rem, self.use_reg, self.phi_tar, self.reg_mode = (
            use_rem,
            use_reg,
            phi_tar,
            reg_mode,
        )
        self.balance_ratio, self.clamp = balance_ratio, clamp
        self.base_channels, self.seed, self.progress = base_channels, seed, progress
        self.zero_init = bool(zero_init)
        self.select_untrained = bool(select_untrained)
        self.frozen_cache_mb = float(frozen_cache_mb)
        # id(face set) -> (the set, batches, feature, phi, logits of every face): _frozen_rows
        self._frozen: dict[int, tuple[Any, ...]] = {}
        self.variant = variant
        self.select_metric: str = reading["select_metric"]
        self.feature_space: str = reading["feature_space"]
        self.feature_scale: str = reading["feature_scale"]
        self.direction_bias = bool(reading["direction_bias"])
        self.generator_norm: str = reading["generator_norm"]
        self.condition_on_direction = bool(reading["condition_on_direction"])
        self.input_space: str = reading["input_space"]
        self.generator: BleachGenerator | None = None
        self._detector: Detector | None = None
        self._device = torch.device("cpu")
        self._scale = 1.0
        self._class_means: torch.Tensor | None = None
        self._feature_rms = 1.0  # RMS element of the feature over LQ train ("train_rms")
        self._bias_margin = 0.0  # the head's b_fake - b_real
        self._history: list[dict[str, Any]] = []

    def params(self) -> dict[str, Any]:
        # select_untrained is left out at its default (False), so that the fits and run ids made
        # before the option existed keep their identity
        return {key: getattr(self, key) for key in self.config_keys
                if key not in self.runtime_keys
                and not (key == "select_untrained" and not self.select_untrained)}

    # ----------------------------------------------------------------- bleach
    @property
    def _literal_pass(self) -> bool:
        return self.feature_space == "phi"

    def _feature_pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(feature, phi)``: the feature L_rem and the generator see (``feature_space``) and phi."""
        assert self._detector is not None
        if self._literal_pass:
            phi = self._detector.features(x)
            return phi, phi
        return self._detector.feature_pair(x)

    def _direction(self, logits: torch.Tensor) -> torch.Tensor:
        """I: the sign of the margin, with the head's bias (``direction_bias``) or without."""
        if self.direction_bias:
            return offset_direction(logits)
        return torch.sign(logit_margin(logits) - self._bias_margin)

    def _generator_input(self, feature: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        if self.feature_scale == "none":
            return compensate(feature, direction, self.m)
        return compensate(feature / self._feature_rms, direction, self.m)

    def _rem_units(self, feature: torch.Tensor) -> torch.Tensor:
        """The feature in L_rem's units: raw, or per face about unit norm (``train_rms``)."""
        if self.feature_scale == "none":
            return feature
        return feature / (self._feature_rms * math.sqrt(feature.shape[1]))

    def _add(self, x: torch.Tensor, bleach: torch.Tensor) -> torch.Tensor:
        """``x + s * bleach`` in pixels, or in the detector's normalised input (``x + s * std * bleach``)."""
        assert self._detector is not None
        if self.input_space == "pixel":
            return x + self._scale * bleach
        return x + (self._scale * bleach) * self._detector._std.to(x.dtype)

    def _bleach(
        self, x: torch.Tensor, frozen: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(bleached, feature, logits, I)``: the frozen pass on x, Eq. 4, the generator, x + s * bleach."""
        bleached, feature, _, logits, direction = self._bleach_pass(x, frozen)
        return bleached, feature, logits, direction

    def _bleach_pass(
        self, x: torch.Tensor, frozen: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(bleached, feature, phi, logits, I)``: :meth:`_bleach` that also hands back phi, so
        that :meth:`artifacts` reads the face's features from the same frozen pass.
        ``frozen``: that pass's ``(feature, phi, logits)`` for x, already computed
        (:meth:`_frozen_rows`)."""
        assert self._detector is not None and self.generator is not None
        with torch.no_grad():
            if frozen is None:
                feature, phi = self._feature_pair(x)
                logits = self._detector.classify(phi)
            else:
                feature, phi, logits = frozen
            direction = self._direction(logits)
        bleach = self.generator(
            self._generator_input(feature, direction),
            direction if self.condition_on_direction else None,
        )
        bleached = self._add(x, bleach)
        if self.clamp:
            bleached = bleached.clamp(0.0, 1.0)
        return bleached, feature, phi, logits, direction

    def _check_input(self, x: torch.Tensor) -> None:
        if self.generator is None or self._detector is None:
            raise RuntimeError("pixel_bleach: call fit() before predict()")
        if (
            x.ndim != 4
            or x.shape[-1] != self.generator.out_size
            or x.shape[-2] != self.generator.out_size
        ):
            raise ValueError(
                f"pixel_bleach was fitted on {self.generator.out_size} px faces; got input {list(x.shape)}"
            )

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the frozen detector on the bleached faces (two detector passes + the generator)."""
        return self.predict_recording(x)[0]

    @torch.no_grad()
    def predict_recording(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`predict`'s logits and, from the same two detector passes, what
        :meth:`artifacts` keeps of each face: phi and the logit margin before and after."""
        self._check_input(x)
        assert self._detector is not None and self.generator is not None
        self._detector.eval()
        self.generator.eval()
        bleached, _, phi, logits, _ = self._bleach_pass(x.to(self._device))
        phi_bl = self._detector.features(bleached)
        after = self._detector.classify(phi_bl)  # self._detector(bleached)
        # logits = classify(features(x)) = the detector's forward on x: P(fake) as the engine
        # computes it for `none` (predict_outputs), batch for batch.
        frozen_prob = fake_probability(logits)
        return after, {"phi_before": phi, "phi_after": phi_bl,
                       "margin_before": logit_margin(logits), "margin_after": logit_margin(after),
                       "frozen_prob": frozen_prob}

    @torch.no_grad()
    def bleaches(self, x: torch.Tensor) -> torch.Tensor:
        """What the bleach adds to each face, ``bleached - x``, in [0, 1] pixel units."""
        self._check_input(x)
        assert self.generator is not None
        self.generator.eval()
        x = x.to(self._device)
        return self._bleach(x)[0] - x

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

    # ------------------------------------------------------------------- fit
    def _setup(self, detector: Detector, size: int, device: torch.device) -> dict[str, Any]:
        """Detector, scale, bias margin and a fresh generator; returns the fit's identity."""
        self._device = torch.device(device)
        self._detector = detector.to(self._device)
        self._scale = float(self.s) if self.s is not None else default_scale(detector)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.generator = BleachGenerator(
                detector.feature_dim, size, self.base_channels, self.zero_init,
                self.generator_norm, self.condition_on_direction,
            )  # fmt: skip
        self.generator.to(self._device)
        with torch.no_grad():
            was_training = detector.training
            detector.eval()
            zero = torch.zeros(1, detector.feature_dim, device=self._device)
            self._bias_margin = float(logit_margin(detector.classify(zero))[0])
            detector.train(was_training)
        return {
            "params": self.params(), "s_resolved": self._scale,
            "feature_dim": int(detector.feature_dim), "size": size,
        }  # fmt: skip

    def _restore(self, work_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
        """The stored result (generator and derived state loaded) if ``work_dir`` holds this fit."""
        assert self.generator is not None
        done = work_dir / DONE
        if not (done.exists() and (work_dir / CHECKPOINT).exists()):
            return None
        record = json.loads(done.read_text())
        if record.get("identity") != identity:
            return None
        state = torch.load(work_dir / CHECKPOINT, map_location=self._device)
        self.generator.load_state_dict(state)
        self.generator.eval()
        derived = record.get("derived", {})
        self._feature_rms = float(derived.get("feature_rms", 1.0))
        self._history = record["result"].get("history", [])
        return record["result"]

    @classmethod
    def load(
        cls, cfg: dict[str, Any], detector: Detector, work_dir: Path, size: int, device: torch.device
    ) -> PixelBleach:
        """A fitted bleach from its work dir (inference only); ``cfg`` is the record's method_cfg."""
        method = cls(**{k: v for k, v in cfg.items() if k != "type"}, progress=False)
        identity = method._setup(detector, size, device)
        if method._restore(Path(work_dir), identity) is None:
            raise FileNotFoundError(
                f"pixel_bleach: no finished fit for these parameters in {work_dir} "
                f"(expected {CHECKPOINT} and a matching {DONE})"
            )
        detector.eval()
        return method

    def fit(
        self,
        detector: Detector,
        data: FitData,
        work_dir: Path,
        device: torch.device,
    ) -> dict[str, Any]:
        """Train the generator on the balanced offset set of LQ train; keep the best LQ-val epoch."""
        train_lq, val_lq = data.train_lq, data.val_lq
        start = time.perf_counter()
        if val_lq.size != train_lq.size:
            raise ValueError(
                f"pixel_bleach: train faces are {train_lq.size} px but val faces {val_lq.size} px"
            )
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        identity = self._setup(detector, train_lq.size, device)
        with frozen(detector):
            restored = self._restore(work_dir, identity)
            if restored is not None:
                return restored
            try:
                result = self._train(train_lq, val_lq, work_dir, identity)
            finally:
                self._frozen.clear()
        result["seconds"] = time.perf_counter() - start
        assert self.generator is not None
        _save_atomic(self.generator.state_dict(), work_dir / CHECKPOINT)
        _save_atomic(
            {"identity": identity, "result": result, "derived": {"feature_rms": self._feature_rms}},
            work_dir / DONE,
        )
        (work_dir / LAST).unlink(missing_ok=True)
        return result

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

    def _train(
        self, train_lq: FaceSet, val_lq: FaceSet, work_dir: Path, identity: dict[str, Any]
    ) -> dict[str, Any]:
        assert self.generator is not None
        labels = np.asarray(train_lq.labels)
        scan = self._scan(train_lq)
        wrong = scan["train_wrong"]
        index = balanced_offset_indices(
            wrong, self.balance_ratio, self.seed, min_correct=0 if wrong.any() else self.batch_size
        )
        _save_atomic_npz({**scan, "offset_index": index}, work_dir / ARRAYS)
        opt = torch.optim.Adam(
            self.generator.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        best_state, best_metric, best_epoch, history, first = None, -math.inf, -1, [], 0
        last = work_dir / LAST
        if last.exists():
            ckpt = torch.load(last, map_location=self._device, weights_only=False)
            if ckpt.get("identity") == identity:
                self.generator.load_state_dict(ckpt["generator"])
                opt.load_state_dict(ckpt["optimizer"])
                best_state, best_metric, best_epoch = (
                    ckpt["best_state"],
                    ckpt["best_metric"],
                    ckpt["best_epoch"],
                )
                history, first = ckpt["history"], ckpt["epoch"] + 1
        if self.select_untrained and first == 0:  # the untrained generator is a candidate
            self._recalibrate_bn(train_lq, index)
            val = self._evaluate(val_lq)
            history.append({"epoch": -1, **val,
                            **{f"loss_{k}": math.nan for k in ("total", "rem", "reg", "ce")}})
            best_metric, best_epoch = select_score(val, self.select_metric), -1
            best_state = {k: v.detach().cpu().clone() for k, v in self.generator.state_dict().items()}
        epochs = tqdm(range(first, self.epochs), desc="pixel_bleach", disable=not self.progress)
        for epoch in epochs:
            self.generator.train()
            order = np.random.default_rng([self.seed, epoch]).permutation(index)
            sums = {"total": 0.0, "rem": 0.0, "reg": 0.0, "ce": 0.0}
            n_steps = 0
            bar = tqdm(
                list(_batches(order, self.batch_size)), leave=False, disable=not self.progress
            )
            for idx in bar:
                if len(idx) < 2:
                    continue
                idx = np.sort(idx)
                x, y = train_lq.tensors(idx)
                parts = self._losses(x.to(self._device), y.to(self._device),
                                     self._frozen_rows(train_lq, idx))
                check_finite(parts["total"], f"pixel_bleach fit, epoch {epoch + 1}",
                             "try a lower lr or s")
                opt.zero_grad(set_to_none=True)
                parts["total"].backward()
                opt.step()
                for key in sums:
                    sums[key] += float(parts[key].detach())
                n_steps += 1
                bar.set_postfix(loss=f"{sums['total'] / n_steps:.3f}")
            self._recalibrate_bn(train_lq, index)
            val = self._evaluate(val_lq)
            row = {
                "epoch": epoch,
                **val,
                **{f"loss_{k}": v / max(n_steps, 1) for k, v in sums.items()},
            }
            history.append(row)
            metric = select_score(val, self.select_metric)
            if metric > best_metric:
                best_metric, best_epoch = metric, epoch
                best_state = {
                    k: v.detach().cpu().clone() for k, v in self.generator.state_dict().items()
                }
            epochs.set_postfix(val_acc=f"{val['acc']:.3f}")
            _save_atomic(
                {"identity": identity, "generator": self.generator.state_dict(), "optimizer": opt.state_dict(),
                 "best_state": best_state, "best_metric": best_metric, "best_epoch": best_epoch,
                 "history": history, "epoch": epoch},
                last,
            )  # fmt: skip
        assert best_state is not None
        self.generator.load_state_dict(best_state)
        self.generator.eval()
        self._history = history
        best = history[[h["epoch"] for h in history].index(best_epoch)]
        return {
            "n_train": len(train_lq),
            "n_train_fp": int((wrong & (labels == 0)).sum()),
            "n_train_fn": int((wrong & (labels == 1)).sum()),
            "n_train_wrong": int(wrong.sum()),
            "n_balanced": len(index),
            "best_epoch": best_epoch,
            "best_val_acc": best["acc"],
            "best_val_auc": best["auc"],
            "mean_abs_bleach": best["mean_abs_bleach"],
            "s": self._scale,
            "variant": self.variant,
            "select_metric": self.select_metric,
            "feature_rms": self._feature_rms,
            "feature_space_source": (
                "phi" if self._literal_pass
                else "pre_activation" if self._detector is not None and self._detector.pre_activation_modules
                else "phi (the detector names no activation after phi)"
            ),
            "history": history,
        }

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
        acc = float(((p > 0.5).astype(np.int64) == t).mean())
        auc = float(roc_auc_score(t, p)) if len(np.unique(t)) == 2 else None
        return {"acc": acc, "auc": auc, "mean_abs_bleach": abs_sum / max(n_px, 1)}
