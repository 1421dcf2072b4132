"""One place that checks and resolves a run's configuration (profile + ``--cfg-options`` + defaults).

A profile (:mod:`bench.core.profiles`) is plain data with these sections:

- ``dataset``: ``type`` and the ``DATASETS`` entry's keyword arguments;
- ``faces``: the face cache (``size``, ``frames_per_video``, ``<split>_frames_per_video``,
  ``skip_first``; ``fit_train_frames_per_video`` and ``fit_val_frames_per_video``: the faces
  per clip of a remedy's LQ fit and selection, which leave the detector as it is);
- ``train``: :func:`bench.run.training.train_detector`'s keyword arguments
  (:data:`TRAIN_KEYS`) and the engine's own training keys (:data:`ENGINE_TRAIN_KEYS`),
  plus ``per_detector.<detector>`` with the same keys;
- ``detector``: keyword arguments of the detectors (``pretrained``, ``weights``,
  ``drop_rate``...), given to every detector that takes them, and
  ``per_detector.<detector>`` for one detector only;
- ``method``: keyword arguments given to every method that takes them (``epochs``...),
  and ``per_method.<method>`` for one method only (overrides the shared keys; a run's own
  parameters override both);
- ``intervals``: :class:`bench.core.intervals.BootstrapConfig`;
- the scalars ``train_compression``, ``test_compression``, ``detector_per_manipulation``,
  ``method_per_manipulation``;
- ``fit_seeds``: the remedy fits per trained detector (a list of fit seeds, e.g. ``(0, 1, 2)``;
  absent = one fit, fit seed 0), what the tables' stars test over (``--fit-seeds`` overrides it).

Every key is checked (:func:`check_profile`): an unknown one is a :class:`ConfigError`
that names the key, where it came from and the nearest valid key. The static sections
are checked without importing anything; ``deep=True`` also checks ``dataset``,
``detector`` and ``method`` against the registered classes' signatures (which imports
them). :func:`run_config` is the complete, resolved configuration of one run (every
component's arguments with their defaults filled in): the engine builds from it and
stores it in the run's record. :func:`detector_key` hashes exactly what changes a
trained detector, so changing ``train.lr`` trains a new one and repeating the same
settings reuses it.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from bench.core.errors import UserError

TOP_KEYS = ("name", "dataset", "faces", "train", "detector", "method", "intervals",
            "train_compression", "test_compression", "detector_per_manipulation",
            "method_per_manipulation", "flush_denormal", "fit_seeds")
FACES_KEYS = ("size", "frames_per_video", "train_frames_per_video", "val_frames_per_video",
              "test_frames_per_video", "skip_first", "fit_train_frames_per_video",
              "fit_val_frames_per_video")
# train_detector's keyword arguments that a profile may set (tests/test_config.py checks this
# list against the signature); device, seed, progress and hooks come from the run itself.
TRAIN_KEYS = ("epochs", "batch_size", "lr", "amp", "channels_last", "launcher", "num_workers",
              "weight_decay", "flip", "blur_p", "blur_sigma", "blur_quantize", "fused_adamw")
# training keys the engine applies before it calls train_detector (part of the detector key):
# faces_per_video: train on at most this many of each training video's cached faces
# (FaceSet.per_video; None = all), e.g. a slow detector on fewer faces than the others.
ENGINE_TRAIN_KEYS = ("faces_per_video",)
INTERVAL_KEYS = ("n_boot", "level", "seed", "stratify", "chunk")
# given by the engine or housekeeping (what stays on disk), never part of a configuration
RUNTIME_KEYS = ("progress", "keep_checkpoints")


class ConfigError(UserError, ValueError):
    """An unknown or malformed configuration key (the message names it and suggests one)."""


def suggest(key: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest valid name, or ``""``."""
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown(where: str, key: str, valid: Iterable[str], origin: str) -> ConfigError:
    valid = sorted(set(valid))
    prefix, _, leaf = key.rpartition(".")
    close = difflib.get_close_matches(leaf, valid, n=1, cutoff=0.6)
    hint = f"; did you mean {(prefix + '.' if prefix else '') + close[0]!r}?" if close else ""
    return ConfigError(f"unknown configuration key {key!r}{origin}{hint} "
                       f"(valid keys of {where or 'a profile'}: {', '.join(valid) or 'none'})")


def _check_keys(section: dict[str, Any], valid: Iterable[str], where: str, origin: str) -> None:
    valid = tuple(valid)
    for key in section:
        if key not in valid:
            raise _unknown(where, f"{where}.{key}" if where else key, valid, origin)


