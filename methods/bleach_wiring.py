"""Pixel Bleach's generator wiring: the frozen detector's pass, Eq. 4, the generator, the
bleached face (``x + s * bleach``), and prediction; a mixin of :class:`methods.pixel_bleach.PixelBleach`
(the options it reads are documented there)."""

from __future__ import annotations

import math
import re
from typing import Any

import torch
from torch import nn

from bench.core.detector import Detector
from bench.core.method import Method, fake_probability
from bleachbench.methods.bleach_generator import (
    BleachGenerator,
    compensate,
    logit_margin,
    offset_direction,
)

SCALE_DEFAULTS: dict[str, float] = {"f3net": 0.01}  # normalised detector name -> default s


def detector_name(detector: nn.Module) -> str:
    """The detector's ``name`` class attribute, else its class name; lowercased, alphanumerics only."""
    name = getattr(type(detector), "name", None)
    if not isinstance(name, str) or not name:
        name = type(detector).__name__
    return re.sub(r"[^a-z0-9]", "", name.lower())


def default_scale(detector: nn.Module) -> float:
    """The per-detector default bleach scale s: 0.01 for F3-Net, 1.0 otherwise."""
    return SCALE_DEFAULTS.get(detector_name(detector), 1.0)



class BleachWiring(Method):
    """Detector -> Eq. 4 -> generator -> bleached face; predict, predict_recording, bleaches."""

    generator: BleachGenerator | None
    _detector: Detector | None

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
