"""Every pluggable thing in bleachbench is registered here and built from a config.

Six mmengine registries are the seams of the harness:

- ``DATASETS``: sources of labelled clips (``datasets/``),
- ``COMPRESSIONS``: simulators ``frames -> frames`` (``datasets/compression*``),
- ``DETECTORS``: frozen backbones with ``features``/``classify`` (``detectors/``),
- ``METHODS``: remedies given a frozen detector (``methods/``),
- ``TABLES``: the paper's tables, laid out from run records (``bench/report/tables.py``),
- ``EXPERIMENTS``: which runs happen (``bench/report/experiments.py``), apart from tables.

Register with the decorator on the class (a duplicate name is an error)::

    @DETECTORS.register_module(name="xception")
    class Xception(Detector): ...

Some families are open-ended (``jpeg_q37``, ``h264_crf31``): register them with
:func:`register_pattern`, and :func:`build` matches the name against the pattern.

:func:`build` fails on an unknown name with the list of known names and a
"did you mean". Plug-ins outside this repository are imported by
:func:`load_plugins` (``--plugin some.module``, ``--plugin path/to/file.py`` or the
``bench.plugins`` entry-point group).

Names before imports. Importing every built-in module (torch, timm, PyAV,
OpenCV) takes seconds, so the registry first *reads* the built-in packages'
source (:mod:`ast`, no import): each ``@REG.register_module(name=...)`` class
and ``@register_pattern(REG, ...)`` factory is indexed with its module, the
first line of its docstring and its literal class attributes (``hidden``,
``input_size``, ``manipulations``...; followed through base classes and module
constants). :func:`known_names`, :func:`describe` and :func:`attribute` answer
from that index; :func:`resolve` and :func:`build` import only the module that
registers the name. A module the index cannot read statically (a registration
outside a decorator, a computed name) is imported for listing, as are
entry-point plug-ins, so a new file still registers itself.
:func:`load_builtins` imports everything (tests, plug-in checks).
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mmengine.registry import Registry

DATASETS = Registry("dataset", scope="bleachbench")
COMPRESSIONS = Registry("compression", scope="bleachbench")
DETECTORS = Registry("detector", scope="bleachbench")
METHODS = Registry("method", scope="bleachbench")
TABLES = Registry("table", scope="bleachbench")
EXPERIMENTS = Registry("experiment", scope="bleachbench")

REGISTRIES: dict[str, Registry] = {
    "datasets": DATASETS,
    "compressions": COMPRESSIONS,
    "detectors": DETECTORS,
    "methods": METHODS,
    "tables": TABLES,
    "experiments": EXPERIMENTS,
}

BUILTIN_PACKAGES = ("bleachbench.datasets", "bleachbench.detectors", "bleachbench.methods",
                    "bench.report.tables", "bench.report.table_remedies", "bench.report.table_recalibration",
                    "bench.report.experiments")
ENTRY_POINT_GROUP = "bench.plugins"


@dataclass(frozen=True)
class Pattern:
    """An open-ended family of names, e.g. ``jpeg_q(?P<quality>\\d+)``."""

    regex: str
    factory: Callable[..., Any]
    display: str  # how ``list`` shows it, e.g. ``jpeg_q<quality>``
    description: str
    #: which way the family's parameter makes it stronger: "lower" (a quality), "higher" (a CRF,
    #: a severity level) or "" when the family does not say
    stronger: str = ""

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
    registry: Registry,
    regex: str,
    display: str,
    description: Any = "",
    factory: Callable[..., Any] | None = None,
    *,
    stronger: str | None = None,
) -> Any:
    """Register ``factory(**groups)`` for every name matching ``regex``.

    Two ways, the same result:

    - as a decorator: ``@register_pattern(REG, r"my_q(?P<level>\\d+)", "my_q<level>")``;
    - as a statement: ``register_pattern(REG, r"my_q(?P<level>\\d+)", "my_q<level>",
      factory=make)`` (or the factory as the fourth argument).

    ``stronger`` ("lower" or "higher", also read from a ``stronger`` attribute of the factory)
    says which way the parameter makes the compression stronger; the sweep draws its axis from
    it. A statement call without a factory would register nothing: it warns when the returned
    decorator is dropped unused.
    """
    if callable(description) and factory is None:  # register_pattern(REG, regex, display, make)
        description, factory = "", description
    if stronger not in (None, "lower", "higher"):
        raise ValueError(f"register_pattern {display!r}: stronger must be 'lower' or 'higher', "
                         f"got {stronger!r}")

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        patterns = _PATTERNS[_key(registry)]
        if any(p.regex == regex for p in patterns):
            raise KeyError(f"pattern {display!r} is already registered in {registry.name}")
        direction = stronger or getattr(fn, "stronger", "") or ""
        if direction not in ("", "lower", "higher"):
            raise ValueError(f"pattern {display!r}: {fn!r}.stronger must be 'lower' or 'higher', "
                             f"got {direction!r}")
        patterns.append(Pattern(regex, fn, display, description or _first_line(fn), direction))
        return fn

    if factory is not None:
        return wrap(factory)
    return _PendingPattern(wrap, display, registry.name)


class _PendingPattern:
    """The decorator ``register_pattern`` returns; warns if it is dropped without being applied
    (``register_pattern(REG, regex, display)`` as a statement registers nothing)."""

    def __init__(self, wrap: Callable[[Callable[..., Any]], Callable[..., Any]], display: str,
                 registry: str) -> None:
        self._wrap, self._display, self._registry, self._used = wrap, display, registry, False

    def __call__(self, factory: Callable[..., Any]) -> Callable[..., Any]:
        self._used = True
        return self._wrap(factory)

    def __del__(self) -> None:
        if not self._used:
            import warnings

            warnings.warn(
                f"register_pattern({self._registry}, ..., {self._display!r}) registered nothing: "
                f"use it as a decorator (@register_pattern(...)) or pass the factory "
                f"(register_pattern(..., factory=make))", RuntimeWarning, stacklevel=2)


def pattern_direction(registry: Registry, name: str) -> str:
    """``stronger`` ("lower"/"higher"/"") declared by the pattern that builds ``name``
    (a registered name of the family, e.g. ``jpeg_q50``, or its prefix, e.g. ``jpeg_q``)."""
    for p in _PATTERNS[_key(registry)]:
        if p.match(name) is not None or re.fullmatch(r"([^<>]*)<\w+>", p.display) and \
                p.display.split("<")[0] == name:
            return p.stronger
    return ""


def _first_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def known_names(registry: Registry) -> list[str]:
    """Registered names plus the display form of every pattern, sorted (imports no built-in)."""
    return [name for name, _ in describe(registry)]


def describe(registry: Registry) -> list[tuple[str, str]]:
    """``(name, one-line description)`` for everything in ``registry`` (imports no built-in)."""
    key = _key(registry)
    index = builtin_index()
    docs = {n: e.doc for n, e in index.names[key].items()}
    docs.update({n: _first_line(obj) for n, obj in registry.module_dict.items()})
    rows = sorted(docs.items())
    patterns = {p.display: p.description for p in index.patterns[key]}
    patterns.update({p.display: p.description for p in _PATTERNS[key]})
    return rows + list(patterns.items())


def registered_names(registry: Registry) -> list[str]:
    """Registered names only (no patterns), sorted (imports no built-in)."""
    return sorted(set(builtin_index().names[_key(registry)]) | set(registry.module_dict))


_MISSING = object()


def attribute(registry: Registry, name: str, attr: str, default: Any = _MISSING) -> Any:
    """A class attribute of a registered name (``hidden``, ``input_size``...), from the source
    index when it is a literal there, else by importing the module (``default`` if absent)."""
    key = _key(registry)
    entry = builtin_index().names[key].get(name)
    if name not in registry.module_dict and entry is not None and attr in entry.attrs:
        return entry.attrs[attr]
    obj = resolve(registry, name)
    return getattr(obj, attr) if default is _MISSING else getattr(obj, attr, default)


class PluginError(ImportError):
    """A ``--plugin`` module or file that cannot be imported (the message says why)."""


class UnknownNameError(KeyError):
    """A name that no registry entry or pattern matches."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def resolve(registry: Registry, name: str) -> Callable[..., Any]:
    """Return the class or factory registered for ``name`` (or raise with a hint).

    Imports only the built-in module that registers ``name`` when the source index knows it;
    otherwise every built-in and entry-point plug-in, then looks again.
    """
    key = _key(registry)
    obj = _lookup(registry, name)
    if obj is not None:
        return obj
    index = builtin_index()
    entry = index.names[key].get(name)
    modules = [entry.module] if entry is not None else [
        p.module for p in index.patterns[key] if re.fullmatch(p.regex, name)]
    for module in modules:
        importlib.import_module(module)
    obj = _lookup(registry, name) if modules else None
    if obj is None:
        load_builtins()
        obj = _lookup(registry, name)
    if obj is not None:
        return obj
    known = known_names(registry)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"unknown {registry.name} {name!r}.{hint} Known {registry.name}s: {', '.join(known)}"
    )


