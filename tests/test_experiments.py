"""Experiments decide which runs happen; tables only lay records out (issue 9, item 3)."""

from __future__ import annotations

from bench.core.registry import EXPERIMENTS, build, known_names
from bench.report.experiments import MethodVsNone, TablesExperiment
from bench.report.tables import GridContext, get_table


def test_run_experiment_is_the_baselines_and_the_method_beside_none():
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap",))
    specs = MethodVsNone("threshold").specs(ctx)
    assert {(s.method, s.test_compression) for s in specs} == {
        ("none", "c23"), ("none", "c40"), ("threshold", "c40")}
    assert len(specs) == len(set(specs))  # no run twice
    main, cross = MethodVsNone("threshold").tables()
    assert main.methods == ("none", "threshold") and "Pixel Bleach" not in main.title
    assert get_table("main").methods == ("none", "pixel_bleach")  # no table was changed
    assert cross.name == "cross_compression"


def test_experiments_are_registered_and_built_from_config():
    assert {"method_vs_none", "tables"} <= set(known_names(EXPERIMENTS))
    exp = build(EXPERIMENTS, {"type": "tables", "names": ["rem", "offset_m"]})
    assert isinstance(exp, TablesExperiment) and [t.name for t in exp.tables()] == ["rem", "offset_m"]
    ctx = GridContext(detectors=("xception",), seeds=(0, 1))
    assert {s.seed for s in exp.specs(ctx)} == {0, 1}
