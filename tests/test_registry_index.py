"""The registry's source index: names, descriptions and class attributes known before any
built-in module is imported, in agreement with what importing them registers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bench.core.registry import (
    _PATTERNS,
    DETECTORS,
    REGISTRIES,
    _builtin_modules,
    _first_line,
    _scan,
    attribute,
    builtin_index,
    load_builtins,
)

ROOT = Path(__file__).resolve().parent.parent


_BUILTIN_PACKAGES = ("bench", "bleachbench")


def test_index_agrees_with_the_imported_registries():
    index = builtin_index()
    load_builtins()
    for key, registry in REGISTRIES.items():
        builtin = {n: obj for n, obj in registry.module_dict.items()
                   if obj.__module__.split(".")[0] in ("bench", "bleachbench")}
        indexed = index.names[key]
        dynamic = {n for n, obj in builtin.items() if obj.__module__ in index.dynamic}
        assert set(indexed) == set(builtin) - dynamic, key
        for name, entry in indexed.items():
            obj = builtin[name]
            assert entry.module == obj.__module__, name
            assert entry.doc == _first_line(obj), name
            for attr, value in entry.attrs.items():
                if not attr.startswith("__"):
                    actual = getattr(obj, attr)
                    assert value == actual or tuple(value) == tuple(actual), (name, attr)
        assert [p.display for p in index.patterns[key]] == sorted(
            (p.display for p in _PATTERNS[key] if p.factory.__module__ not in index.dynamic
             and p.factory.__module__.split(".")[0] in _BUILTIN_PACKAGES),  # not other tests' patterns
            key=[p.display for p in index.patterns[key]].index), key


def test_the_attributes_the_cli_reads_are_in_the_index():
    index = builtin_index()
    for name, entry in index.names["detectors"].items():
        assert "hidden" in entry.attrs and "input_size" in entry.attrs, name
    assert index.names["datasets"]["synthetic"].attrs["manipulations"] == (
        "FaceSwap", "Face2Face", "Deepfakes", "NeuralTextures")
    assert attribute(DETECTORS, "tiny", "hidden") is True


def test_a_new_file_is_indexed_and_an_unreadable_registration_is_imported(tmp_path):
    (tmp_path / "base_mod.py").write_text("class Base:\n    size = 12\n")
    src = textwrap.dedent('''
        """A plug-in module."""
        from bench.core.registry import DETECTORS, COMPRESSIONS, register_pattern
        from base_mod import Base

        HIDDEN = True

        @DETECTORS.register_module(name="zz_new")
        class New(Base):
            """A new detector."""
            hidden = HIDDEN

        @register_pattern(COMPRESSIONS, r"zz_q(?P<q>\\d+)", "zz_q<q>", "a family")
        def make(q):
            return q
    ''')
    (tmp_path / "new_mod.py").write_text(src)
    (tmp_path / "dyn_mod.py").write_text(
        "from bench.core.registry import DETECTORS\nfor n in ('a', 'b'):\n"
        "    DETECTORS.register_module(name=n, module=type(n, (), {}))\n")
    index = _scan([("new_mod", tmp_path / "new_mod.py"), ("dyn_mod", tmp_path / "dyn_mod.py")])
    entry = index.names["detectors"]["zz_new"]
    assert entry.module == "new_mod" and entry.doc == "A new detector."
    assert entry.attrs["hidden"] is True  # a module constant is followed
    assert "size" not in entry.attrs  # base_mod is outside the repository: not read, not guessed
    assert [(p.display, p.description) for p in index.patterns["compressions"]] == [
        ("zz_q<q>", "a family")]
    assert index.dynamic == ["dyn_mod"]


def test_builtin_modules_are_found_without_importing_them():
    names = [name for name, _ in _builtin_modules()]
    assert "bleachbench.detectors.xception" in names and "bench.report.tables" in names
    assert all(path.is_file() for _, path in _builtin_modules())


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_help_and_list_do_not_import_torch():
    code = textwrap.dedent("""
        import contextlib, io, sys
        from bench.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--help"])
            except SystemExit:
                pass
            help_mods = set(sys.modules)
            main(["list"])
        print(" ".join(("help:" + m) for m in help_mods) + " " + " ".join(sys.modules))
    """)
    mods = _modules_after(code)
    assert "help:bench.cli" in mods
    assert "help:torch" not in mods
    assert not {"torch", "timm", "av", "cv2"} & mods