_THROUGH_KWARGS = object()  # a declared key taken through **kwargs: optional, default unknown here


def parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The keyword parameters a class or function takes (its ``config_keys`` if it lists them)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = {k: p for k, p in inspect.signature(target).parameters.items()
              if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    declared = getattr(factory, "config_keys", None)
    if declared is not None:
        params = {k: params.get(k, inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY,
                                                     default=_THROUGH_KWARGS))
                  for k in declared}
    return params


def signature_names(factory: Callable[..., Any]) -> set[str]:
    """Every parameter name of ``factory``'s signature (``config_keys`` or not)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    return set(inspect.signature(target).parameters)


def takes_any(factory: Callable[..., Any]) -> bool:
    """True if ``factory`` takes ``**kwargs`` and declares no ``config_keys``."""
    if getattr(factory, "config_keys", None) is not None:
        return False
    target = factory.__init__ if inspect.isclass(factory) else factory
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())


def with_defaults(factory: Callable[..., Any], given: dict[str, Any],
                  skip: Iterable[str] = RUNTIME_KEYS) -> dict[str, Any]:
    """``given`` plus every other keyword parameter of ``factory`` at its default value."""
    out = {}
    for name, p in parameters(factory).items():
        if name in skip or name in given:
            continue
        if p.default is not inspect.Parameter.empty and p.default is not _THROUGH_KWARGS:
            out[name] = p.default
    out.update(given)
    return {k: out[k] for k in sorted(out)}


def check_profile(profile: dict[str, Any], origin: str = "", deep: bool = False,
                  detectors: Iterable[str] = ()) -> None:
    """Raise :class:`ConfigError` on any unknown key of ``profile``.

    ``origin`` says where the keys came from (e.g. ``" (from --cfg-options)"``). With
    ``deep``, ``dataset``, ``detector`` and ``method`` keys are checked against the
    registered classes (imports them); ``detectors`` are the detectors the run builds.
    """
    _check_keys(profile, TOP_KEYS, "", origin)
    profile_fit_seeds(profile, origin)
    for name in ("dataset", "faces", "train"):
        if not isinstance(profile.get(name), dict):
            raise ConfigError(f"profile section {name!r} must be a mapping{origin}, "
                              f"got {profile.get(name)!r}")
    from bench.core.schema import check_values

    check_values(profile, origin)  # every value's type and range (bench/core/schema.py)
    _check_keys(profile["faces"], FACES_KEYS, "faces", origin)
    _check_keys(profile["train"], (*TRAIN_KEYS, *ENGINE_TRAIN_KEYS, "per_detector"), "train",
                origin)
    _check_keys(profile.get("intervals") or {}, INTERVAL_KEYS, "intervals", origin)
    per = profile["train"].get("per_detector") or {}
    if per:
        from bench.core.registry import DETECTORS, known_names

        names = known_names(DETECTORS)
        for det, section in per.items():
            if det not in names:
                raise _unknown("train.per_detector", f"train.per_detector.{det}", names, origin)
            _check_keys(section, (*TRAIN_KEYS, *ENGINE_TRAIN_KEYS), f"train.per_detector.{det}",
                        origin)
    if deep:
        check_components(profile, origin, detectors)


def check_components(profile: dict[str, Any], origin: str = "",
                     detectors: Iterable[str] = ()) -> None:
    """The ``dataset``, ``detector`` and ``method`` sections against the classes' signatures."""
    from bench.core.registry import DATASETS, DETECTORS, METHODS, registered_names, resolve

    ds = dict(profile["dataset"])
    factory = resolve(DATASETS, ds.pop("type", "synthetic"))
    if not takes_any(factory):
        _check_keys({k: v for k, v in ds.items() if k != "cache_dir"}, parameters(factory),
                    "dataset", origin)
    missing = [k for k, p in parameters(factory).items()
               if p.default is inspect.Parameter.empty and k not in ds and k != "cache_dir"]
    if missing:
        raise ConfigError(
            f"dataset {profile['dataset'].get('type')!r} needs {', '.join(missing)}: pass "
            + " ".join(f"--{k} VALUE" if k == "root" else f"dataset.{k}=VALUE" for k in missing)
            + (" (or --cfg-options dataset.root=DIR)" if "root" in missing else ""))
    det = dict(profile.get("detector") or {})
    per = det.pop("per_detector", None) or {}
    names = list(detectors) or registered_names(DETECTORS)
    for name, section in [("detector", det)] + [(f"detector.per_detector.{d}", dict(v))
                                                 for d, v in per.items()]:
        if not section:
            continue
        owners = names if name == "detector" else [name.rsplit(".", 1)[1]]
        valid: set[str] = set()
        for n in owners:
            f = resolve(DETECTORS, n)
            valid |= set(section) if takes_any(f) else set(parameters(f)) - set(RUNTIME_KEYS)
        _check_keys(section, valid, name, origin)
    given = dict(profile.get("method") or {})
    per_method = given.pop("per_method", None) or {}
    if given:
        valid = set()
        for n in registered_names(METHODS):
            f = resolve(METHODS, n)
            valid |= set(given) if takes_any(f) else set(parameters(f)) - set(RUNTIME_KEYS)
        _check_keys(given, valid | {"per_method"}, "method", origin)
    methods = registered_names(METHODS)
    for name, section in per_method.items():
        if name not in methods:
            raise _unknown("method.per_method", f"method.per_method.{name}", methods, origin)
        f = resolve(METHODS, name)
        if not takes_any(f):
            _check_keys(dict(section), set(parameters(f)) - set(RUNTIME_KEYS),
                        f"method.per_method.{name}", origin)
    from bench.core.schema import check_component_values

    check_component_values(profile, origin)  # the classes' declared ranges (config_ranges)