def _lookup(registry: Registry, name: str) -> Callable[..., Any] | None:
    """What is registered (imported) under ``name``: a class, or a matching pattern's factory."""
    obj = registry.module_dict.get(name)
    if obj is not None:
        return obj
    for pattern in _PATTERNS[_key(registry)]:
        groups = pattern.match(name)
        if groups is not None:
            return lambda **kw: pattern.factory(**groups, **kw)
    return None


def build(registry: Registry, cfg: str | dict[str, Any], **defaults: Any) -> Any:
    """Build from ``"name"`` or ``{"type": "name", **kwargs}``; ``defaults`` fill missing keys."""
    if isinstance(cfg, str):
        cfg = {"type": cfg}
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"a {registry.name} config must be a name or a dict with 'type', got {cfg!r}")
    kwargs = {**defaults, **{k: v for k, v in cfg.items() if k != "type"}}
    return resolve(registry, str(cfg["type"]))(**kwargs)


_LOADED = False


def _builtin_modules() -> list[tuple[str, Path]]:
    """``(module name, source file)`` of every public module of the built-in packages, in the
    order :func:`load_builtins` imports them; found without importing them."""
    out = []
    for package in BUILTIN_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None:
            continue
        if spec.submodule_search_locations is None:  # a plain module (bench.report.tables)
            if spec.origin:
                out.append((package, Path(spec.origin)))
            continue
        if spec.origin and spec.origin.endswith(".py"):
            out.append((package, Path(spec.origin)))
        for info in pkgutil.iter_modules(list(spec.submodule_search_locations)):
            if not info.name.startswith("_"):
                path = Path(info.module_finder.path) / f"{info.name}.py"  # type: ignore[union-attr]
                out.append((f"{package}.{info.name}", path))
    return out


