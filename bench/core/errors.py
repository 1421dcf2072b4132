"""Errors a user can fix, and the one guard every training loop shares against NaN and inf.

The command line turns a :class:`UserError` into one line on stderr and exit code 2
(no traceback): a bad key, a bad name, a plug-in that does not import, missing
weights, a loss that became NaN. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import math
from typing import Any


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class NonFiniteError(UserError, RuntimeError):
    """A training loss (detector, bleach, any method) became NaN or inf."""


def input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input (one line, exit 2) rather than a bug: :class:`UserError`
    and the registry's, store's and file system's own (an unknown name, a plug-in that does not
    import, a corrupt record, a missing file). The command line and the job executor share it."""
    from bench.core.registry import PluginError, UnknownNameError
    from bench.core.store import CorruptRecordError

    return (UserError, UnknownNameError, PluginError, CorruptRecordError, FileNotFoundError)


def check_finite(value: Any, where: str, hint: str = "try a lower lr, or amp=False") -> None:
    """Raise :class:`NonFiniteError` naming ``where`` if ``value`` (a number, tensor or array) has a
    NaN or inf. ``where`` says which loop and step, e.g. ``"pixel_bleach fit, epoch 2, batch 7"``."""
    if hasattr(value, "detach"):  # a tensor: one sync, only where a loop already reads its loss
        import torch

        bad = not bool(torch.isfinite(value.detach()).all())
        shown = float(value.detach().float().flatten()[0]) if value.numel() else float("nan")
    elif hasattr(value, "__len__"):  # an array of features or scores
        import numpy as np

        arr = np.asarray(value, dtype=np.float64)
        bad = not bool(np.isfinite(arr).all())
        shown = float(arr[~np.isfinite(arr)].flat[0]) if bad else 0.0
    else:
        shown = float(value)
        bad = not math.isfinite(shown)
    if bad:
        raise NonFiniteError(f"{where}: the loss is {shown}; stopped before saving it ({hint})")


__all__ = ["NonFiniteError", "UserError", "check_finite"]
