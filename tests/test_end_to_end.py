"""The user's main command on the smoke profile: records, both tables, skip on re-run, --force."""

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.store import ResultsStore
from bench.run.engine import data_fingerprint


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    code = main(["run", "--method", "pixel_bleach", "--detector", "tiny", "--profile", "smoke",
                 "--manipulation", "FaceSwap,NeuralTextures", "--results", str(root), "--quiet"])
    assert code == 0
    return root


def test_run_writes_one_record_per_cell(smoke_results):
    records = list(ResultsStore(smoke_results).records())
    # cross-compression: none on c23 and c40; main: none and pixel_bleach on c40 (shared none@c40)
    cells = {(r["spec"]["manipulation"], r["spec"]["method"], r["spec"]["test_compression"])
             for r in records}
    assert len(records) == 6 == len(cells)
    for r in records:
        for level in ("frame", "video"):
            m = r["metrics"][level]
            assert 0 <= m["acc"] <= 100 and m["tp"] + m["fp"] + m["tn"] + m["fn"] == m["n"]
            lo, hi = m["acc_ci"]
            assert lo <= m["acc"] <= hi
        assert r["metrics"]["intervals"]["unit"] == "video"
        assert r["checkpoints"]["detector"] and r["versions"]["torch"]
        assert r["facts"]["flush_denormal"] is True
    bleach = [r for r in records if r["spec"]["method"] == "pixel_bleach"]
    assert all("best_val_acc" in r["facts"] for r in bleach)


def test_none_cells_from_the_bleachs_frozen_pass_equal_a_pass_of_their_own(smoke_results, capsys):
    """The run's `none` cells at the bleach's test compression take their numbers from the
    bleach's own frozen pass on the same faces; a `none` run by itself gives the same bits."""
    import numpy as np

    store = ResultsStore(smoke_results)

    def none_c40():
        return next(r for r in store.records() if r["spec"]["method"] == "none"
                    and r["spec"]["manipulation"] == "NeuralTextures"
                    and r["spec"]["test_compression"] == "c40")

    taken = none_c40()
    assert "pixel_bleach-tiny-NeuralTextures-c40" in taken["facts"]["predictions_from"]
    probs = store.arrays(taken)["prob"]
    assert main(["run", "--method", "none", "--detector", "tiny", "--profile", "smoke",
                 "--manipulation", "NeuralTextures", "--test-compression", "c40", "--force",
                 "--results", str(smoke_results), "--quiet"]) == 0
    own = none_c40()
    assert "predictions_from" not in own["facts"]
    assert np.array_equal(store.arrays(own)["prob"], probs)
    assert own["metrics"]["frame"] == taken["metrics"]["frame"]


def test_per_face_arrays_saved_beside_each_record(smoke_results):
    store = ResultsStore(smoke_results)
    for r in store.records():
        arr = store.arrays(r)
        n = r["facts"]["n_test_faces"]
        assert arr["prob"].shape == arr["label"].shape == arr["video"].shape == (n,)
        assert arr["prob"].dtype == "float32" and arr["label"].dtype == "int8"
        assert ((arr["prob"] >= 0) & (arr["prob"] <= 1)).all()
        manip = {v.split("/")[0] for v in arr["video"].tolist()}
        assert manip == {"real", r["spec"]["manipulation"]}
        assert (arr["label"] == [m != "real" for m in (v.split("/")[0] for v in arr["video"])]).all()
        acc = 100 * ((arr["prob"] >= 0.5) == arr["label"]).mean()
        assert acc == pytest.approx(r["metrics"]["frame"]["acc"])


def test_tables_written_from_the_run(smoke_results):
    tables = smoke_results / "tables"
    for name in ("main", "cross_compression"):
        md = (tables / f"{name}.md").read_text()
        assert "Tiny" in md or "tiny" in md
        assert "\\toprule" in (tables / f"{name}.tex").read_text()
    md = (tables / "main.md").read_text()
    assert "0 missing" not in md and "missing" not in md.split("Published")[0]


