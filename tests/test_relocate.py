"""Relocatable results (issue 31 item 2): paths inside a results folder are stored relative to
it, so a copied folder renders and re-runs from its own files, never the original's."""

import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.store import ResultsStore, resolve_stored, stored_path

ARGS = ["run", "--method", "pixel_bleach", "--detector", "tiny", "--profile", "smoke",
        "--manipulation", "FaceSwap", "--test-compression", "c40", "--quiet"]


def test_stored_paths_are_relative_and_old_absolute_ones_migrate(tmp_path):
    root = tmp_path / "copy"
    (root / "checkpoints" / "a").mkdir(parents=True)
    (root / "checkpoints" / "a" / "best.pth").write_bytes(b"x")
    assert stored_path(root, root / "checkpoints" / "a" / "best.pth") == "checkpoints/a/best.pth"
    assert stored_path(root, "untrained:abc") == "untrained:abc"
    assert stored_path(root, "/elsewhere/w.pth") == "/elsewhere/w.pth"
    assert resolve_stored(root, "checkpoints/a/best.pth") == root / "checkpoints/a/best.pth"
    # an absolute path of the original folder (an old record) resolves to this folder's file
    old = tmp_path / "orig" / "checkpoints" / "a" / "best.pth"
    assert resolve_stored(root, old) == root / "checkpoints" / "a" / "best.pth"
    assert resolve_stored(root, "/w/model.pth") == Path("/w/model.pth")  # outside: as it is


@pytest.mark.slow
def test_a_copied_results_folder_uses_its_own_files(tmp_path, capsys):
    orig, copy = tmp_path / "orig", tmp_path / "copy"
    assert main([*ARGS, "--results", str(orig)]) == 0
    for path in [*orig.rglob("done.json"), *(orig / "runs").glob("*.json")]:
        assert str(orig) not in path.read_text(), f"{path} names the folder by absolute path"
    shutil.copytree(orig, copy)
    best = next(orig.rglob("best.pth"))
    best.write_bytes(best.read_bytes()[:100])  # the original's checkpoint is now corrupt
    capsys.readouterr()
    assert main(["table", "main", "--profile", "smoke", "--results", str(copy), "--method",
                 "pixel_bleach", "--detector", "tiny", "--manipulation", "FaceSwap"]) == 0
    assert main([*ARGS, "--results", str(copy)]) == 0
    assert "ran 0 run(s)" in capsys.readouterr().out
    # re-run the runs from the copy (its detector loaded and its fit reused): its own files
    assert main([*ARGS, "--results", str(copy), "--force"]) == 0
    out = capsys.readouterr()
    assert "training tiny" not in out.out + out.err
    store = ResultsStore(copy)
    for record in store.records():
        ckpt = store.resolve(record["checkpoints"]["detector"])
        assert ckpt.is_file() and copy in ckpt.parents
    # the original, whose checkpoint is corrupt, names it (one line, exit 2)
    assert main([*ARGS, "--results", str(orig), "--force"]) == 2
    err = capsys.readouterr().err
    assert f"corrupt checkpoint {best}" in err and len(err.strip().splitlines()) == 1


def test_an_old_done_json_with_an_absolute_path_reads_this_folders_weights(tmp_path):
    from bench.run.training import _read_done

    work = tmp_path / "copy" / "w"
    work.mkdir(parents=True)
    (work / "best.pth").write_bytes(b"weights")
    other = tmp_path / "orig" / "w" / "best.pth"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"other")
    (work / "done.json").write_text(json.dumps({"checkpoint": str(other), "epochs": 1}))
    assert _read_done(work, 1)["checkpoint"] == str(work / "best.pth")
    (work / "done.json").write_text(json.dumps({"checkpoint": "best.pth", "epochs": 1}))
    assert _read_done(work, 1)["checkpoint"] == str(work / "best.pth")
