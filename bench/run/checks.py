"""Checks a grid of runs before any work starts: every name must resolve.

:func:`check_specs` refuses an unknown detector, method, compression or
manipulation (with the nearest known name) before a face is rendered or a
detector trained, so a typo never costs a training run and never leaves a
record behind.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from bench.core.dataset import ClipSource
from bench.core.registry import COMPRESSIONS, DETECTORS, METHODS, UnknownNameError, build, resolve
from bench.core.spec import RunSpec


def check_manipulation(name: str, known: Iterable[str], dataset: str) -> str:
    """``name`` if the dataset has it (or ``all``), else :class:`UnknownNameError` with a hint."""
    known = list(known)
    if name == "all" or name in known:
        return name
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown manipulation {name!r} for dataset {dataset!r}.{hint} "
                           f"Known: {', '.join(known)}")


def check_compression(name: str) -> None:
    """Build compression ``name`` once (cheap): a pattern out of range (``jpeg_q150``) fails here."""
    try:
        build(COMPRESSIONS, name)
    except (ValueError, TypeError) as exc:
        raise UnknownNameError(f"compression {name!r} cannot be built: {exc}") from exc


def check_specs(specs: Iterable[RunSpec], sources: Mapping[str, ClipSource]) -> None:
    """Raise :class:`UnknownNameError` on the first name in ``specs`` that does not resolve."""
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        for registry, name in ((DETECTORS, spec.detector), (METHODS, spec.method),
                               (COMPRESSIONS, spec.train_compression),
                               (COMPRESSIONS, spec.test_compression),
                               (COMPRESSIONS, spec.method_fit_compression)):
            if (registry.name, name) not in seen:
                resolve(registry, name)
                if registry is COMPRESSIONS:
                    check_compression(name)
                seen.add((registry.name, name))
        if ("manipulation", spec.manipulation) not in seen:
            check_manipulation(spec.manipulation, sources[spec.dataset].manipulations, spec.dataset)
            seen.add(("manipulation", spec.manipulation))


__all__ = ["check_compression", "check_manipulation", "check_specs"]