def test_second_run_skips_and_force_reruns(smoke_results, capsys):
    args = ["run", "--method", "none", "--detector", "tiny", "--profile", "smoke",
            "--manipulation", "FaceSwap", "--results", str(smoke_results), "--quiet"]
    assert main(args) == 0
    assert "ran 0 run(s), skipped 2" in capsys.readouterr().out
    path = next((smoke_results / "runs").glob("none-tiny-FaceSwap-c40-*.json"))
    assert main(args + ["--force"]) == 0
    assert "ran 2 run(s)" in capsys.readouterr().out
    assert json.loads(path.read_text())["run_id"] == path.stem


def _run_said(args: list[str], capsys) -> str:
    """Run ``args`` (it must succeed); what it printed, stdout and stderr together."""
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr()
    return out.out + out.err


def test_a_record_made_on_other_data_is_set_aside_and_run_again(smoke_results, capsys):
    args = ["run", "--method", "none", "--detector", "tiny", "--profile", "smoke",
            "--manipulation", "FaceSwap", "--test-compression", "c40",
            "--results", str(smoke_results), "--quiet"]
    path = next((smoke_results / "runs").glob("none-tiny-FaceSwap-c40-*.json"))
    record = json.loads(path.read_text())
    assert record["facts"]["data_fingerprint"].startswith("synthetic-")
    assert data_fingerprint(record) == record["facts"]["data_fingerprint"]
    # A record of an older version: no fact, the fingerprint only in its checkpoint's folder.
    del record["facts"]["data_fingerprint"]
    ckpt = Path(record["checkpoints"]["detector"])  # stored relative to the results folder
    assert not ckpt.is_absolute()
    assert data_fingerprint(record) == ckpt.relative_to("checkpoints").parts[0][
        len("synthetic-"):]
    record["checkpoints"]["detector"] = str(smoke_results / "checkpoints" /
                                            "synthetic-synthetic-000000000000" / "x" / "best.pth")
    path.write_text(json.dumps(record))
    said = _run_said(args, capsys)
    assert "ran 1 run(s)" in said
    assert "made on other data (synthetic-000000000000" in said
    stale = smoke_results / "runs" / "stale" / f"{path.stem}.synthetic-000000000000.json"
    assert json.loads(stale.read_text())["checkpoints"] == record["checkpoints"]  # kept, not lost
    assert json.loads(path.read_text())["facts"]["data_fingerprint"] != "synthetic-000000000000"
    # No fingerprint to compare (a detector loaded from given weights): skipped as before.
    assert data_fingerprint({"spec": {"dataset": "synthetic"},
                             "checkpoints": {"detector": "/w/model.pth"}}) is None


def test_a_record_made_with_other_settings_is_set_aside_and_run_again(smoke_results, capsys):
    """Records are named by the run, not by every setting: one made under other defaults (an
    older profile) is not served as today's; a method's runtime key (a cache budget) is no
    other setting."""
    args = ["run", "--method", "pixel_bleach", "--detector", "tiny", "--profile", "smoke",
            "--manipulation", "FaceSwap", "--results", str(smoke_results), "--quiet"]
    none = next((smoke_results / "runs").glob("none-tiny-FaceSwap-c40-*.json"))
    bleach = next((smoke_results / "runs").glob("pixel_bleach-tiny-FaceSwap-c40-*.json"))
    record = json.loads(none.read_text())
    record["config"]["train"]["lr"] = 0.123  # as if the profile's default had been another
    none.write_text(json.dumps(record))
    other = json.loads(bleach.read_text())
    other["config"]["method"]["frozen_cache_mb"] = 1.0
    bleach.write_text(json.dumps(other))
    said = _run_said(args, capsys)
    assert "ran 1 run(s), skipped 2" in said
    assert "made with another configuration (train.lr differ)" in said
    stale = list((smoke_results / "runs" / "stale").glob(f"{none.stem}.config-*.json"))
    assert len(stale) == 1 and json.loads(stale[0].read_text())["config"]["train"]["lr"] == 0.123
    assert json.loads(none.read_text())["config"]["train"]["lr"] != 0.123


@pytest.mark.parametrize("flush", [True, False])
def test_the_engine_flushes_denormals_unless_told_not_to(flush):
    import torch

    from bench.core.profiles import get_profile
    from bench.run.engine import Engine

    try:
        Engine(get_profile("smoke", {"flush_denormal": flush}), progress=False)
        denormal = torch.tensor([1e-39], dtype=torch.float32)
        assert ((denormal * 1.0).item() == 0.0) is flush
    finally:
        torch.set_flush_denormal(False)
