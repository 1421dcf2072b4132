"""Plug-ins honoured or refused (issue 33 item 5): declared input size, undeclared
pre-activation modules, display names, stable compression descriptions, register_pattern as a
statement, the sweep's declared direction."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bench.core.compression import Compression, UnstableDescriptionError, compression_spec
from bench.core.detector import Detector, PreActivationWarning, face_size
from bench.core.registry import COMPRESSIONS, DETECTORS, build, register_pattern, resolve


class _Plain(Detector):
    input_size = 96
    feature_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)

    def embed(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def test_declared_input_size_is_used_unless_the_detector_is_resizable():
    assert face_size(_Plain, 48) == 96
    assert face_size(_Plain, None) == 96
    assert face_size(resolve(DETECTORS, "xception"), 48) == 48  # built-ins run at any size
    assert face_size(resolve(DETECTORS, "tiny"), 32) == 32


def test_undeclared_pre_activation_modules_warns_once_and_declared_empty_does_not():
    x = torch.rand(1, 3, 16, 16)
    with pytest.warns(PreActivationWarning, match="pre_activation_modules"):
        _Plain().feature_pair(x)

    class Declared(_Plain):
        pre_activation_modules = ()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Declared().feature_pair(x)


def test_display_names_come_from_the_plugin():
    from bench.report.tables import PRETTY

    @DETECTORS.register_module(name="zz_shown")
    class Shown(_Plain):
        display_name = "Shown-Net"

    try:
        assert PRETTY.get("zz_shown", "zz_shown") == "Shown-Net"
        assert PRETTY.get("xception", "xception") == "Xception"
        assert PRETTY["zz_unknown_detector"] == "zz_unknown_detector"
    finally:
        DETECTORS.module_dict.pop("zz_shown")


class _ResizeHalf(Compression):  # no describe(), default repr: "<... object at 0x...>"
    def _apply(self, frames):
        return frames


class _Described(_ResizeHalf):
    def describe(self):
        return "Described(scale=0.5)"


def test_compression_description_with_an_address_is_refused():
    COMPRESSIONS.register_module(name="zz_plain", module=_ResizeHalf)
    COMPRESSIONS.register_module(name="zz_described", module=_Described)
    try:
        with pytest.raises(UnstableDescriptionError, match="memory address.*describe"):
            compression_spec("zz_plain")
        assert compression_spec("zz_described").endswith("Described(scale=0.5)")
        assert compression_spec("zz_described") == compression_spec("zz_described")
    finally:
        COMPRESSIONS.module_dict.pop("zz_plain")
        COMPRESSIONS.module_dict.pop("zz_described")


def _make(level):
    return _Described()


def test_register_pattern_as_a_statement_registers_or_warns():
    from bench.core import registry as R

    before = list(R._PATTERNS[R._key(COMPRESSIONS)])
    try:
        register_pattern(COMPRESSIONS, r"zz_st(?P<level>\d+)", "zz_st<level>", factory=_make,
                         stronger="lower")
        register_pattern(COMPRESSIONS, r"zz_pos(?P<level>\d+)", "zz_pos<level>", _make)
        assert isinstance(build(COMPRESSIONS, "zz_st3"), _Described)
        assert isinstance(build(COMPRESSIONS, "zz_pos3"), _Described)
        with pytest.warns(RuntimeWarning, match="registered nothing"):
            register_pattern(COMPRESSIONS, r"zz_lost(?P<level>\d+)", "zz_lost<level>")
            gc.collect()
        from bench.report.sweep import milder_when_higher

        assert milder_when_higher("zz_st", "level")  # declared: a higher level is milder
        assert not milder_when_higher("zz_pos", "level")  # undeclared, "level": not reversed
        with pytest.raises(ValueError, match="stronger"):
            register_pattern(COMPRESSIONS, r"zz_bad(?P<l>\d+)", "zz_bad<l>", _make, stronger="up")
    finally:
        R._PATTERNS[R._key(COMPRESSIONS)][:] = before


def test_builtin_frames_check_still_runs_for_described_plugins():
    out = _Described()(np.zeros((1, 4, 4, 3), np.uint8))
    assert out.shape == (1, 4, 4, 3)
