"""The ``ffpp`` source on a tiny FaceForensics++ tree written in the test: layout, splits, pairing, skips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.core.registry import DATASETS, build
from bleachbench.datasets.face_cache import SkippedVideoWarning, load_faces
from bleachbench.datasets.ffpp import CompressionUnavailableError, FaceForensics, load_ffpp_splits
from bleachbench.datasets.video_io import read_video, write_video

PAIRS = {
    "train": [["000", "001"], ["002", "003"]],
    "val": [["004", "005"]],
    "test": [["006", "007"]],
}
MANIPS = ("Deepfakes", "FaceSwap")
T, H, W = 6, 48, 64


def face_clip(seed: int, blank: bool = False) -> np.ndarray:
    """A dark clip with a bright 'face' square that moves a little; ``blank``: no face at all."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 60, size=(T, H, W, 3), dtype=np.uint8)
    if not blank:
        for t in range(T):
            x, y = 10 + 2 * t + seed % 5, 8 + seed % 7
            frames[t, y : y + 20, x : x + 20] = 220
    return frames


def bright_square_detector(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Test stub for a face detector: the bounding box of the bright pixels, if any."""
    ys, xs = np.nonzero(frame.min(axis=2) > 200)
    if len(xs) == 0:
        return []
    return [(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)]


def make_ffpp_tree(
    root: Path, manipulations=MANIPS, stored_real=("raw", "c23"), stored_fake=("raw",)
) -> Path:
    """Write a tiny FF++ tree: 8 real ids, their a_b/b_a fakes, split files under root/splits."""
    ids = sorted({i for pairs in PAIRS.values() for p in pairs for i in p})
    for k, vid in enumerate(ids):
        for c in stored_real:
            write_video(
                root / "original_sequences/youtube" / c / "videos" / f"{vid}.mp4", face_clip(k)
            )
    for m_i, m in enumerate(manipulations):
        for pairs in PAIRS.values():
            for a, b in pairs:
                for k, name in enumerate((f"{a}_{b}", f"{b}_{a}")):
                    for c in stored_fake:
                        write_video(
                            root / "manipulated_sequences" / m / c / "videos" / f"{name}.mp4",
                            face_clip(100 + 10 * m_i + int(a) * 2 + k),
                        )
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, pairs in PAIRS.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    return root


@pytest.fixture(scope="module")
def ffpp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ffpp_tree(tmp_path_factory.mktemp("ffpp"))


def make_source(root: Path, **kw) -> FaceForensics:
    return FaceForensics(root, manipulations=MANIPS, face_detector=bright_square_detector, **kw)


def test_registered_and_builds_from_config(ffpp_root: Path) -> None:
    src = build(
        DATASETS,
        {"type": "ffpp", "root": str(ffpp_root), "manipulations": MANIPS, "face_detector": "whole"},
    )
    assert isinstance(src, FaceForensics)


def test_splits_labels_and_pairing(ffpp_root: Path) -> None:
    src = make_source(ffpp_root)
    train = src.videos("train", "Deepfakes")
    reals = [v for v in train if v.label == 0]
    fakes = [v for v in train if v.label == 1]
    assert [v.video_id for v in reals] == ["000", "001", "002", "003"]
    assert all(v.manipulation == "real" for v in reals)
    assert sorted(v.video_id for v in fakes) == ["000_001", "001_000", "002_003", "003_002"]
    assert all(v.manipulation == "Deepfakes" for v in fakes)
    val_ids = {v.video_id for v in src.videos("val", "FaceSwap")}
    assert val_ids == {"004", "005", "004_005", "005_004"}
    assert not val_ids & {v.video_id for v in train}
    with pytest.raises(KeyError, match="NeuralTextures"):
        src.videos("train", "NeuralTextures")


def test_split_file_format_is_checked(tmp_path: Path) -> None:
    for i, split in enumerate(("train", "val", "test")):
        (tmp_path / f"{split}.json").write_text(json.dumps([[f"00{2 * i}", f"00{2 * i + 1}"]]))
    assert load_ffpp_splits(tmp_path)["val"] == [("002", "003")]
    (tmp_path / "val.json").write_text(json.dumps({"000": "001"}))
    with pytest.raises(ValueError, match="val.json"):
        load_ffpp_splits(tmp_path)


def test_stored_compression_read_else_simulated(ffpp_root: Path) -> None:
    src = make_source(ffpp_root)
    train = src.videos("train", "Deepfakes")
    real, fake = train[0], train[-1]
    path, simulator = real.load.resolve("c23")
    assert simulator is None and path.parts[-3] == "c23"
    path, simulator = fake.load.resolve("c23")  # no c23 folder for fakes: raw + the c23 simulator
    assert simulator == "c23" and path.parts[-3] == "raw"
    raw = real.load("raw")
    assert raw.shape == (T, H, W, 3) and raw.dtype == np.uint8
    assert np.abs(raw.astype(int) - face_clip(0).astype(int)).max() <= 3  # lossless H.264 (yuv444)
    assert fake.load("c23").shape == (T, H, W, 3)
    assert fake.load("jpeg_q30").shape == (T, H, W, 3)


def test_raw_cannot_be_simulated(tmp_path: Path) -> None:
    root = make_ffpp_tree(
        tmp_path, manipulations=("Deepfakes",), stored_real=("c23",), stored_fake=("c23",)
    )
    src = FaceForensics(root, manipulations=("Deepfakes",), face_detector=bright_square_detector)
    with pytest.raises(CompressionUnavailableError, match="raw"):
        src.videos("val", "Deepfakes")[0].load("raw")


def test_missing_folders_list_expected_paths(tmp_path: Path) -> None:
    (tmp_path / "original_sequences/youtube/c23/videos").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        FaceForensics(tmp_path)
    msg = str(err.value)
    for expected in (
        "manipulated_sequences/Deepfakes/raw/videos",
        "manipulated_sequences/NeuralTextures/c40/videos",
        "splits/train.json",
        "splits/test.json",
    ):
        assert str(Path(expected)) in msg
    assert "original_sequences/youtube" not in msg  # that one is present


def test_truncated_and_faceless_videos_are_skipped_and_counted(tmp_path: Path) -> None:
    root = make_ffpp_tree(tmp_path / "ffpp", manipulations=("Deepfakes",), stored_real=("raw",))
    bad = root / "manipulated_sequences/Deepfakes/raw/videos/001_000.mp4"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    write_video(root / "original_sequences/youtube/raw/videos/002.mp4", face_clip(2, blank=True))
    src = FaceForensics(root, manipulations=("Deepfakes",), face_detector=bright_square_detector)
    with pytest.warns(SkippedVideoWarning) as record:
        faces = load_faces(
            src, "Deepfakes", "raw", "train", 16, 3, tmp_path / "cache", workers=1, progress=False
        )
    bad_reason = next(r for r in faces.skipped if r != "no_face")
    assert bad_reason in (
        "truncated",
        "corrupt",
    )  # where the cut falls decides which the decoder sees
    assert faces.skipped == {bad_reason: 1, "no_face": 1}
    assert len(record) == 2
    assert "001_000" not in set(faces.video_ids) and "002" not in set(faces.video_ids)
    assert faces.manifest["counts"]["videos"] == 8 and faces.manifest["counts"]["videos_used"] == 6
    assert len(faces) == 6 * 3  # nothing substituted for the skipped videos
    assert {s["video_id"]: s["reason"] for s in faces.manifest["skipped_videos"]} == {
        "001_000": bad_reason,
        "002": "no_face",
    }
    with pytest.raises(OSError):
        read_video(bad)


def test_deepfakebench_import_uses_whole_crops(tmp_path: Path) -> None:
    import cv2

    from bleachbench.datasets.deepfakebench import DeepfakeBenchSource

    data: dict = {"FF-real": {}, "FF-DF": {}}
    for label, cat, names in (
        ("FF-real", "original_sequences/youtube", ["000", "001"]),
        ("FF-DF", "manipulated_sequences/Deepfakes", ["000_001"]),
    ):
        for split in ("train", "test"):
            vids = {}
            for k, name in enumerate(names):
                frames = []
                for t, image in enumerate(face_clip(k)[:4]):
                    rel = f"FaceForensics++/{cat}/c23/frames/{split}{name}/{t:03d}.png"
                    (tmp_path / "rgb" / rel).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(tmp_path / "rgb" / rel), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                    frames.append(f"./datasets/rgb/{rel}")
                vids[f"{split}{name}"] = {"label": label, "frames": frames}
            data[label][split] = {"c23": vids}
    (tmp_path / "FaceForensics++.json").write_text(json.dumps({"FaceForensics++": data}))
    with pytest.raises(FileNotFoundError, match="tried"):  # a root where no frame is
        DeepfakeBenchSource(tmp_path / "elsewhere", json_path=tmp_path / "FaceForensics++.json")
    src = build(
        DATASETS,
        {
            "type": "deepfakebench",
            "root": str(tmp_path / "rgb"),
            "json_path": str(tmp_path / "FaceForensics++.json"),
        },
    )
    assert src.manipulations == ("Deepfakes",)
    vids = src.videos("test", "Deepfakes")
    assert [(v.video_id, v.label) for v in vids] == [
        ("test000", 0),
        ("test001", 0),
        ("test000_001", 1),
    ]
    assert src.videos("val", "Deepfakes") == []
    faces = load_faces(
        src, "Deepfakes", "c23", "train", 24, 2, tmp_path / "cache", workers=1, progress=False
    )
    assert len(faces) == 6 and faces.frame_index.tolist()[:2] == [0, 3]
    whole = cv2.resize(face_clip(0)[0], (24, 24), interpolation=cv2.INTER_AREA)
    assert np.abs(np.asarray(faces.images[0], dtype=int) - whole).max() <= 1  # box = whole image
    assert (
        load_faces(
            src, "Deepfakes", "c40", "train", 24, 2, tmp_path / "cache", workers=1, progress=False
        ).manifest["params"]["compression"]
        == "c40"
    )
