"""`make-ffpp-sample DIR` then `run --dataset ffpp --root DIR --profile smoke --detector tiny`
runs end to end, as docs/datasets.md says (issue 33 item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main


@pytest.mark.slow
def test_sample_tree_runs_end_to_end(tmp_path: Path, capsys) -> None:
    sample, results = tmp_path / "ffpp_sample", tmp_path / "results"
    assert main(["make-ffpp-sample", str(sample)]) == 0
    assert "wrote 70 videos" in capsys.readouterr().out
    assert json.loads((sample / "splits" / "test.json").read_text())  # FF++'s pair lists
    assert not (sample / "original_sequences/youtube/c40").exists()  # c40 is simulated
    assert main(["run", "--dataset", "ffpp", "--root", str(sample), "--profile", "smoke",
                 "--detector", "tiny", "--results", str(results)]) == 0
    table = (results / "tables" / "cross_compression.md").read_text()
    assert "dataset `ffpp`" in table and "8 of 8 runs present" in table
    manifests = [json.loads(p.read_text())
                 for p in (results / "cache" / "faces" / "ffpp").glob("*/manifest.json")]
    c40 = [m for m in manifests if m["params"]["compression"] == "c40"]
    assert c40 and all(m["compression_provenance"]["real"]["base"] == "c23"
                       and not m["compression_provenance"]["real"]["stored"] for m in c40)
    by = {(m["params"]["compression"], m["params"]["split"]): m["skipped_videos"] for m in manifests}
    assert by[("c23", "test")] == by[("c40", "test")]  # the same videos left out, if any
    # the record states the whole dataset configuration and where each compression comes from
    record = json.loads(next((results / "runs").glob("none-tiny-*.json")).read_text())
    ds = record["config"]["dataset"]
    assert ds["face_detector"] and ds["base_compressions"] and ds["splits_dir"]
    assert ds["compressions"]["c23"]["real"]["stored"] is True
    assert ds["compressions"]["c40"]["real"] == {**ds["compressions"]["c40"]["real"],
                                                 "stored": False, "base": "c23"}


def test_bad_split_sizes_are_refused(tmp_path: Path, capsys) -> None:
    assert main(["make-ffpp-sample", str(tmp_path), "--split-sizes", "3,2,2"]) == 2
    assert "even" in capsys.readouterr().err
