"""Faces are found once per video, at its best stored quality, and the same boxes crop every
compression (issue 33 item 1): a face the detector misses only at c40 leaves every compression
with the same videos; a face missing at the best quality drops the video from all alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_ffpp import bright_square_detector, face_clip, make_ffpp_tree

from bleachbench.datasets.face_cache import SkippedVideoWarning, load_faces
from bleachbench.datasets.ffpp import FaceForensics
from bleachbench.datasets.folder import FolderSource
from bleachbench.datasets.video_io import write_video

MANIPS = ("Deepfakes", "FaceSwap")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """c23 and c40 stored; at c40 the 'face' of three test videos is gone (the detector misses
    it there only); at c23 (the best stored quality) the real video 002 has no face at all."""
    root = make_ffpp_tree(tmp_path_factory.mktemp("ffpp_same"), manipulations=MANIPS,
                          stored_real=("c23", "c40"), stored_fake=("c23", "c40"))
    for rel, seed in (("original_sequences/youtube/c40/videos/006.mp4", 6),
                      ("manipulated_sequences/Deepfakes/c40/videos/006_007.mp4", 1),
                      ("manipulated_sequences/FaceSwap/c40/videos/007_006.mp4", 2)):
        write_video(root / rel, face_clip(seed, blank=True))
    for c in ("c23", "c40"):
        write_video(root / f"original_sequences/youtube/{c}/videos/002.mp4",
                    face_clip(2, blank=True))
    return root


def faces_at(root: Path, cache: Path, compression: str, split: str):
    src = FaceForensics(root, manipulations=MANIPS, face_detector=bright_square_detector)
    return load_faces(src, "all", compression, split, 16, 3, cache, workers=1, progress=False)


def keys(faces) -> list[tuple[str, str, int]]:
    return list(zip(faces.manipulations.tolist(), faces.video_ids.tolist(),
                    faces.frame_index.tolist()))


def test_same_videos_and_frames_at_every_compression(tree: Path, tmp_path: Path) -> None:
    test = {c: faces_at(tree, tmp_path / "cache", c, "test")
            for c in ("c23", "c40", "jpeg_q30")}
    assert len(test["c23"]) == 6 * 3  # 2 real + 2 fakes x 2 manipulations, 3 frames each
    assert keys(test["c23"]) == keys(test["c40"]) == keys(test["jpeg_q30"])
    assert {"006", "006_007", "007_006"} <= set(test["c40"].video_ids.tolist())
    for faces in test.values():
        assert faces.skipped == {}
        assert faces.manifest["faces_found_at"] == {"c23": 6}
    # the c40 crops are the c23 boxes on the c40 frames: the blanked face crops dark
    blank = [i for i, (m, v, _) in enumerate(keys(test["c40"])) if (m, v) == ("real", "006")]
    assert np.asarray(test["c40"].images[blank]).mean() < 100
    assert np.asarray(test["c23"].images[blank]).mean() > 100


def test_no_face_at_the_best_quality_drops_the_video_everywhere(tree: Path, tmp_path: Path) -> None:
    out = {}
    for c in ("c23", "c40", "jpeg_q30"):
        with pytest.warns(SkippedVideoWarning, match="left out of every compression"):
            out[c] = faces_at(tree, tmp_path / "cache", c, "train")
    assert keys(out["c23"]) == keys(out["c40"]) == keys(out["jpeg_q30"])
    for faces in out.values():
        assert faces.skipped == {"no_face": 1}
        assert [s["video_id"] for s in faces.manifest["skipped_videos"]] == ["002"]
        assert "at c23" in faces.manifest["skipped_videos"][0]["message"]
    # the detector ran once per video: the box memo holds one file per video, not per compression
    n_train_videos = 4 + 4 * len(MANIPS)
    assert len(list((tmp_path / "cache" / "ffpp" / "boxes").glob("*.json"))) == n_train_videos


def test_manifest_says_stored_or_simulated_and_the_full_config(tmp_path: Path) -> None:
    root = make_ffpp_tree(tmp_path / "ffpp", manipulations=("Deepfakes",), stored_real=("c23",),
                          stored_fake=("c23",))
    src = FaceForensics(root, manipulations=("Deepfakes",), face_detector="whole")
    faces = load_faces(src, "Deepfakes", "c40", "val", 16, 2, tmp_path / "cache", workers=1,
                       progress=False)
    prov = faces.manifest["compression_provenance"]
    assert prov["real"]["stored"] is False and prov["real"]["base"] == "c23"
    assert prov["real"]["simulator"] == "c40" and "compressed twice" in prov["real"]["note"]
    assert prov["Deepfakes"]["faces_found_at"] == "c23"
    cfg = faces.manifest["dataset"]
    assert cfg["face_detector"] == "whole" and cfg["base_compressions"] == ["raw", "c23"]
    assert cfg["face_scale"] == 1.3 and cfg["real_subset"] == "youtube"
    stored = load_faces(src, "Deepfakes", "c23", "val", 16, 2, tmp_path / "cache", workers=1,
                        progress=False)
    assert stored.manifest["compression_provenance"]["real"]["stored"] is True


def test_folder_source_finds_faces_once_on_the_stored_file(tmp_path: Path) -> None:
    for cls, k in (("real", 0), ("fake", 1)):
        for s in ("train", "val", "test"):
            write_video(tmp_path / "data" / s / cls / f"{cls}{k}.mp4", face_clip(k))
    src = FolderSource(tmp_path / "data", face_detector=bright_square_detector)
    a = load_faces(src, "fake", "raw", "test", 16, 3, tmp_path / "cache", workers=1, progress=False)
    b = load_faces(src, "fake", "jpeg_q10", "test", 16, 3, tmp_path / "cache", workers=1,
                   progress=False)
    assert keys(a) == keys(b) and a.manifest["faces_found_at"] == {"raw": 2}
    assert b.manifest["compression_provenance"]["fake"]["stored"] is False
