"""The contract every detector in ``DETECTORS`` answers.

A detector takes RGB faces as float ``[B,3,H,W]`` in ``[0, 1]`` and normalises
them itself with its class ``mean``/``std``: a pixel-space remedy such as Pixel
Bleach adds its bleach to exactly what the detector is given, and no caller
needs to know a backbone's preprocessing.

- ``features(x) -> phi [B, feature_dim]``: the last-layer representation (the
  paper's phi, fed to the bleach generator);
- ``feature_pair(x) -> (phi_pre, phi)``: phi and, from the same pass, the
  globally pooled input of the last activation (``pre_activation_modules``),
  where phi's reflection through the origin exists (phi >= 0 after a ReLU);
  ``features(x, pre_activation=True)`` is its first element;
- ``classify(phi) -> logits [B, 2]`` (index 1 = fake);
- ``forward(x) = classify(features(x))``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def freeze(model: M) -> M:
    """The one way a detector is frozen for good: eval mode, ``requires_grad=False``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@contextlib.contextmanager
def frozen(model: nn.Module, eval_mode: bool = True) -> Iterator[None]:
    """``requires_grad=False`` on every parameter for the block (and eval mode, unless
    ``eval_mode=False``); the flags, not the mode, are restored after."""
    flags = [p.requires_grad for p in model.parameters()]
    if eval_mode:
        model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


class Detector(nn.Module):
    """Base class: subclasses implement ``embed`` (normalised input -> phi) and set ``head``."""

    input_size: ClassVar[int] = 299  # native side length in pixels
    mean: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    std: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    feature_dim: ClassVar[int] = 2048
    hidden: ClassVar[bool] = False  # True keeps a test-only model out of ``--detector all``
    #: True: the detector runs at any face size, and the profile's ``faces.size`` is used; False
    #: (a plug-in's default): faces are resized to ``input_size`` whatever the profile says
    resizable: ClassVar[bool] = False
    #: the name tables show (None: the registry name)
    display_name: ClassVar[str | None] = None
    #: dotted names of the module(s) whose input, globally average-pooled and concatenated in
    #: this order, is phi before the last activation; () means phi has no activation after it;
    #: None (not declared) is read as () with a warning from the methods that read it
    pre_activation_modules: ClassVar[tuple[str, ...] | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> phi [B, feature_dim]."""
        raise NotImplementedError

    def features(self, x: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        if pre_activation:
            return self.feature_pair(x)[0]
        return self.embed(self.normalize(x))

    def feature_pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(phi_pre, phi)`` from one pass: phi_pre is the pooled input of ``pre_activation_modules``
        (phi itself when the detector names none: taken to have no activation after phi)."""
        if self.pre_activation_modules is None:
            _warn_undeclared(type(self))
        if not self.pre_activation_modules:
            phi = self.features(x)
            return phi, phi
        captured: dict[str, torch.Tensor] = {}

        def capture(name: str):
            def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
                t = inputs[0]  # pooled (or copied) before an in-place activation overwrites it
                captured[name] = t.mean(dim=(2, 3)) if t.ndim == 4 else t.clone()

            return hook

        names = self.pre_activation_modules
        handles = [self.get_submodule(n).register_forward_pre_hook(capture(n)) for n in names]
        try:
            phi = self.features(x)
        finally:
            for handle in handles:
                handle.remove()
        missing = [n for n in names if n not in captured]
        if missing:
            raise RuntimeError(f"{type(self).__name__}: pre_activation_modules {missing} did not run")
        return torch.cat([captured[n] for n in names], dim=1), phi

    def classify(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(phi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


_WARNED: set[type] = set()


class PreActivationWarning(UserWarning):
    """A detector that does not declare ``pre_activation_modules`` was asked for phi before its
    last activation."""


def _warn_undeclared(cls: type) -> None:
    if cls in _WARNED:
        return
    _WARNED.add(cls)
    import warnings

    warnings.warn(
        f"{cls.__name__} does not declare pre_activation_modules: the feature read 'before the "
        f"last activation' is phi itself, which after a ReLU is never negative (Pixel Bleach's "
        f"reflection then has nothing to reflect). Set pre_activation_modules = ('<module>',) to "
        f"the module whose input is phi before its activation, or () if phi has no activation "
        f"after it (docs/extending.md).", PreActivationWarning, stacklevel=3)


def face_size(cls: type, profile_size: int | None) -> int:
    """The face side a detector class is fed: the profile's ``faces.size`` when the detector is
    ``resizable`` (or declares that very size), else its declared ``input_size``."""
    declared = int(getattr(cls, "input_size", 0) or 0)
    if not profile_size:
        return declared
    if getattr(cls, "resizable", False) or not declared:
        return int(profile_size)
    return declared


def display_name(cls: type | None, name: str) -> str:
    """What tables call detector ``name``: its class's ``display_name``, else ``name``."""
    return (getattr(cls, "display_name", None) or name) if cls is not None else name
