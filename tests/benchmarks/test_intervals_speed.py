"""Speed of the video bootstrap and the paired test at issue 10's scale (run with
``pytest tests/benchmarks/test_intervals_speed.py --benchmark-only``).

400 test videos x 8 faces (3,200 faces), B = 1000 replicates, frame and video level,
accuracy and AUC: what the engine does once per run and a table once per remedy cell.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.intervals import BootstrapConfig, paired_bootstrap, video_bootstrap


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(0)
    n_videos, fpv = 400, 8
    vid = np.repeat(np.arange(n_videos), fpv)
    label = (vid % 2).astype(np.int8)
    video = np.array([f"{'FaceSwap' if y else 'real'}/{v:03d}" for v, y in zip(vid, label)])
    base = 1 / (1 + np.exp(-(label * 1.5 - 0.5 + rng.normal(0, 1, len(vid)))))
    better = 1 / (1 + np.exp(-(label * 1.8 - 0.6 + rng.normal(0, 1, len(vid)))))
    return ({"prob": base.astype(np.float32), "label": label, "video": video},
            {"prob": better.astype(np.float32), "label": label, "video": video})


def test_video_bootstrap_speed(benchmark, runs):
    out = benchmark(video_bootstrap, runs[0]["prob"], runs[0]["label"], runs[0]["video"],
                    BootstrapConfig())
    assert out["frame"]["acc_ci"][0] < out["frame"]["acc"] < out["frame"]["acc_ci"][1]


def test_paired_bootstrap_speed(benchmark, runs):
    out = benchmark(paired_bootstrap, runs[1], runs[0], BootstrapConfig())
    assert out["frame"]["auc"]["diff"] > 0