def load_builtins() -> None:
    """Import every built-in module once (and the entry-point plug-ins), so that all register."""
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


# --------------------------------------------------------------------------- the source index


@dataclass
class IndexEntry:
    """A registration read from source: its module, docstring line and literal attributes."""

    module: str
    doc: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexPattern:
    regex: str
    display: str
    description: str
    module: str


@dataclass
class BuiltinIndex:
    names: dict[str, dict[str, IndexEntry]]
    patterns: dict[str, list[IndexPattern]]
    dynamic: list[str]  # modules whose registrations could not be read statically


_INDEX: BuiltinIndex | None = None


def builtin_index() -> BuiltinIndex:
    """The built-ins' registrations read from their source (once); dynamic modules and
    entry-point plug-ins are imported here so that they are known too."""
    global _INDEX
    if _INDEX is None:
        _INDEX = _scan(_builtin_modules())
        for module in _INDEX.dynamic:
            importlib.import_module(module)
        if not _LOADED:
            for ep in _entry_points():
                ep.load()
    return _INDEX


_UNKNOWN = object()
_ROOTS = ("bench", "bleachbench")  # this repository's top-level packages
_REGISTRY_VARS = {"DATASETS": "datasets", "COMPRESSIONS": "compressions", "DETECTORS": "detectors",
                  "METHODS": "methods", "TABLES": "tables", "EXPERIMENTS": "experiments"}


class _Module:
    """One parsed source file: its statements, classes, constants and ``from X import Y`` names."""

    def __init__(self, tree: ast.Module) -> None:
        self.body = tree.body
        self.classes: dict[str, ast.ClassDef] = {}
        self.constants: dict[str, ast.expr] = {}
        self.imports: dict[str, tuple[str, str]] = {}
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        self.constants[target.id] = node.value


