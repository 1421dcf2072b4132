"""`bench table NAME --results DIR` renders the grid the records cover, and never silently
replaces a table file with one that has fewer measured runs (issue 33 item 4)."""

from __future__ import annotations

from pathlib import Path

from bench.cli import main
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.report.tables import records_grid


def write_ffpp_smoke_runs(results: Path, seeds=(0,)) -> list[RunSpec]:
    store = ResultsStore(results)
    specs = [RunSpec.make(dataset="ffpp", manipulation=m, detector="tiny", method="none",
                          train_compression="c23", test_compression=c, profile="smoke", seed=s)
             for s in seeds for m in ("Deepfakes", "FaceSwap") for c in ("c23", "c40")]
    for k, spec in enumerate(specs):
        store.write(spec, {"frame": {"acc": 90.0 - k, "auc": 95.0 - k}})
    return specs


def test_records_grid_axes(tmp_path: Path) -> None:
    specs = write_ffpp_smoke_runs(tmp_path, seeds=(0, 1))
    grid = records_grid(specs + [RunSpec.make(dataset="synthetic", manipulation="FaceSwap",
                                              detector="xception", method="none")])
    assert (grid.dataset, grid.profile, grid.detectors) == ("ffpp", "smoke", ("tiny",))
    assert grid.manipulations == ("FaceSwap", "Deepfakes")  # the paper's order
    assert (grid.train_compression, grid.test_compression) == ("c23", "c40")
    assert grid.seeds == (0, 1) and grid.fit_seeds == (0,)
    assert [o[:2] for o in grid.others] == [("synthetic", "quick")]
    assert records_grid(specs, dataset="synthetic") is None


def test_table_renders_what_the_records_cover(tmp_path: Path, capsys) -> None:
    write_ffpp_smoke_runs(tmp_path)
    assert main(["table", "cross_compression", "--results", str(tmp_path)]) == 0
    text = (tmp_path / "tables" / "cross_compression.md").read_text()
    assert "dataset `ffpp`, profile `smoke`" in text and "4 of 4 runs present" in text
    assert "Tiny" in text or "tiny" in text
    # an option given selects: another profile's grid has none of these records
    assert main(["table", "cross_compression", "--results", str(tmp_path), "--profile",
                 "quick", "--dataset", "synthetic", "--detector", "xception"]) == 0
    err = capsys.readouterr().err
    assert "kept" in err and "cross_compression.new.md" in err
    assert "4 of 4 runs present" in (tmp_path / "tables" / "cross_compression.md").read_text()
    assert "0 of" in (tmp_path / "tables" / "cross_compression.new.md").read_text()
    # --overwrite replaces it
    assert main(["table", "cross_compression", "--results", str(tmp_path), "--profile", "quick",
                 "--dataset", "synthetic", "--detector", "xception", "--overwrite"]) == 0
    assert "0 of" in (tmp_path / "tables" / "cross_compression.md").read_text()


def test_more_runs_replace_the_file(tmp_path: Path) -> None:
    specs = write_ffpp_smoke_runs(tmp_path)
    assert main(["table", "cross_compression", "--results", str(tmp_path), "--manipulation",
                 "Deepfakes"]) == 0
    assert "2 of 2 runs present" in (tmp_path / "tables" / "cross_compression.md").read_text()
    assert main(["table", "cross_compression", "--results", str(tmp_path)]) == 0
    assert "4 of 4 runs present" in (tmp_path / "tables" / "cross_compression.md").read_text()
    assert not (tmp_path / "tables" / "cross_compression.new.md").exists()
    assert len(specs) == 4
