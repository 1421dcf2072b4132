"""Profiles: per-detector training options, per-split faces per video, the quick profile's sizes."""

from __future__ import annotations

from bench.engine import Engine, train_options
from bench.profiles import get_profile


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
