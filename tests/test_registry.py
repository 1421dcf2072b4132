"""Registries: built-ins are found, unknown names fail with a hint, patterns resolve."""

import pytest

from bench.core.registry import (
    COMPRESSIONS,
    DETECTORS,
    METHODS,
    REGISTRIES,
    TABLES,
    UnknownNameError,
    build,
    known_names,
    load_plugins,
    register_pattern,
    resolve,
)


def test_every_registry_has_builtins():
    for key, reg in REGISTRIES.items():
        assert known_names(reg), f"registry {key} is empty"


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(UnknownNameError) as err:
        resolve(TABLES, "mian")
    msg = str(err.value)
    assert "Did you mean 'main'" in msg
    assert "cross_compression" in msg


def test_build_from_dict_and_bad_config():
    table = build(TABLES, {"type": "main"})
    assert table.name == "main"
    with pytest.raises(TypeError, match="'type'"):
        build(TABLES, {"name": "main"})


def test_pattern_resolution_and_duplicate_pattern():
    @register_pattern(METHODS, r"zz_test_(?P<k>\d+)", "zz_test_<k>", "a test family")
    def make(k, extra=0):
        return (k, extra)

    assert build(METHODS, {"type": "zz_test_7", "extra": 1}) == (7, 1)
    assert "zz_test_<k>" in known_names(METHODS)
    with pytest.raises(KeyError):
        register_pattern(METHODS, r"zz_test_(?P<k>\d+)", "zz_test_<k>")(make)


def test_duplicate_registration_is_an_error():
    name = "tiny"
    resolve(DETECTORS, name)  # imported: its registration exists
    with pytest.raises(KeyError):
        DETECTORS.register_module(name=name, module=type("Dup", (), {}))


def test_plugin_module_registers(tmp_path, monkeypatch):
    (tmp_path / "my_plugin_mod.py").write_text(
        "from bench.core.registry import COMPRESSIONS\n"
        "@COMPRESSIONS.register_module(name='zz_plugin_identity')\n"
        "class P:\n    '''A plug-in compression.'''\n    def __call__(self, f):\n        return f\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["my_plugin_mod"])
    assert "zz_plugin_identity" in known_names(COMPRESSIONS)
    with pytest.raises(ImportError, match="no_such_plugin"):
        load_plugins(["no_such_plugin"])
