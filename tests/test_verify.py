"""`python -m bench verify` (issue 29, item 4): a smoke set made here passes against itself and
fails, naming the cell, against a copy with one perturbed record; bad input exits 2."""

import json
import shutil

import numpy as np
import pytest

from bench.cli import main
from bench.cli.commands.verify import manifest_commands
from bench.core.metrics import compute_metrics
from bench.core.store import ResultsStore
from bench.report.verify import Comparison, VerdictDiff, cell_name, claim, compare


@pytest.fixture(scope="module")
def smoke_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify") / "mine"
    assert main(["run", "--method", "pixel_bleach", "--detector", "tiny", "--profile", "smoke",
                 "--manipulation", "FaceSwap", "--results", str(root), "--quiet"]) == 0
    return root


def test_a_set_verified_against_itself_passes(smoke_set, capsys):
    capsys.readouterr()
    assert main(["verify", "--results", str(smoke_set), "--against", str(smoke_set)]) == 0
    out = capsys.readouterr().out
    assert "**PASS**" in out and "`none` accuracy moved 0.0 points on average" in out
    # one detector seed: its verdicts are conditional on that detector, reported, not judged
    assert "no verdict over several detector seeds" in out and "2 of 2 identical" in out
    text = (smoke_set / "tables" / "verify.md").read_text()
    assert "cells compared (accuracy and AUC, frame level): 6" in text
    figures = json.loads((smoke_set / "tables" / "verify.json").read_text())
    assert figures["passed"] and figures["cells_inside_intervals"] == 6
    assert figures["conditional_compared"] == 2 and figures["verdicts_compared"] == 0


def _rewrite(store: ResultsStore, path, prob) -> None:
    """Replace one stored run's per-face probabilities (and its metrics)."""
    record = json.loads(path.read_text())
    arrays = store.arrays(record)
    arrays["prob"] = np.asarray(prob, dtype=np.float32)
    np.savez(path.with_suffix(".npz"), **arrays)
    record["metrics"] = compute_metrics(arrays["label"], arrays["prob"], arrays["video"])
    path.write_text(json.dumps(record))


def test_moved_detectors_fail_and_say_how_far(smoke_set, tmp_path, capsys):
    """The `none` cells check the data and the detectors: a C40 `none` run that calls every
    face wrong moves their accuracy far beyond the allowed 3 points on average."""
    theirs = tmp_path / "published"
    shutil.copytree(smoke_set / "runs", theirs / "records")
    store = ResultsStore(theirs)
    path = next(store.runs_dir.glob("none-tiny-FaceSwap-c40-*.json"))
    label = store.arrays(json.loads(path.read_text()))["label"].astype(np.float32)
    _rewrite(store, path, 1.0 - label)

    capsys.readouterr()
    assert main(["verify", "--results", str(smoke_set), "--against", str(theirs)]) == 1
    out = capsys.readouterr().out
    assert "**FAIL**" in out and "(allowed 3)" in out
    assert "tiny FaceSwap none c23->c40 seed 0 acc" in out.split("Cells outside")[1]
    assert main(["verify", "--results", str(smoke_set), "--against", str(theirs),
                 "--none-tolerance", "100"]) == 0


