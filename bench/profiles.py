"""Profiles: named bundles of sizes and schedules (``--profile smoke|quick|paper``).

A profile is plain data. Each section is passed as keyword arguments to the
component that owns it: ``dataset`` to the ``DATASETS`` entry, ``faces`` to the
face cache, ``train`` to detector training, ``method`` to every method (a
method ignores keys it does not declare). ``--cfg-options faces.size=96``
overrides any key.

- ``smoke``: the whole pipeline in well under a minute (tests).
- ``quick``: the default; every table's pipeline on a laptop CPU in minutes,
  on the embedded synthetic dataset at 64 px. One detector per backbone is
  trained on all four manipulations together (``detector_per_manipulation``
  False, the real faces repeated to as many as the fakes) and evaluated
  per manipulation; the method is likewise fitted once per detector on all four
  (``method_per_manipulation`` False).
- ``paper``: the paper's protocol on FaceForensics++ (GPU): each detector at
  its native input size, one detector per manipulation.
"""

from __future__ import annotations

import copy
from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "dataset": {"type": "synthetic", "n_identities": 24, "n_frames": 6, "scene_size": 96},
        "faces": {"size": 48, "frames_per_video": 3, "skip_first": True},
        "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "amp": False, "channels_last": False},
        "method": {"epochs": 1, "batch_size": 16},
        "detector_per_manipulation": False,
        "method_per_manipulation": False,
        "train_compression": "c23",
        "test_compression": "c40",
    },
    "quick": {
        # 300 identities (216/42/42 train/val/test), 12-frame 128 px scenes; NeuralTextures a
        # little stronger than the per-manipulation calibration, because one detector learns
        # all four manipulations at once here (datasets/synthetic_manipulations.py).
        "dataset": {"type": "synthetic", "n_identities": 300, "n_frames": 12, "scene_size": 128,
                    "nt_amplitude": (0.055, 0.07)},
        # Three faces per clip, evenly spaced after frame 0 (the clip's only I-frame).
        "faces": {"size": 64, "frames_per_video": 3, "skip_first": True},
        "train": {"epochs": 2, "batch_size": 16, "lr": 2e-3, "amp": False, "channels_last": True},
        "method": {"epochs": 2, "batch_size": 32},
        "detector_per_manipulation": False,
        "method_per_manipulation": False,
        "train_compression": "c23",
        "test_compression": "c40",
    },
    "paper": {
        "dataset": {"type": "ffpp", "root": "data/FaceForensics++"},
        "faces": {"size": None, "frames_per_video": 300, "skip_first": False},
        "train": {"epochs": 10, "batch_size": 32, "lr": 2e-4, "amp": True, "channels_last": True},
        "method": {"epochs": 20, "batch_size": 14},
        "detector_per_manipulation": True,
        "method_per_manipulation": True,
        "train_compression": "c23",
        "test_compression": "c40",
    },
}


def get_profile(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of profile ``name`` with dotted ``overrides`` applied."""
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}")
    profile = copy.deepcopy(PROFILES[name])
    profile["name"] = name
    for dotted, value in (overrides or {}).items():
        node = profile
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise KeyError(f"--cfg-options {dotted}: {part!r} is not a section")
        node[leaf] = value
    return profile
