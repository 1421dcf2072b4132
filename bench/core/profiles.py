"""Profiles: named bundles of sizes and schedules (``--profile smoke|quick|paper``).

A profile is plain data. Each section is passed as keyword arguments to the
component that owns it: ``dataset`` to the ``DATASETS`` entry, ``faces`` to the
face cache, ``train`` to detector training, ``detector`` to the detectors,
``method`` to every method that takes the key. ``--cfg-options faces.size=96``
overrides any key; an unknown key is an error with the nearest valid one
(bench/core/config.py checks every section).

- ``smoke``: the whole pipeline in well under a minute (tests).
- ``quick``: the default; every table's pipeline on a laptop CPU in minutes,
  on the embedded synthetic dataset at 64 px, with a large, cheap test split
  (``dataset.split_sizes``, ``faces.test_frames_per_video``) and per-detector
  schedules (``train.per_detector.<name>``, which override the shared ``train`` keys). One detector per backbone is
  trained on all four manipulations together (``detector_per_manipulation``
  False, the real faces repeated to as many as the fakes) and evaluated
  per manipulation; the method is likewise fitted once per detector on all four
  (``method_per_manipulation`` False).
- ``paper``: the paper's protocol on FaceForensics++ (GPU): each detector at
  its native input size, one detector per manipulation.

Every profile may set ``flush_denormal`` (default True): the engine flushes denormal floats to
zero on the CPU, which halved F3-Net's training time and leaves its weights unchanged
(bench/run/engine.py).
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
        # 140/20/400 train/val/test identities (test large and cheap: one face per test video,
        # 400 real + 400 fake videos per manipulation cell, a 95 % interval on accuracy of about
        # +-3 points); 12-frame 128 px scenes; artifacts at ArtifactParams' calibrated defaults.
        "dataset": {"type": "synthetic", "split_sizes": (140, 20, 400), "n_frames": 12,
                    "scene_size": 128},
        # Three faces per train/val clip, one per test clip, after frame 0 (the clip's only I-frame).
        "faces": {"size": 64, "frames_per_video": 3, "test_frames_per_video": 1,
                  "skip_first": True},
        # blur_p: a random Gaussian blur on 30 % of training faces (both classes), so that
        # "less fine detail" is not by itself "fake" (else every C40 real face reads as fake).
        # per_detector: schedules for the two backbones that do not learn with the shared one.
        # fused_adamw: torch's fused AdamW step, about 3x faster on a CPU than the per-parameter
        # loop and the same update up to the last bit (bench/run/training.py); the default since
        # 2026-12-01 (results/quick_v4), measured first as results/fused_adamw_probe.
        "train": {"epochs": 3, "batch_size": 16, "lr": 2e-3, "amp": False, "channels_last": True,
                  "blur_p": 0.3, "blur_sigma": (0.4, 1.2), "fused_adamw": True,
                  "per_detector": {
                      "meso_inception4": {"epochs": 10, "lr": 3e-3, "batch_size": 32},
                      # EfficientNet-B4 learns once its residual blocks start as identities
                      # (zero_init_last, detectors/efficientnet_b4.py): the shared bs 16 / lr 2e-3,
                      # 4 epochs (3 left FaceSwap at 81.5 % and Face2Face at 88.0 % C23).
                      "efficientnet_b4": {"epochs": 4, "lr": 2e-3, "batch_size": 16},
                      # F3-Net: two Xceptions, the slowest; learns in two epochs. It reads log-DCT
                      # statistics, where a float blur is out of range (no real video face has
                      # near-zero top bands) while C40 is not: its blurred faces are rounded back
                      # to 8 bits (blur_quantize), half of them blurred, not 30 %, and up to
                      # sigma 2.0, nearer C40's smoothing (with sigma <= 1.2 it called 344-359 of
                      # 400 C40 real faces fake in seeds 0-2, a threshold away from 9-19 points).
                      # On the third renderer defaults (FaceSwap's trace mostly fine detail) that
                      # left 299-347 C40 FP, a threshold gaining up to 15-24 points; 60 % of faces
                      # blurred up to sigma 2.5: FP 301-308, up to 9-16 points, 5 / 4 / 5 of 6
                      # calibration checks in seeds 0-2 (4 / 4 / 4 before); 70 % up to 3.0: FP 238
                      # and a gain of at most 8, but Face2Face and NeuralTextures below the C23
                      # bar (seed 0, 2 epochs).
                      # faces_per_video 2: F3-Net, the slowest to train (two Xceptions), trains on
                      # two of each clip's three faces (frames 1 and 11; since 2026-12-01,
                      # results/quick_v5): 280 steps, not 420, about 210 s of the cold make run's
                      # work; at C23 it kept 94.0 / 92.5 / 96.0 / 88.5 in seed 0
                      # (results/train_frames_probe), where the other detectors fell to 88-90.
                      "f3net": {"epochs": 2, "blur_p": 0.6, "blur_quantize": True,
                                "blur_sigma": (0.4, 2.5), "faces_per_video": 2},
                      # ResNet-50 learns more slowly than Xception (val 0.62 / 0.83 / 0.90 after
                      # epochs 1-3): with 3 epochs it missed the C23 bar in seeds 0-2.
                      "resnet50": {"epochs": 5},
                  }},
        "method": {"epochs": 2, "batch_size": 32},
        # Three remedy fits per trained detector (fit seed 0 is the historical fit, same run
        # ids): the stars test remedy minus none over fits and test videos
        # (bench/core/verdict.py). A bleach fit is ~1 min per detector against ~7 for training,
        # within issue 29's +30 % for `make run`. --fit-seeds overrides it; smoke and paper
        # keep one fit.
        "fit_seeds": (0, 1, 2),
        "detector_per_manipulation": False,
        "method_per_manipulation": False,
        "train_compression": "c23",
        "test_compression": "c40",
    },
    "paper": {
        "dataset": {"type": "ffpp", "root": "data/FaceForensics++"},
        # FaceForensics++'s detectors start from ImageNet weights (MesoInception4 has none and
        # trains from scratch). timm fetches them from the Hugging Face hub or its local cache;
        # offline, point at local files: detector.per_detector.xception.weights=PATH.
        "detector": {"per_detector": {d: {"pretrained": True} for d in
                                      ("xception", "resnet50", "efficientnet_b4", "f3net")}},
        "faces": {"size": None, "frames_per_video": 300, "skip_first": False},
        "train": {"epochs": 10, "batch_size": 32, "lr": 2e-4, "amp": True, "channels_last": True},
        "method": {"epochs": 20, "batch_size": 14},
        "detector_per_manipulation": True,
        "method_per_manipulation": True,
        "train_compression": "c23",
        "test_compression": "c40",
    },
}


def get_profile(name: str, overrides: dict[str, Any] | None = None, *,
                dataset: str | None = None, root: str | None = None) -> dict[str, Any]:
    """A deep copy of profile ``name``, checked (bench/core/config.py), with ``dataset`` (a dataset
    name: the profile's dataset options are kept when it names the same dataset, else the
    section starts empty), then the dotted ``overrides``, then ``root`` applied."""
    from bench.core.config import ConfigError, check_profile, suggest

    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}{suggest(name, PROFILES)}; "
                          f"known profiles: {', '.join(PROFILES)}")
    profile = copy.deepcopy(PROFILES[name])
    profile["name"] = name
    if dataset and profile["dataset"].get("type") != dataset:
        profile["dataset"] = {"type": dataset}
    for dotted, value in (overrides or {}).items():
        node = profile
        *parents, leaf = dotted.split(".")
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--cfg-options {dotted}: {'.'.join(parents[:i + 1])!r} is a "
                                  f"value, not a section")
        node[leaf] = value
    if root is not None:
        profile["dataset"]["root"] = str(root)
    check_profile(profile, origin=" (from --cfg-options)" if overrides else "")
    return profile