def test_bad_input_exits_2_with_one_line_naming_the_path(smoke_set, tmp_path, capsys):
    capsys.readouterr()
    assert main(["verify", "--results", str(tmp_path / "absent"), "--against", str(smoke_set)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "absent") in err
    other = tmp_path / "other" / "records"
    other.mkdir(parents=True)
    record = json.loads(next((smoke_set / "runs").glob("none-*.json")).read_text())
    record["spec"]["seed"] = 7  # no run in common
    (other / "x.json").write_text(json.dumps(record))
    assert main(["verify", "--results", str(smoke_set), "--against", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no run in common" in err and str(tmp_path / "other") in err


def test_the_manifest_commands_that_make_records(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"commands": [
        "python -m bench run --method pixel_bleach --detector all --seeds 0,1,2 --jobs 2",
        "python -m bench reproduce main|sota --seeds 0,1,2",
        "python -m bench calibrate --seeds 0,1,2"]}))
    assert manifest_commands(tmp_path) == [
        ["run", "--method", "pixel_bleach", "--detector", "all", "--seeds", "0,1,2", "--jobs", "2"],
        ["reproduce", "main", "--seeds", "0,1,2"], ["reproduce", "sota", "--seeds", "0,1,2"]]


def _two_seeds(smoke_set, root, n: int = 2) -> ResultsStore:
    """The smoke set's records as detector seeds 0..n-1 (seeds > 0: probabilities jittered)."""
    from dataclasses import replace

    from bench.core.spec import RunSpec

    src, dst = ResultsStore(smoke_set), ResultsStore(root)
    rng = np.random.default_rng(0)
    for record in src.records():
        spec = RunSpec.from_dict(record["spec"])
        arrays = src.arrays(record)
        for seed in range(n):
            arr = dict(arrays)
            if seed:
                arr["prob"] = np.clip(arr["prob"] + rng.normal(0, 0.02, arr["prob"].shape),
                                      0, 1).astype(np.float32)
            dst.write(replace(spec, seed=seed),
                      compute_metrics(arr["label"], arr["prob"], arr["video"]), arrays=arr)
    return dst


def test_verdict_pvalues_tool_agrees_with_verify(smoke_set, tmp_path):
    """tools/verdict_pvalues.py: per cell, each folder's difference, star and p-value over the
    first n detector seeds; a folder against itself is identical at every n; bad input exits 2."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from verdict_pvalues import main as pvalues

    dst = _two_seeds(smoke_set, tmp_path / "two_seeds")
    out = tmp_path / "p.md"
    assert pvalues([str(dst.root), str(dst.root), "--seeds", "1,2", "--out", str(out)]) == 0
    t = json.loads(out.with_suffix(".json").read_text())
    assert t["identical"] == {"1": {"identical": 2, "compared": 2, "same_claim": 2},
                              "2": {"identical": 2, "compared": 2, "same_claim": 2}}
    assert [r["cell"] for r in t["rows"]] == ["tiny FaceSwap pixel_bleach acc", "tiny FaceSwap pixel_bleach auc"]
    assert all("(p 0." in r["2 A"] or "(p 1." in r["2 A"] for r in t["rows"])
    assert pvalues([str(dst.root), str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert pvalues([str(dst.root), str(dst.root), "--seeds", "0", "--out", str(out)]) == 2


def test_several_seeds_are_tested_together_over_fits_and_videos(smoke_set, tmp_path):
    """Where a cell has several fits (here two detector seeds), its verdict is one test over
    the fits and videos (bench/core/verdict.py), computed alike for both sets."""
    dst = _two_seeds(smoke_set, tmp_path / "two_seeds")
    result = compare(dst.root, dst.root)
    assert result.passed and len(result.verdicts) == 2 and len(result.judged) == 2
    assert all(v.seeds == (0, 1) and v.identical for v in result.verdicts)
    assert all(v.mine != "n/a" for v in result.verdicts)

    # A remedy that does the opposite in the other set, in both seeds: a judged verdict flips,
    # which --tolerance fails, naming the cell; by default only a flip between two significant
    # verdicts (a contradiction) fails.
    theirs = ResultsStore(tmp_path / "theirs")
    shutil.copytree(dst.runs_dir, theirs.runs_dir)
    acc = next(v for v in result.verdicts if v.metric == "acc")
    for path in theirs.runs_dir.glob("pixel_bleach-tiny-FaceSwap-c40-*.json"):
        label = theirs.arrays(json.loads(path.read_text()))["label"].astype(np.float32)
        _rewrite(theirs, path, label if acc.mine.startswith("-") else 1.0 - label)
    flipped = compare(dst.root, theirs.root, tolerance=0.95)
    assert not flipped.passed and flipped.share_identical < 0.95
    default = compare(dst.root, theirs.root)
    assert default.passed is not bool(default.opposite)
    differing = [v for v in flipped.judged if not v.identical]
    assert differing and all("tiny FaceSwap pixel_bleach" in cell_name(v.spec, v.metric, v.seeds)
                             for v in differing)


def test_the_share_of_identical_verdicts_is_judged_only_when_asked(smoke_set):
    """By default verify judges the installation: the `none` cells, and no verdict significant
    with opposite signs. A star on one host only is reported (identical share, same claim) and
    judged only with --tolerance: two hosts are independent replications of the detectors."""
    spec = next(iter(compare(smoke_set, smoke_set).verdicts)).spec

    def comparison(pairs, tolerance=None):
        c = Comparison(smoke_set, smoke_set, tolerance)
        c.verdicts = [VerdictDiff(spec, (0, 1, 2), "acc", a, b, None, None) for a, b in pairs]
        return c

    pairs = [("+*", "+*"), ("-", "-"), ("+*", "+"), ("-", "+")]
    c = comparison(pairs)
    assert c.passed and c.share_identical == 0.5 and c.share_same_claim == 0.75
    assert [v.same_sign for v in c.verdicts] == [True, True, True, False]
    assert not comparison(pairs, tolerance=0.95).passed and comparison(pairs, tolerance=0.5).passed
    assert not comparison(pairs + [("+*", "-*")]).passed  # a contradiction fails either way
    assert [claim(x) for x in ("+*", "-†", "+", "-", "0", "n/a")] == ["+*", "-†", "n.s.", "n.s.", "n.s.", "n/a"]


def test_host_seed_effects_tool_says_whether_a_seed_pins_the_detector(smoke_set, tmp_path):
    """tools/host_seed_effects.py: a folder against itself has per-seed effects correlated 1 and
    no spread between the hosts (ratio 0); fewer than three seeds in common exits 2."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tools.host_seed_effects import main as seed_effects

    three = _two_seeds(smoke_set, tmp_path / "three", n=3)
    out = tmp_path / "s.md"
    assert seed_effects([str(three.root), str(three.root), "--out", str(out)]) == 0
    t = json.loads(out.with_suffix(".json").read_text())
    assert {(r["method"], r["metric"]) for r in t["rows"]} >= {("pixel_bleach", "acc"), ("none", "auc")}
    assert all(r["seeds"] == [0, 1, 2] and r["sd_diff"] == 0 for r in t["rows"])
    assert all(r["ratio"] == 0 and r["corr"] > 0.999 for r in t["rows"] if r["sd_seeds"] > 0)
    two = _two_seeds(smoke_set, tmp_path / "two", n=2)
    assert seed_effects([str(two.root), str(two.root), "--out", str(out)]) == 2
