"""The face cache: contents, reuse without decoding, 'all' de-duplication, atomic writes, workers, boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ffpp import MANIPS, bright_square_detector, make_ffpp_tree

import bleachbench.datasets.face_cache as face_cache
from bleachbench.datasets.face_cache import load_faces, open_cache, prepare
from bleachbench.datasets.face_detect import FaceBoxer, HaarDetector, enlarge_box, track_boxes
from bleachbench.datasets.ffpp import FaceForensics, FFPPClip
from bleachbench.datasets.video_io import sample_indices


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> FaceForensics:
    root = make_ffpp_tree(tmp_path_factory.mktemp("ffpp"))
    return FaceForensics(root, manipulations=MANIPS, face_detector=bright_square_detector)


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = FFPPClip.load_frames

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FFPPClip, "load_frames", counted)
    return calls


def test_build_then_cache_hit_without_decoding(source, tmp_path, monkeypatch) -> None:
    calls = count_decodes(monkeypatch)
    faces = load_faces(
        source, "Deepfakes", "c23", "train", 24, 3, tmp_path, workers=1, progress=False
    )
    assert len(calls) == 8  # 4 reals + 4 fakes decoded once each
    assert faces.images.shape == (8 * 3, 24, 24, 3) and faces.images.dtype == np.uint8
    assert faces.labels.tolist() == [0] * 12 + [1] * 12
    assert set(faces.manipulations.tolist()) == {"real", "Deepfakes"}
    assert faces.frame_index.tolist()[:3] == [
        0,
        2,
        5,
    ]  # evenly spaced over 6 frames, first and last in
    m = faces.manifest
    assert m["params"]["compression"] == "c23" and m["counts"]["faces"] == 24 and m["skipped"] == {}
    assert m["counts"]["faces_per_manipulation"] == {"Deepfakes": 12, "real": 12}
    again = load_faces(
        source, "Deepfakes", "c23", "train", 24, 3, tmp_path, workers=1, progress=False
    )
    assert len(calls) == 8  # no video decoded on the second call
    assert isinstance(again.images, np.memmap) and not again.images.flags.writeable
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(faces.images))
    assert again.path == faces.path
    x, y = again.tensors(np.array([0, 20]))
    assert x.shape == (2, 3, 24, 24) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [0, 1]


def test_crop_follows_the_face(source, tmp_path) -> None:
    faces = load_faces(source, "FaceSwap", "raw", "val", 20, 2, tmp_path, workers=1, progress=False)
    # the 1.3x box around the bright 20x20 square: bright centre, darker border
    centre = np.asarray(faces.images[:, 8:12, 8:12]).mean()
    border = np.asarray(faces.images[:, :, :1]).mean()
    assert centre > 190 and border < centre - 50


def test_all_keeps_each_real_video_once(source, tmp_path) -> None:
    faces = load_faces(source, "all", "raw", "train", 16, 2, tmp_path, workers=1, progress=False)
    keys = set(faces.video_keys)
    assert len([k for k in keys if k[0] == "real"]) == 4
    assert len(keys) == 4 + 4 * len(MANIPS)
    assert len(faces) == 2 * len(keys)
    dfk = faces.select_manipulation("Deepfakes")
    assert set(dfk.manipulations.tolist()) == {"real", "Deepfakes"}


def test_interrupted_build_leaves_no_cache(source, tmp_path, monkeypatch) -> None:
    real_process = face_cache.process_video
    seen: list[int] = []

    def failing(video, *args):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real_process(video, *args)

    monkeypatch.setattr(face_cache, "process_video", failing)
    with pytest.raises(KeyboardInterrupt):
        load_faces(source, "Deepfakes", "raw", "test", 16, 2, tmp_path, workers=1, progress=False)
    assert not [
        p for p in tmp_path.rglob("*") if p.is_dir() and p.name not in ("ffpp", "boxes")
    ]  # no half cache, no temp (the per-video face boxes found so far are kept: a memo)
    monkeypatch.setattr(face_cache, "process_video", real_process)
    faces = load_faces(
        source, "Deepfakes", "raw", "test", 16, 2, tmp_path, workers=1, progress=False
    )
    assert len(faces) == 4 * 2 and open_cache(faces.path).manifest["counts"]["videos"] == 4


def test_workers_give_the_same_cache(source, tmp_path) -> None:
    one = load_faces(
        source, "FaceSwap", "jpeg_q40", "train", 16, 3, tmp_path / "a", workers=1, progress=False
    )
    two = load_faces(
        source, "FaceSwap", "jpeg_q40", "train", 16, 3, tmp_path / "b", workers=2, progress=False
    )
    np.testing.assert_array_equal(np.asarray(one.images), np.asarray(two.images))
    assert one.video_ids.tolist() == two.video_ids.tolist()
    assert one.frame_index.tolist() == two.frame_index.tolist()


def test_parameters_key_the_cache_and_prepare(source, tmp_path) -> None:
    paths = prepare(
        source,
        ["raw", "c40"],
        ["val"],
        16,
        2,
        tmp_path,
        manipulations="Deepfakes",
        workers=1,
        progress=False,
    )
    assert len(set(paths)) == 2 and all((p / "manifest.json").is_file() for p in paths)
    skip = load_faces(
        source,
        "Deepfakes",
        "raw",
        "val",
        16,
        2,
        tmp_path,
        workers=1,
        progress=False,
        skip_first=True,
    )
    assert skip.path not in paths and 0 not in skip.frame_index.tolist()
    with pytest.raises(ValueError, match="size"):
        load_faces(source, "Deepfakes", "raw", "val", None, 2, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="all"):
        load_faces(source, "Face2Face", "raw", "val", 16, 2, tmp_path)


def test_sample_indices_even_and_skip_first() -> None:
    assert sample_indices(300, 4).tolist() == [0, 100, 199, 299]
    assert sample_indices(5, 32).tolist() == [0, 1, 2, 3, 4]
    assert 0 not in sample_indices(300, 4, skip_first=True).tolist()
    assert sample_indices(1, 3, skip_first=True).tolist() == [0]  # an image keeps its only frame


def test_enlarge_box_is_ffpp_square_and_clipped() -> None:
    assert enlarge_box((40, 40, 60, 70), 200, 200) == (
        31,
        36,
        70,
        75,
    )  # side int(30*1.3)=39, from centre - 39 // 2
    x0, y0, x1, y1 = enlarge_box((0, 0, 50, 50), 60, 60)
    assert (x0, y0) == (0, 0) and x1 - x0 == y1 - y0 == 60


def test_tracking_reuses_last_box_and_picks_largest() -> None:
    a, b = (1, 1, 5, 5), (2, 2, 9, 9)
    assert track_boxes([None, a, None, b, None]) == [a, a, a, b, b]
    assert track_boxes([None, None]) == [None, None]
    boxer = FaceBoxer(lambda f: [(0, 0, 4, 4), (10, 10, 30, 30)] if f.any() else [], scale=1.0)
    frames = np.zeros((3, 40, 40, 3), np.uint8)
    frames[1] = 1
    assert boxer(frames) == [(10, 10, 30, 30)] * 3


def test_haar_cascade_loads_and_runs() -> None:
    haar = HaarDetector()
    frame = np.full((240, 320, 3), 128, np.uint8)
    frame[60:180, 100:220] = np.linspace(40, 220, 120, dtype=np.uint8)[:, None, None]
    boxes = haar(frame)
    assert isinstance(boxes, list)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    assert haar(np.zeros((240, 320, 3), np.uint8)) == []  # nothing in a blank frame


def test_stale_temp_folders_are_removed_only_when_their_build_is_gone(tmp_path):
    import os
    import subprocess

    from bleachbench.datasets import face_cache as fc

    final = tmp_path / "faces-abc"
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {
        "mine_dead": f".tmp-faces-abc-{fc._HOST}-{dead.pid}-aaaaaa",
        "mine_alive": f".tmp-faces-abc-{fc._HOST}-{os.getpid()}-bbbbbb",
        "old_format_dead": f".tmp-faces-abc-{dead.pid}-cccccc",
        "other_host_fresh": ".tmp-faces-abc-hnode7-1-dddddd",
        "other_host_old": ".tmp-faces-abc-hnode7-2-eeeeee",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    old = (tmp_path / names["other_host_old"]).stat().st_mtime - fc.FOREIGN_TEMP_MAX_AGE_S - 60
    os.utime(tmp_path / names["other_host_old"], (old, old))
    fc._remove_stale_temps(final)
    left = {k for k, n in names.items() if (tmp_path / n).exists()}
    # pid 1 lives on this host, but on node7 it is another process: never checked across hosts
    assert left == {"mine_alive", "other_host_fresh"}


def test_two_builders_of_one_cache_build_it_once(source, tmp_path, monkeypatch) -> None:
    """`run --jobs N` workers that need the same cache: the second waits for the first's build
    (a file lock beside the cache) and opens it, instead of decoding every video again."""
    import threading
    import time

    builds: list[int] = []
    original = face_cache._build

    def slow_build(*args, **kwargs):
        builds.append(1)
        time.sleep(1.0)  # long enough for the other builder to arrive while this one builds
        return original(*args, **kwargs)

    monkeypatch.setattr(face_cache, "_build", slow_build)
    out: list = []

    def load() -> None:
        out.append(load_faces(source, "Deepfakes", "c23", "val", 24, 2, tmp_path, workers=1,
                              progress=False))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(out) == 2 and builds == [1]
    assert out[0].path == out[1].path
    np.testing.assert_array_equal(np.asarray(out[0].images), np.asarray(out[1].images))
    assert not list(tmp_path.rglob(".tmp-*"))
