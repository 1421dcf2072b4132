"""dlib's frontal face detector as face_detector="dlib" (issue 33 item 3): FF++'s detector."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

from bleachbench.datasets.face_detect import FACE_DETECTORS, FaceBoxer, build_face_detector


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_dlib_is_registered() -> None:
    assert "dlib" in FACE_DETECTORS


def test_dlib_missing_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    with pytest.raises(ImportError, match=r'pip install "bleachbench\[dlib\]"'):
        build_face_detector("dlib")


def test_dlib_finds_a_rendered_face() -> None:
    pytest.importorskip("dlib", reason="dlib is not installed (pip install \"bleachbench[dlib]\")")
    from bleachbench.datasets.synthetic import SyntheticFaces

    video = SyntheticFaces().videos("test", "FaceSwap")[0]
    clip = video.load("raw")
    truth = video.face_boxes(clip)[0]
    detector = build_face_detector({"type": "dlib", "upsample": 2})
    found = detector(clip[0])
    assert len(found) == 1 and iou(found[0], truth) > 0.4, (found, truth)
    assert detector(np.zeros_like(clip[0])) == []
    boxer = pickle.loads(pickle.dumps(FaceBoxer({"type": "dlib", "upsample": 2})))  # workers
    (box,) = boxer(clip[:1])
    assert box is not None and iou(box, truth) > 0.4
