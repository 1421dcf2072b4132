"""Profiles: per-detector training options, per-split faces per video, the quick profile's sizes."""

from __future__ import annotations

from bench.core.profiles import get_profile
from bench.run.engine import Engine, train_options


def test_per_detector_train_options_override_the_shared_ones():
    profile = get_profile("quick", {"train.lr": 0.5, "train.per_detector": {"tiny": {"lr": 0.1}}})
    assert train_options(profile, "tiny")["lr"] == 0.1
    assert train_options(profile, "xception")["lr"] == 0.5
    assert "per_detector" not in train_options(profile, "tiny")
    assert train_options(get_profile("smoke"), "tiny")["epochs"] == 1  # no per_detector section


def test_test_split_may_take_fewer_faces_per_video(tmp_path):
    engine = Engine(get_profile("smoke", {"faces.test_frames_per_video": 1}), tmp_path,
                    progress=False)
    assert engine.frames_per_video("test") == 1
    assert engine.frames_per_video("train") == get_profile("smoke")["faces"]["frames_per_video"]


def test_quick_profile_has_enough_test_videos_for_tight_intervals():
    """About 800 videos per (manipulation) cell: a 95 % interval on accuracy within +-3 points."""
    profile = get_profile("quick")
    train, val, test = profile["dataset"]["split_sizes"]
    assert 2 * test >= 800  # real + fake videos per manipulation
    assert profile["faces"]["test_frames_per_video"] >= 1


class _Stop(Exception):
    pass


def test_a_detector_may_train_on_fewer_of_each_videos_faces(tmp_path, monkeypatch):
    """``train.per_detector.<name>.faces_per_video``: that detector trains on 2 of each
    training video's 3 cached faces (the first and the last), the others on all 3; the option
    is part of its checkpoint key."""
    import bench.run.training
    from bench.core.spec import RunSpec
    from bench.run.run_config import detector_key, run_config

    seen: dict[str, object] = {}

    def capture(model, train, val, work_dir, **kwargs):
        seen["train"], seen["val"] = train, val
        raise _Stop

    monkeypatch.setattr(bench.run.training, "train_detector", capture)
    profile = get_profile("smoke", {"dataset.n_identities": 12,
                                    "train.per_detector": {"tiny": {"faces_per_video": 2}}})
    engine = Engine(profile, tmp_path, "cpu", progress=False)
    spec = RunSpec(dataset="synthetic", manipulation="FaceSwap", detector="tiny", method="none",
                   train_compression="c23", test_compression="c40", seed=0)
    try:
        engine.detector(spec)
    except _Stop:
        pass
    cached = engine.faces("synthetic", "all", "c23", "train", engine.image_size("tiny"))
    frames = cached.frame_index.reshape(-1, 3)  # every video's three faces, in order
    train = seen["train"]
    kept = set(zip(train.video_ids.tolist(), train.manipulations.tolist(),
                   train.frame_index.tolist()))
    expected = {(v, m, f) for v, m, row in zip(cached.video_ids[::3].tolist(),
                                               cached.manipulations[::3].tolist(), frames.tolist())
                for f in (row[0], row[2])}
    assert kept == expected  # balancing repeats real faces, never brings back a dropped one
    assert len(seen["val"]) > 0 and set(seen["val"].frame_index.tolist()) == set(
        cached.frame_index.tolist())  # validation keeps every face

    ds = {"type": "synthetic"}
    key = lambda p: detector_key(run_config(p, spec, ds), fingerprint="f", manipulation="all",  # noqa: E731
                                 compression="c23", frames={"train": 3, "val": 3}, size=48)
    assert key(profile) != key(get_profile("smoke", {"dataset.n_identities": 12}))


def test_faces_per_video_must_be_positive():
    import numpy as np
    import pytest

    from bench.core.faceset import FaceSet

    faces = FaceSet(np.zeros((3, 4, 4, 3), np.uint8), np.zeros(3, np.int64),
                    np.array(["real"] * 3), np.array(["a", "a", "b"]), np.array([1, 2, 1]))
    assert len(faces.per_video(1)) == 2 and faces.per_video(None) is faces
    with pytest.raises(ValueError, match="faces per video must be >= 1"):
        faces.per_video(0)