def train_options(profile: dict[str, Any], detector: str) -> dict[str, Any]:
    """The profile's ``train`` section for ``detector``: ``train.per_detector.<detector>``
    overrides the shared keys."""
    cfg = dict(profile["train"])
    own = cfg.pop("per_detector", None) or {}
    return {**cfg, **dict(own.get(detector, {}))}


def accepted(factory: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``factory`` takes (all of them if it takes ``**kwargs``)."""
    if takes_any(factory):
        return dict(kwargs)
    params = parameters(factory)
    return {k: v for k, v in kwargs.items() if k in params}


def detector_kwargs(profile: dict[str, Any], detector: str) -> dict[str, Any]:
    """What ``detector`` is built with: the ``detector`` section's shared keys it takes, then
    ``detector.per_detector.<detector>`` (e.g. the paper profile's ImageNet weights)."""
    from bench.core.registry import DETECTORS, resolve

    section = dict(profile.get("detector") or {})
    own = dict((section.pop("per_detector", None) or {}).get(detector, {}))
    return {**accepted(resolve(DETECTORS, detector), section), **own}


def method_kwargs(profile: dict[str, Any], method: str, params: dict[str, Any],
                  seed: int) -> dict[str, Any]:
    """A method's arguments: the profile's ``method`` keys it takes, then
    ``method.per_method.<method>``, then the run's own parameters, and the run's ``seed``
    unless ``seed`` was given explicitly."""
    from bench.core.registry import METHODS, resolve

    factory = resolve(METHODS, method)
    shared = dict(profile.get("method") or {})
    own = dict((shared.pop("per_method", None) or {}).get(method, {}))
    cfg = {**accepted(factory, shared), **own, **params}
    if "seed" not in cfg and "seed" in parameters(factory):
        cfg["seed"] = int(seed)
    return cfg


def profile_fit_seeds(profile: dict[str, Any], origin: str = "") -> tuple[int, ...]:
    """The profile's ``fit_seeds`` (distinct non-negative ints, in order); ``()`` = one fit."""
    value = profile.get("fit_seeds")
    if value is None:
        return ()
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(items, str) or not isinstance(items, (list, tuple)) or not items or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in items):
        raise ConfigError(f"fit_seeds must be a non-empty list of non-negative integers{origin}, "
                          f"got {value!r}")
    return tuple(dict.fromkeys(int(v) for v in items))


def detector_per_manipulation(profile: dict[str, Any]) -> bool:
    """Whether one detector is trained per manipulation (default True, FF++'s protocol)."""
    return bool(profile.get("detector_per_manipulation", True))


def method_per_manipulation(profile: dict[str, Any]) -> bool:
    """Whether a method is fitted per manipulation (default: as the detector is)."""
    return bool(profile.get("method_per_manipulation", detector_per_manipulation(profile)))


def digest(payload: Any, n: int = 12) -> str:
    """A short, stable hash of a JSON-able ``payload``."""
    from bench.core.spec import canonical_json

    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:n]


__all__ = ["ConfigError", "check_profile", "digest", "suggest", "train_options", "with_defaults"]
