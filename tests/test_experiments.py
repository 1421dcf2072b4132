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


def test_fit_seeds_fit_the_remedy_again_and_keep_fit_seed_0s_run_ids():
    from dataclasses import replace

    from bench.core.spec import RunSpec

    one = GridContext(detectors=("xception",), manipulations=("FaceSwap",), seeds=(0, 1))
    three = replace(one, fit_seeds=(0, 1, 2))
    before, after = MethodVsNone("pixel_bleach").specs(one), MethodVsNone("pixel_bleach").specs(three)
    assert set(before) < set(after)  # fit seed 0 is the run that existed: same spec, same id
    assert {s.run_id for s in before} < {s.run_id for s in after}
    nones = [s for s in after if s.method == "none"]
    bleach = [s for s in after if s.method == "pixel_bleach"]
    assert len(nones) == 2 * 2 and {s.fit_seed for s in nones} == {0}  # none: once per seed
    assert sorted((s.seed, s.fit_seed) for s in bleach) == [(d, f) for d in (0, 1) for f in (0, 1, 2)]
    assert len({s.run_id for s in after}) == len(after)  # no two fits share a record
    assert len({s.method_seed for s in bleach}) == 6  # each fit its own method seed
    # a spec without a fit seed hashes and records as before fit seeds existed
    spec = bleach[0]
    assert "fit_seed" not in spec.identity() and spec.method_seed == spec.seed
    assert RunSpec.from_dict(spec.identity()) == spec
    refit = replace(spec, fit_seed=2)
    assert refit.identity()["fit_seed"] == 2 and RunSpec.from_dict(refit.identity()) == refit
    assert refit.run_id != spec.run_id and refit.method_seed == spec.seed + 2000
