"""Safe loading of detector weights from files.

Two kinds of file reach a detector:

- a file the user points at (``weights=...``, ``--cfg-options``): it may come
  from anywhere, so it is read with ``torch.load(path, weights_only=True)``,
  which refuses any pickle that would import or call something outside
  tensors and plain containers (a file whose unpickling runs ``os.system``
  fails here with :class:`UnsafeCheckpointError`);
- a checkpoint the harness wrote itself under its own results folder
  (mmengine's full checkpoints hold a ``HistoryBuffer`` and other objects):
  the caller says ``trusted=True`` and it is fully unpickled.

Accepted layouts: a bare ``state_dict``, or a dict holding it under
``'state_dict'`` or ``'model'``. A ``module.`` prefix (DataParallel) is
stripped; so is a ``detector.`` prefix (the training wrapper's attribute
name, see ``bench/run/training.py``). A DeepfakeBench checkpoint (their key
names) is recognised and renamed onto ours, and its preprocessing (256 px,
mean = std = 0.5) set on the detector: :mod:`bench.core.weights_deepfakebench`.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

_PREFIXES = ("module.", "detector.")


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A file that ``weights_only`` loading refused (it asks to build arbitrary objects)."""


def read_checkpoint(path: str | Path, *, trusted: bool = False) -> Any:
    """Unpickle ``path`` onto the CPU; weights-only unless ``trusted``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        if trusted:
            raise
        raise UnsafeCheckpointError(
            f"refused to load {str(path)!r}: it is not a weights-only checkpoint (tensors and "
            f"plain containers) and files from outside the harness are never fully unpickled. "
            f"Re-save it as a plain state_dict (torch.save(model.state_dict(), path)). "
            f"torch said: {str(exc).splitlines()[0]}"
        ) from exc


def extract_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensor dict inside ``obj`` (bare, ``{'state_dict': ...}`` or ``{'model': ...}``)."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(
            f"{source}: expected a state_dict (a dict of tensors), or a dict holding one under "
            f"'state_dict' or 'model'; got {type(obj).__name__}"
        )
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    return state


def load_weights(
    module: nn.Module, path: str | Path, *, trusted: bool = False, strict: bool = True
) -> nn.Module:
    """Load the weights in ``path`` into ``module`` (in place) and return it.

    With ``strict`` every parameter and buffer must match by name and shape; the
    error lists the first missing and unexpected keys.
    """
    state = extract_state_dict(read_checkpoint(path, trusted=trusted), source=str(path))
    # a DeepfakeBench checkpoint (their key names) is renamed onto ours first
    from bench.core.weights_deepfakebench import apply_preprocessing, prepare

    converted = prepare(module, state, str(path))
    layout = None
    if converted is not None:
        state, layout = converted
    own = module.state_dict()
    bad_shape = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and own[k].shape != v.shape
    ]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    what = f" (DeepfakeBench layout {layout!r})" if layout else ""
    if bad_shape or (strict and (missing or unexpected)):
        raise WeightsMismatchError(
            f"{path}{what} does not match {type(module).__name__}: "
            f"{len(missing)} missing keys (e.g. {missing[:5]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:5]}), "
            f"{len(bad_shape)} shape mismatches (e.g. {bad_shape[:3]})",
            missing=missing, unexpected=unexpected, bad_shape=bad_shape,
        )
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    if layout:
        apply_preprocessing(module, layout)
    return module


class WeightsMismatchError(ValueError):
    """A weights file whose keys or shapes do not match the model; lists what is off."""

    def __init__(self, message: str, *, missing=(), unexpected=(), bad_shape=()) -> None:
        super().__init__(message)
        self.missing, self.unexpected, self.bad_shape = list(missing), list(unexpected), list(bad_shape)
