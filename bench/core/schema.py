"""The configuration's typed schema: every value's type and range, checked before any work.

A small declarative table: for each key path a :class:`Rule` (a type, a range or a set of
allowed values, whether ``None`` is allowed). :func:`check_values` walks a resolved profile
(every section: the top-level scalars, ``dataset``, ``faces``, ``train`` and
``train.per_detector.<detector>``, ``detector``, ``method`` and ``method.per_method.<method>``,
``intervals``) and raises :class:`bench.core.config.ConfigError` on the first bad value, in one
line naming the key, the value and what is allowed::

    bad configuration value train.epochs=-1 (from --cfg-options): expected an integer >= 1

Unknown keys are the key check's business (:func:`bench.core.config.check_profile`); a key
that no rule lists is left to its component. A component (a ``METHODS``, ``DETECTORS`` or
``DATASETS`` class) may declare its own keys' rules in a class attribute
``config_ranges: dict[str, Rule]``; :func:`check_component_values` applies them (with the
shared rules below) once the classes are imported (``check_components``, the deep check).

``faces.size`` must be at least :data:`MIN_FACE_SIZE` (16 px, the smallest size every
registered detector takes: five stride-2 stages leave a 1x1 map there) or ``None`` (each
detector's native size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIN_FACE_SIZE = 16
MAX_EPOCHS = 100_000  # a typo guard (1e9 epochs is never meant), far above any real schedule


@dataclass(frozen=True)
class Rule:
    """One key's type and range. ``kind``: ``int``, ``float``, ``bool``, ``str``, ``pair`` (two
    floats ``lo <= hi``) or ``ints`` (a list or tuple of ``length`` integers); ``lo``/``hi``:
    inclusive bounds unless ``open_lo``/``open_hi``; ``choices``: the allowed values;
    ``optional``: ``None`` is allowed too."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    length: int | None = None
    note: str = ""

    def _in_range(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.open_lo else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.open_hi else x > self.hi))

    def ok(self, value: Any) -> bool:
        """True if ``value`` is allowed."""
        if value is None:
            return self.optional
        if self.choices is not None:
            return any(type(value) is type(c) and value == c for c in self.choices)
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str) and value != ""
        if self.kind == "int":
            return isinstance(value, int) and not isinstance(value, bool) and self._in_range(value)
        if self.kind == "float":
            return (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and self._in_range(value))
        if self.kind == "pair":
            return (isinstance(value, (list, tuple)) and len(value) == 2
                    and all(Rule("float", self.lo, self.hi, self.open_lo, self.open_hi).ok(v)
                            for v in value) and value[0] <= value[1])
        if self.kind == "ints":
            return (isinstance(value, (list, tuple)) and (self.length is None
                                                          or len(value) == self.length)
                    and all(Rule("int", self.lo, self.hi).ok(v) for v in value))
        raise ValueError(f"unknown rule kind {self.kind!r}")

    def _bounds(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.open_lo else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.open_hi else '<='} {self.hi:g}")
        return " and ".join(parts)

    def allowed(self) -> str:
        """What is allowed, in words: ``"an integer >= 1"``."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            noun = {"int": "an integer", "float": "a number", "bool": "True or False",
                    "str": "a non-empty string",
                    "pair": "a pair (low, high) of numbers with low <= high",
                    "ints": f"a list of {self.length or 'some'} integers"}[self.kind]
            bounds = self._bounds()
            text = (f"{noun}, each {bounds}" if self.kind in ("pair", "ints") else
                    f"{noun} {bounds}") if bounds else noun
        if self.optional:
            text += " or None"
        return text + (f" {self.note}" if self.note else "")


INT_POS = Rule("int", lo=1)
INT_NONNEG = Rule("int", lo=0)
BOOL = Rule("bool")
STR = Rule("str")
EPOCHS = Rule("int", lo=1, hi=MAX_EPOCHS)
LR = Rule("float", lo=0, hi=10, open_lo=True)

TOP_RULES: dict[str, Rule] = {
    "name": STR,
    "train_compression": STR,
    "test_compression": STR,
    "detector_per_manipulation": BOOL,
    "method_per_manipulation": BOOL,
    "flush_denormal": BOOL,
}
DATASET_RULES: dict[str, Rule] = {  # keys many datasets share; the rest: config_ranges
    "type": STR,
    "root": STR,
    "seed": INT_NONNEG,
}
FACES_RULES: dict[str, Rule] = {
    "size": Rule("int", lo=MIN_FACE_SIZE, hi=4096, optional=True,
                 note=f"(None: each detector's native size; below {MIN_FACE_SIZE} px the "
                      "detectors' stride-2 stages leave no feature map)"),
    "frames_per_video": INT_POS,
    "train_frames_per_video": INT_POS,
    "val_frames_per_video": INT_POS,
    "test_frames_per_video": INT_POS,
    "skip_first": BOOL,
    "fit_train_frames_per_video": Rule("int", lo=1, optional=True,
                                       note="(None: the train split's frames per clip)"),
    "fit_val_frames_per_video": Rule("int", lo=1, optional=True,
                                     note="(None: the val split's frames per clip)"),
}
TRAIN_RULES: dict[str, Rule] = {
    "epochs": EPOCHS,
    "batch_size": INT_POS,
    "lr": LR,
    "amp": BOOL,
    "channels_last": BOOL,
    "launcher": Rule("str", choices=("none", "pytorch", "slurm", "mpi")),
    "num_workers": INT_NONNEG,
    "weight_decay": Rule("float", lo=0),
    "flip": BOOL,
    "blur_p": Rule("float", lo=0, hi=1),
    "blur_sigma": Rule("pair", lo=0, open_lo=True),
    "blur_quantize": BOOL,
    "fused_adamw": BOOL,
    "faces_per_video": Rule("int", lo=1, optional=True),
}
DETECTOR_RULES: dict[str, Rule] = {
    "pretrained": BOOL,
    "weights": Rule("str", optional=True),
    "drop_rate": Rule("float", lo=0, hi=1, open_hi=True),
}
# keys that every method taking them reads the same way; a method's own config_ranges add to
# (and override) these
METHOD_RULES: dict[str, Rule] = {
    "epochs": EPOCHS,
    "batch_size": INT_POS,
    "lr": LR,
    "weight_decay": Rule("float", lo=0),
    "seed": INT_NONNEG,
}
INTERVAL_RULES: dict[str, Rule] = {
    "n_boot": INT_POS,
    "level": Rule("float", lo=0, hi=1, open_lo=True, open_hi=True),
    "seed": INT_NONNEG,
    "stratify": BOOL,
    "chunk": INT_POS,
}


def _error(key: str, value: Any, rule: Rule, origin: str) -> Exception:
    from bench.core.config import ConfigError

    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ConfigError(f"bad configuration value {key}={shown}{origin}: expected {rule.allowed()}")


def check_section(section: Any, rules: Mapping[str, Rule], where: str, origin: str = "") -> None:
    """Check every key of ``section`` that ``rules`` lists (others are left alone)."""
    if not isinstance(section, Mapping):
        from bench.core.config import ConfigError

        raise ConfigError(f"configuration section {where!r}{origin} must be a mapping, "
                          f"got {section!r:.80}")
    for key, value in section.items():
        rule = rules.get(key) if isinstance(key, str) else None
        if rule is not None and not rule.ok(value):
            raise _error(f"{where}.{key}" if where else str(key), value, rule, origin)


def check_values(profile: Mapping[str, Any], origin: str = "") -> None:
    """Every value of every static section of ``profile`` (no imports; see the module doc)."""
    check_section(profile, TOP_RULES, "", origin)
    check_section(profile.get("dataset") or {}, DATASET_RULES, "dataset", origin)
    check_section(profile.get("faces") or {}, FACES_RULES, "faces", origin)
    for key, rules, per_key in (("train", TRAIN_RULES, "per_detector"),
                                ("detector", DETECTOR_RULES, "per_detector"),
                                ("method", METHOD_RULES, "per_method")):
        _check_with_overrides(profile.get(key) or {}, rules, key, per_key, origin)
    check_section(profile.get("intervals") or {}, INTERVAL_RULES, "intervals", origin)


def _check_with_overrides(section: Mapping[str, Any], rules: Mapping[str, Rule], where: str,
                          per_key: str, origin: str) -> None:
    """A section and its per-component overrides (``<where>.<per_key>.<name>``), same rules."""
    check_section(section, rules, where, origin)
    per = section.get(per_key) or {}
    check_section(per, {}, f"{where}.{per_key}", origin)
    for name, sub in per.items():
        check_section(sub, rules, f"{where}.{per_key}.{name}", origin)


def declared_rules(factory: Any, shared: Mapping[str, Rule]) -> dict[str, Rule]:
    """``shared`` plus (overriding) the rules ``factory`` declares in ``config_ranges``."""
    return {**shared, **dict(getattr(factory, "config_ranges", None) or {})}


def check_method_params(params: Mapping[str, Mapping[str, Any]], where: str = "method",
                        origin: str = " (from --cfg-options)") -> None:
    """A run's method parameters (``{method: {key: value}}``, e.g. ``--cfg-options
    method.epochs=5``) against the shared rules and each method's ``config_ranges``;
    ``where`` names the keys (``{name}`` is the method's name)."""
    from bench.core.registry import METHODS, resolve

    for name, section in params.items():
        check_section(section, declared_rules(resolve(METHODS, name), METHOD_RULES),
                      where.format(name=name), origin)


def check_component_values(profile: Mapping[str, Any], origin: str = "") -> None:
    """The ``dataset``, ``detector`` and ``method`` sections against the rules the registered
    classes declare (``config_ranges``); imports them."""
    from bench.core.registry import DATASETS, DETECTORS, METHODS, registered_names, resolve

    ds = dict(profile.get("dataset") or {})
    factory = resolve(DATASETS, ds.get("type", "synthetic"))
    check_section(ds, declared_rules(factory, DATASET_RULES), "dataset", origin)
    det = dict(profile.get("detector") or {})
    for name, section in (det.pop("per_detector", None) or {}).items():
        check_section(section, declared_rules(resolve(DETECTORS, name), DETECTOR_RULES),
                      f"detector.per_detector.{name}", origin)
    method = dict(profile.get("method") or {})
    per = method.pop("per_method", None) or {}
    from bench.core.config import accepted

    for name in registered_names(METHODS):
        f = resolve(METHODS, name)
        check_section(accepted(f, method), declared_rules(f, METHOD_RULES), "method", origin)
    for name, section in per.items():
        check_section(section, declared_rules(resolve(METHODS, name), METHOD_RULES),
                      f"method.per_method.{name}", origin)


__all__ = ["MIN_FACE_SIZE", "Rule", "check_component_values", "check_method_params",
           "check_section", "check_values"]
