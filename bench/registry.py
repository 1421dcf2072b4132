"""Every pluggable thing in bleachbench is registered here and built from a config.

Five mmengine registries are the seams of the harness:

- ``DATASETS``: sources of labelled clips (``datasets/``),
- ``COMPRESSIONS``: simulators ``frames -> frames`` (``datasets/compression*``),
- ``DETECTORS``: frozen backbones with ``features``/``classify`` (``detectors/``),
- ``METHODS``: remedies given a frozen detector (``methods/``),
- ``TABLES``: the paper's tables, laid out from run records (``bench/tables.py``).

Register with the decorator on the class (a duplicate name is an error)::

    @DETECTORS.register_module(name="xception")
    class Xception(Detector): ...

Some families are open-ended (``jpeg_q37``, ``h264_crf31``): register them with
:func:`register_pattern`, and :func:`build` matches the name against the pattern.

:func:`build` fails on an unknown name with the list of known names and a
"did you mean". Plug-ins outside this repository are imported by
:func:`load_plugins` (``--plugin some.module``, ``--plugin path/to/file.py`` or
the ``bench.plugins`` entry-point group).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mmengine.registry import Registry

DATASETS = Registry("dataset", scope="bleachbench")
COMPRESSIONS = Registry("compression", scope="bleachbench")
DETECTORS = Registry("detector", scope="bleachbench")
METHODS = Registry("method", scope="bleachbench")
TABLES = Registry("table", scope="bleachbench")

REGISTRIES: dict[str, Registry] = {
    "datasets": DATASETS,
    "compressions": COMPRESSIONS,
    "detectors": DETECTORS,
    "methods": METHODS,
    "tables": TABLES,
}

BUILTIN_PACKAGES = ("datasets", "detectors", "methods", "bench.tables", "bench.table_remedies")
ENTRY_POINT_GROUP = "bench.plugins"


@dataclass(frozen=True)
class Pattern:
    """An open-ended family of names, e.g. ``jpeg_q(?P<quality>\\d+)``."""

    regex: str
    factory: Callable[..., Any]
    display: str  # how ``list`` shows it, e.g. ``jpeg_q<quality>``
    description: str

    def match(self, name: str) -> dict[str, Any] | None:
        m = re.fullmatch(self.regex, name)
        if m is None:
            return None
        return {k: _number(v) for k, v in m.groupdict().items()}


_PATTERNS: dict[str, list[Pattern]] = {key: [] for key in REGISTRIES}


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _key(registry: Registry) -> str:
    for key, reg in REGISTRIES.items():
        if reg is registry:
            return key
    raise ValueError(f"not a bleachbench registry: {registry!r}")


def register_pattern(
    registry: Registry, regex: str, display: str, description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory(**groups)`` for every name matching ``regex``."""

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        patterns = _PATTERNS[_key(registry)]
        if any(p.regex == regex for p in patterns):
            raise KeyError(f"pattern {display!r} is already registered in {registry.name}")
        patterns.append(Pattern(regex, factory, display, description or _first_line(factory)))
        return factory

    return wrap


def _first_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def known_names(registry: Registry) -> list[str]:
    """Registered names plus the display form of every pattern, sorted."""
    load_builtins()
    names = sorted(registry.module_dict)
    return names + [p.display for p in _PATTERNS[_key(registry)]]


def describe(registry: Registry) -> list[tuple[str, str]]:
    """``(name, one-line description)`` for everything in ``registry``."""
    load_builtins()
    rows = [(n, _first_line(obj)) for n, obj in sorted(registry.module_dict.items())]
    rows += [(p.display, p.description) for p in _PATTERNS[_key(registry)]]
    return rows


class UnknownNameError(KeyError):
    """A name that no registry entry or pattern matches."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def resolve(registry: Registry, name: str) -> Callable[..., Any]:
    """Return the class or factory registered for ``name`` (or raise with a hint)."""
    load_builtins()
    obj = registry.module_dict.get(name)
    if obj is not None:
        return obj
    for pattern in _PATTERNS[_key(registry)]:
        groups = pattern.match(name)
        if groups is not None:
            return lambda **kw: pattern.factory(**groups, **kw)
    known = known_names(registry)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"unknown {registry.name} {name!r}.{hint} Known {registry.name}s: {', '.join(known)}"
    )


def build(registry: Registry, cfg: str | dict[str, Any], **defaults: Any) -> Any:
    """Build from ``"name"`` or ``{"type": "name", **kwargs}``; ``defaults`` fill missing keys."""
    if isinstance(cfg, str):
        cfg = {"type": cfg}
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"a {registry.name} config must be a name or a dict with 'type', got {cfg!r}")
    kwargs = {**defaults, **{k: v for k, v in cfg.items() if k != "type"}}
    return resolve(registry, str(cfg["type"]))(**kwargs)


_LOADED = False


def load_builtins() -> None:
    """Import the built-in packages once, so that their decorators register them."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for package in BUILTIN_PACKAGES:
        mod = importlib.import_module(package)
        # Every public module of a built-in package is imported: a new file registers itself.
        for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")
    for ep in _entry_points():
        ep.load()


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(modules: Iterable[str]) -> None:
    """Import user plug-ins named on the command line: ``--plugin pkg.mod`` or ``--plugin path/to/file.py``."""
    load_builtins()
    for name in modules:
        if name.endswith(".py"):
            _load_plugin_file(name)
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(f"cannot import plug-in module {name!r}: {exc}") from exc


def _load_plugin_file(path: str) -> None:
    """Import one ``.py`` file as module ``bench_plugin_<stem>`` (once per resolved path)."""
    import importlib.util
    import sys
    from pathlib import Path

    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise FileNotFoundError(f"--plugin {path}: no such file")
    name = f"bench_plugin_{re.sub(r'[^0-9a-zA-Z_]', '_', file.stem)}"
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(file):
        return
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"--plugin {path}: cannot load it as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