class _Scanner:
    """Reads modules of this repository (never imports them) and evaluates literals in them."""

    def __init__(self, modules: list[tuple[str, Path]]) -> None:
        self.paths = dict(modules)
        self.parsed: dict[str, _Module | None] = {}

    def module(self, name: str) -> _Module | None:
        if name not in self.parsed:
            path = self.paths.get(name)
            if path is None and name.split(".")[0] in _ROOTS:
                try:
                    spec = importlib.util.find_spec(name)
                except (ImportError, ValueError):
                    spec = None
                path = Path(spec.origin) if spec and spec.origin else None
            try:
                tree = ast.parse(path.read_text(encoding="utf-8")) if path else None
            except (OSError, SyntaxError, ValueError):
                tree = None
            self.parsed[name] = _Module(tree) if tree is not None else None
        return self.parsed[name]

    def value(self, mod: _Module, node: ast.expr, depth: int = 0) -> Any:
        """A literal, or a name bound to one (a module constant, or one imported from this repo)."""
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Name) and depth < 8:
            if node.id in mod.constants:
                return self.value(mod, mod.constants[node.id], depth + 1)
            if node.id in mod.imports:
                source, name = mod.imports[node.id]
                other = self.module(source)
                if other is not None and name in other.constants:
                    return self.value(other, other.constants[name], depth + 1)
        return _UNKNOWN

    def attrs(self, mod: _Module, cls: ast.ClassDef, depth: int = 0) -> tuple[dict[str, Any], bool]:
        """``(literal class attributes, complete)``: the class's own over its bases'. ``complete``
        is False when a base could not be read (it could define anything); the class's own
        literals hold either way, since they win over any base."""
        inherited: dict[str, Any] = {}
        complete = depth < 8
        for base in reversed(cls.bases):  # later bases first, so that earlier ones win
            target = self._base(mod, base)
            if target is None:
                complete = complete and _is_external(mod, base)
                continue
            more, ok = self.attrs(*target, depth + 1)
            inherited.update(more)
            complete = complete and ok
        own: dict[str, Any] = {}
        for node in cls.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own[node.name] = _UNKNOWN  # a property or method shadows a base's literal
                continue
            for name in _bound_names(node):  # whatever else binds a name: unknown unless read below
                own[name] = _UNKNOWN
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        own[target.id] = self.value(mod, node.value)
                    elif (isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                          and len(target.elts) == len(node.value.elts)):
                        for t, v in zip(target.elts, node.value.elts):
                            if isinstance(t, ast.Name):
                                own[t.id] = self.value(mod, v)
        out = {**inherited, **own} if complete else dict(own)
        return {k: v for k, v in out.items() if v is not _UNKNOWN}, complete

    def _base(self, mod: _Module, node: ast.expr) -> tuple[_Module, ast.ClassDef] | None:
        if isinstance(node, ast.Name):
            if node.id in mod.classes:
                return mod, mod.classes[node.id]
            if node.id in mod.imports:
                source, name = mod.imports[node.id]
                other = self.module(source)
                if other is not None and name in other.classes:
                    return other, other.classes[name]
        return None


def _bound_names(node: ast.stmt) -> set[str]:
    """Names a class-body statement binds (assignments, loops, imports...), nested scopes aside."""
    names: set[str] = set()
    todo: list[ast.AST] = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            todo.extend(ast.iter_child_nodes(n))
    return names


def _is_external(mod: _Module, base: ast.expr) -> bool:
    """A base from outside this repository (``nn.Module``, ``object``), which sets none of the
    harness's class attributes (``hidden``, ``input_size``, ...)."""
    if isinstance(base, ast.Attribute):  # nn.Module, torch.nn.Module
        return True
    if isinstance(base, ast.Name):
        source = mod.imports.get(base.id, (None, None))[0]
        return base.id == "object" or (source is not None and source.split(".")[0] not in _ROOTS)
    return False


