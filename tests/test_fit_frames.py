"""``faces.fit_train_frames_per_video`` / ``faces.fit_val_frames_per_video``: more LQ faces for a
remedy's fit and selection, with the trained detector left as it is (issue 32, items 2 and 5)."""

from __future__ import annotations

import json

import pytest

from bench.cli import main


def _records(root, method: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "runs").glob(f"{method}-tiny-*.json"))]


@pytest.mark.slow
def test_more_fit_faces_keep_the_detector(tmp_path) -> None:
    args = ["run", "--method", "threshold", "--detector", "tiny", "--profile", "smoke",
            "--manipulation", "FaceSwap", "--results", str(tmp_path), "--quiet"]
    assert main(args) == 0
    assert main([*args, "--cfg-options", "faces.fit_train_frames_per_video=5",
                 "faces.fit_val_frames_per_video=5"]) == 0
    records = _records(tmp_path, "threshold")
    assert len(records) == 2
    default = next(r for r in records if r["spec"]["options"] == "{}")
    more = next(r for r in records if r["spec"]["options"] != "{}")
    # the same detector: no second training, the same checkpoint
    assert more["checkpoints"]["detector"] == default["checkpoints"]["detector"]
    # smoke takes 3 faces per clip (the first skipped): 5 is 5/3 as many fit and val faces
    for key in ("n_train", "n_val"):
        assert more["facts"]["fit_on"][key] * 3 == default["facts"]["fit_on"][key] * 5, key
    assert more["config"]["faces"]["fit_val_frames_per_video"] == 5


def test_fit_frames_are_checked_before_work(tmp_path, capsys) -> None:
    code = main(["run", "--method", "threshold", "--detector", "tiny", "--profile", "smoke",
                 "--results", str(tmp_path / "r"), "--quiet",
                 "--cfg-options", "faces.fit_val_frames_per_video=0"])
    assert code == 2
    assert "fit_val_frames_per_video" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
