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

The code is split by concern, each part a mixin of :class:`PixelBleach`:
:mod:`methods.bleach_wiring` (detector -> Eq. 4 -> generator -> bleached face, predict),
:mod:`methods.bleach_losses` (the losses and the scan of LQ train), :mod:`methods.bleach_passes`
(the kept frozen pass, BatchNorm recalibration, val evaluation), :mod:`methods.bleach_fit`
(the fit loop, selection, checkpoints) and :mod:`methods.bleach_artifacts`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from bench.core.detector import Detector, frozen
from bench.core.method import reject_unknown_options
from bench.core.registry import METHODS
from bench.core.schema import Rule
from bleachbench.methods.bleach_artifacts import (
    N_IMAGES,
    N_SUBSAMPLE,
    BleachArtifacts,
    artifact_subsample,
)
from bleachbench.methods.bleach_fit import (
    ARRAYS,
    CHECKPOINT,
    DONE,
    LAST,
    BleachFit,
    balanced_offset_indices,
    select_score,
)
from bleachbench.methods.bleach_generator import NORMS, BleachGenerator
from bleachbench.methods.bleach_losses import REG_MODES, BleachLossTerms
from bleachbench.methods.bleach_passes import EXACT_BATCH, BleachPasses
from bleachbench.methods.bleach_wiring import (
    SCALE_DEFAULTS,
    BleachWiring,
    default_scale,
    detector_name,
)

__all__ = [
    "ARRAYS", "CHECKPOINT", "DONE", "EXACT_BATCH", "LAST", "N_IMAGES", "N_SUBSAMPLE",
    "SCALE_DEFAULTS", "VARIANTS", "PixelBleach", "artifact_subsample", "balanced_offset_indices",
    "default_scale", "detector_name", "frozen", "select_score",
]  # fmt: skip

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


@METHODS.register_module(name="pixel_bleach")
class PixelBleach(BleachFit, BleachLossTerms, BleachPasses, BleachArtifacts, BleachWiring):
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