def _registration(node: ast.AST) -> tuple[str, str, ast.Call] | None:
    """``REG.register_module(...)`` -> ("register_module", "REG", call);
    ``register_pattern(REG, ...)`` -> ("register_pattern", "REG", call); else None."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "register_module" and \
            isinstance(func.value, ast.Name):
        return "register_module", func.value.id, node
    if isinstance(func, ast.Name) and func.id == "register_pattern" and node.args and \
            isinstance(node.args[0], ast.Name):
        return "register_pattern", node.args[0].id, node
    return None


def _register_name(call: ast.Call, node: ast.ClassDef | ast.FunctionDef) -> str | None:
    """The name ``register_module`` registers under (the class's own if none is given)."""
    value: ast.expr | None = call.args[0] if call.args else None
    for k in call.keywords:
        if k.arg == "name":
            value = k.value
        elif k.arg == "module":
            return None  # register_module(module=...) is not a decorator: read by importing
    if value is None:
        return node.name
    try:
        name = ast.literal_eval(value)
    except ValueError:
        return None
    return name if isinstance(name, str) else None


def _scan(modules: list[tuple[str, Path]]) -> BuiltinIndex:
    """Index the registrations of ``modules`` from their source; unreadable ones are dynamic."""
    scanner = _Scanner(modules)
    names: dict[str, dict[str, IndexEntry]] = {key: {} for key in REGISTRIES}
    patterns: dict[str, list[IndexPattern]] = {key: [] for key in REGISTRIES}
    dynamic: list[str] = []
    for module, _ in modules:
        mod = scanner.module(module)
        if mod is None:
            dynamic.append(module)
            continue
        found: dict[str, dict[str, IndexEntry]] = {key: {} for key in REGISTRIES}
        found_patterns: dict[str, list[IndexPattern]] = {key: [] for key in REGISTRIES}
        read: set[int] = set()
        ok = True
        for node in mod.body:
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                continue
            doc = (ast.get_docstring(node) or "").strip()
            first = doc.splitlines()[0] if doc else ""
            for deco in node.decorator_list:
                reg = _registration(deco)
                if reg is None:
                    continue
                read.add(id(reg[2]))
                kind, var, call = reg
                key = _REGISTRY_VARS.get(var)
                if key is None:
                    ok = False
                elif kind == "register_module":
                    name = _register_name(call, node)
                    if name is None:
                        ok = False
                        continue
                    attrs = scanner.attrs(mod, node)[0] if isinstance(node, ast.ClassDef) else {}
                    found[key][name] = IndexEntry(module, first, attrs)
                else:
                    args = [scanner.value(mod, a) for a in call.args[1:]]
                    kw = {k.arg: scanner.value(mod, k.value) for k in call.keywords if k.arg}
                    regex = args[0] if len(args) > 0 else kw.get("regex", _UNKNOWN)
                    display = args[1] if len(args) > 1 else kw.get("display", _UNKNOWN)
                    desc = args[2] if len(args) > 2 else kw.get("description", "")
                    if all(isinstance(v, str) for v in (regex, display, desc)):
                        found_patterns[key].append(IndexPattern(regex, display, desc or first, module))
                    else:
                        ok = False
        # A registration anywhere else (a call, a loop, a function body): import it to list it.
        if any(_registration(n) is not None and id(n) not in read for n in ast.walk(ast.Module(
                body=mod.body, type_ignores=[]))):
            ok = False
        if not ok:
            dynamic.append(module)
            continue
        for key in REGISTRIES:
            names[key].update(found[key])
            patterns[key].extend(found_patterns[key])
    return BuiltinIndex(names, patterns, dynamic)


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(modules: Iterable[str]) -> None:
    """Import user plug-ins named on the command line: ``--plugin pkg.mod`` or ``--plugin path/to/file.py``."""
    builtin_index()  # entry-point plug-ins first, as before; built-ins are imported when used
    for name in modules:
        if name.endswith(".py"):
            _load_plugin_file(name)
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"--plugin {name}: cannot import plug-in module {name!r}: {exc}. "
                              f"Give a module importable from here (on sys.path, e.g. an "
                              f"installed package) or a file path ending in .py") from exc


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
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"--plugin {path}: importing it failed: {type(exc).__name__}: {exc}. "
                          f"A plug-in file imports the registries with "
                          f"`from bench.core.registry import METHODS` (or DETECTORS, COMPRESSIONS, "
                          f"DATASETS) and decorates its class with "
                          f"@METHODS.register_module(name=...)") from exc
