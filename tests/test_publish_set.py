"""tools/publish_set.py: a work folder becomes a published set whose records keep only the
per-face arrays the tables need, and whose manifest names what made it."""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from publish_set import main  # noqa: E402 - tools/ is not a package


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    (work / "tables").mkdir()
    (work / "tables" / "main.md").write_text("| table |\n")
    for fit_seed in (0, 1):
        stem = f"pixel_bleach-tiny-FaceSwap-c40-{fit_seed:012x}"
        np.savez(work / "runs" / f"{stem}.npz", prob=np.array([0.2, 0.9], np.float32),
                 label=np.array([0, 1], np.int8), video=np.array(["a", "b"]),
                 images_bleach=np.zeros((2, 3, 8, 8), np.float32))
        record = {"arrays": {"file": f"{stem}.npz", "keys": ["prob", "label", "video", "images_bleach"]},
                  "spec": {"profile": "smoke", "dataset": "synthetic", "fit_seed": fit_seed},
                  "git_commit": "abc", "versions": {"torch": "2.14.1", "bleachbench": "0.1.0"}}
        (work / "runs" / f"{stem}.json").write_text(json.dumps(record))
    return work


def test_publish_trims_arrays_and_writes_a_manifest(tmp_path):
    out = tmp_path / "results" / "smoke"
    assert main([str(_work(tmp_path)), str(out), "--seeds", "0", "--command", "python -m bench run"]) == 0
    npz = sorted((out / "records").glob("*.npz"))
    assert len(npz) == 2
    with np.load(npz[0]) as z:
        assert sorted(z.files) == ["label", "prob", "video"]
        np.testing.assert_array_equal(z["prob"], np.array([0.2, 0.9], np.float32))
    record = json.loads(sorted((out / "records").glob("*.json"))[0].read_text())
    assert record["arrays"]["keys"] == ["prob", "label", "video"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["fit_seeds"] == [0, 1] and m["runs"] == 2 and m["commits"] == ["abc"]
    assert m["commands"] == ["python -m bench run"] and m["versions"] == {"torch": "2.14.1"}
    assert (out / "tables" / "main.md").is_file()


def test_publish_refuses_an_empty_work_folder(tmp_path, capsys):
    (tmp_path / "work" / "runs").mkdir(parents=True)
    assert main([str(tmp_path / "work"), str(tmp_path / "out")]) == 2
    assert "no run records" in capsys.readouterr().err


def test_a_refused_publish_leaves_the_previous_set_whole(tmp_path, capsys):
    """A record whose arrays are missing is refused (exit 2, the file named) before the
    published set is touched; a later complete publish replaces it."""
    work, out = _work(tmp_path), tmp_path / "results" / "smoke"
    assert main([str(work), str(out), "--seeds", "0"]) == 0
    before = sorted(p.name for p in (out / "records").iterdir())
    missing = sorted((work / "runs").glob("*.npz"))[0]
    missing.unlink()
    assert main([str(work), str(out), "--seeds", "0"]) == 2
    assert f"{missing.name} is missing" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "records").iterdir()) == before
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "records", "tables"]
    (work / "runs" / missing.with_suffix(".json").name).unlink()
    assert main([str(work), str(out), "--seeds", "0"]) == 0
    assert len(list((out / "records").glob("*.json"))) == 1
