"""The ``folder`` source: real/ and fake/ images or videos, hash splits or split folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_ffpp import bright_square_detector, face_clip

from bleachbench.datasets.face_cache import SkippedVideoWarning, load_faces
from bleachbench.datasets.folder import FolderSource
from bleachbench.datasets.video_io import write_video


def write_image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(face_clip(seed)[0], cv2.COLOR_RGB2BGR))


def test_images_hash_split_is_deterministic_and_complete(tmp_path: Path) -> None:
    for i in range(30):
        write_image(tmp_path / "real" / f"r{i:02d}.png", i)
        write_image(tmp_path / "fake" / f"f{i:02d}.png", 50 + i)
    src = FolderSource(tmp_path, face_detector=bright_square_detector)
    assert src.manipulations == ("fake",)
    per_split = {s: src.videos(s, "fake") for s in ("train", "val", "test")}
    ids = [v.video_id for vs in per_split.values() for v in vs]
    assert sorted(ids) == sorted(
        [f"r{i:02d}" for i in range(30)] + [f"f{i:02d}" for i in range(30)]
    )
    assert len(per_split["train"]) > len(per_split["val"]) and per_split["test"]
    again = FolderSource(tmp_path, face_detector=bright_square_detector)
    assert [v.video_id for v in again.videos("val", "fake")] == [
        v.video_id for v in per_split["val"]
    ]
    video = per_split["train"][0]
    assert video.load("raw").shape == (1, 48, 64, 3)  # an image is a one-frame clip
    faces = load_faces(
        src, "fake", "jpeg_q50", "train", 16, 4, tmp_path / "cache", workers=1, progress=False
    )
    assert len(faces) == len(per_split["train"])  # one face per image
    assert set(faces.labels.tolist()) == {0, 1}


def test_videos_in_split_folders_and_manipulation_subfolders(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        write_video(tmp_path / split / "real" / f"{split}_a.mp4", face_clip(1))
        write_video(tmp_path / split / "fake" / "Deepfakes" / f"{split}_b.mp4", face_clip(2))
        write_video(tmp_path / split / "fake" / "FaceSwap" / f"{split}_c.mp4", face_clip(3))
    src = FolderSource(tmp_path, face_detector=bright_square_detector)
    assert src.manipulations == ("Deepfakes", "FaceSwap")
    vids = src.videos("val", "FaceSwap")
    assert [(v.video_id, v.manipulation, v.label) for v in vids] == [
        ("val_a", "real", 0),
        ("val_c", "FaceSwap", 1),
    ]
    faces = load_faces(
        src, "all", "raw", "test", 16, 3, tmp_path / "cache", workers=1, progress=False
    )
    assert len(faces) == 3 * 3 and faces.frame_index.tolist()[:3] == [0, 2, 5]


def test_missing_folders_are_listed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    with pytest.raises(FileNotFoundError, match="fake"):
        FolderSource(tmp_path)
    (tmp_path / "train" / "real").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        FolderSource(tmp_path)
    assert str(tmp_path / "val" / "real") in str(err.value) and str(
        tmp_path / "test" / "fake"
    ) in str(err.value)
    with pytest.raises(ValueError, match="ratios"):
        FolderSource(tmp_path, ratios=(0.5, 0.5, 0.5))


def test_unreadable_image_is_skipped(tmp_path: Path) -> None:
    for i in range(12):
        write_image(tmp_path / "real" / f"r{i}.jpg", i)
        write_image(tmp_path / "fake" / f"f{i}.jpg", 20 + i)
    src = FolderSource(tmp_path, ratios=(1.0, 0.0, 0.0), face_detector=bright_square_detector)
    (tmp_path / "fake" / "f3.jpg").write_bytes(b"not an image")
    with pytest.warns(SkippedVideoWarning, match="f3"):
        faces = load_faces(
            src, "fake", "raw", "train", 16, 1, tmp_path / "cache", workers=1, progress=False
        )
    assert faces.skipped == {"corrupt": 1} and len(faces) == 23
    assert np.isin("f3", faces.video_ids, invert=True)
