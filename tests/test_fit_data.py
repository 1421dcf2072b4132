"""The method contract: a method gets exactly the data it declares, HQ faces are paired face by face,
the frozen detector is never changed, and an old-style ``fit`` still works."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from _toy import OneConvDetector
from torch import nn

from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.fit_data import (
    FitData,
    build_fit_data,
    fingerprint,
    flags,
    hand_over,
    pair_faces,
    strip_labels,
)
from bench.core.method import Method
from bench.core.profiles import get_profile
from bench.core.registry import METHODS, build, load_builtins
from bench.core.spec import RunSpec
from bench.run.engine import Engine
from bench.run.training import train_detector

load_builtins()
SIZE = 24


class SmallDetector(OneConvDetector):
    input_size = SIZE


def faces(n: int, seed: int, frames: int = 2) -> FaceSet:
    g = np.random.default_rng(seed)
    labels = (np.arange(n) // frames) % 2
    return FaceSet(g.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8), labels.astype(np.int64),
                   np.where(labels == 1, "FaceSwap", "real"),
                   np.array([f"v{i // frames}" for i in range(n)]), np.arange(n) % frames)


class Spy(Method):
    """Records what fit and predict receive."""

    def __init__(self, **flags_: bool) -> None:
        for k, v in flags_.items():
            setattr(self, k, v)
        self.data: FitData | None = None
        self.got_detector: nn.Module | None = None

    def fit(self, detector: Detector, data: FitData, work_dir: Any, device: Any) -> dict:
        self.data, self.got_detector = data, detector
        return {}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 2)


def test_pairing_aligns_shuffled_hq_and_drops_unpaired() -> None:
    lq = faces(12, 0)
    order = np.random.default_rng(1).permutation(12)[:10]  # two LQ faces lose their partner
    hq = lq.subset(order)
    lq2, hq2, dropped = pair_faces(lq, hq)
    assert dropped == 2 and len(lq2) == len(hq2) == 10
    assert np.array_equal(lq2.images, hq2.images)  # same face, row by row
    assert list(lq2.video_ids) == list(hq2.video_ids)


def test_bundle_holds_only_what_is_declared() -> None:
    train, val, test = faces(12, 0), faces(8, 1), faces(6, 2)
    hq_calls: list[str] = []

    def hq(split: str) -> FaceSet:
        hq_calls.append(split)
        return train if split == "train" else val

    plain, _ = build_fit_data(Spy(), train, val, hq=hq, test_lq=lambda: test, compression="c40")
    assert plain.train_hq is None and plain.val_hq is None and plain.test_lq is None
    assert plain.compression is None and hq_calls == []
    assert np.array_equal(plain.train_lq.labels, train.labels)

    spy = Spy(needs_paired_hq_lq=True, needs_labels=False, test_time=True,
              needs_compression_known=True)
    data, facts = build_fit_data(spy, train, val, hq=hq, test_lq=lambda: test, compression="c40")
    assert hq_calls == ["train", "val"] and facts["unpaired_dropped"] == {"train": 0, "val": 0}
    assert data.compression == "c40" and len(data.test_lq) == 6
    for fs in (data.train_lq, data.val_lq, data.train_hq, data.val_hq, data.test_lq):
        assert (fs.labels == -1).all() and set(fs.manipulations) == {"?"}
        assert set(fs.video_ids) == {""}
    batches = list(FitData(train, val, test_lq=strip_labels(faces(150, 3)), test_batch_size=64)
                   .test_batches())
    assert [len(b) for b in batches] == [64, 64, 22]


def test_copy_only_for_methods_that_retrain() -> None:
    det = SmallDetector()
    data = FitData(faces(4, 0), faces(4, 1))
    keeps = Spy()
    hand_over(keeps, det, data, None, torch.device("cpu"))
    assert keeps.got_detector is det
    retrains = Spy(retrains_detector=True)
    facts = hand_over(retrains, det, data, None, torch.device("cpu"))
    assert retrains.got_detector is not det and fingerprint(retrains.got_detector) == fingerprint(det)
    assert facts["declares"] == flags(retrains) and facts["declares"]["retrains_detector"]


def test_changing_the_frozen_detector_is_an_error() -> None:
    class Sneaky(Spy):
        def fit(self, detector, data, work_dir, device):
            with torch.no_grad():
                detector.head.bias.add_(1.0)
            return {}

    with pytest.raises(RuntimeError, match="changed the frozen detector"):
        hand_over(Sneaky(), SmallDetector(), FitData(faces(4, 0), faces(4, 1)), None,
                  torch.device("cpu"))


def test_old_style_fit_plugins_and_calls_still_work() -> None:
    class OldStyle(Method):
        def fit(self, detector, train_lq, val_lq, work_dir, device):
            self.seen = (len(train_lq), len(val_lq))
            return {"old": True}

    method = OldStyle()
    facts = hand_over(method, SmallDetector(), FitData(faces(6, 0), faces(4, 1)), None,
                      torch.device("cpu"))
    assert facts["old"] and method.seen == (6, 4)
    spy = Spy()  # bundle-style, called the old way
    spy.fit(SmallDetector(), faces(6, 0), faces(4, 1), None, torch.device("cpu"))
    assert isinstance(spy.data, FitData) and len(spy.data.val_lq) == 4


@pytest.mark.parametrize("name", sorted(METHODS.module_dict))
def test_no_method_changes_the_frozen_detector(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    det = SmallDetector().eval()
    for p in det.parameters():
        p.requires_grad_(False)
    before = fingerprint(det)
    cls = METHODS.get(name)
    wanted = {"epochs": 1, "batch_size": 4, "progress": False, "base_channels": 16, "width": 4,
              "depth": 2}
    accepted = inspect.signature(cls).parameters
    method = build(METHODS, {"type": name, **{k: v for k, v in wanted.items()
                                              if k in accepted or k in getattr(cls, "config_keys", ())}})
    train, val = faces(12, 0), faces(8, 1)
    data, _ = build_fit_data(method, train, val, hq=lambda s: train if s == "train" else val,
                             test_lq=lambda: faces(6, 2),
                             detector_training=lambda: (train, train, {"epochs": 1, "batch_size": 4}), trainer=train_detector)
    hand_over(method, det, data, tmp_path, torch.device("cpu"))
    method.predict(faces(6, 2).tensors(slice(None))[0])
    assert fingerprint(det) == before


# ------------------------------------------------------------------- through the engine, real caches


class Recorder(Spy):
    """A spy registered in METHODS for the engine test (flags from config)."""

    config_keys: ClassVar[tuple[str, ...]] = ("paired", "labels", "tt")
    last: ClassVar[dict[str, Any]] = {}

    def __init__(self, paired: bool = False, labels: bool = True, tt: bool = False) -> None:
        super().__init__(needs_paired_hq_lq=paired, needs_labels=labels, test_time=tt)
        self.batches: list[torch.Tensor] = []

    def fit(self, detector, data, work_dir, device):
        Recorder.last = {"data": data, "method": self}
        return {}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.cpu())
        return torch.zeros(len(x), 2)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    METHODS.register_module(name="_test_recorder", module=Recorder)
    try:
        yield Engine(get_profile("smoke"), tmp_path_factory.mktemp("results"), "cpu", progress=False)
    finally:
        METHODS._module_dict.pop("_test_recorder", None)  # other tests loop over the registry


def _run(engine: Engine, **params: Any) -> dict[str, Any]:
    spec = RunSpec.make(dataset="synthetic", manipulation="FaceSwap", detector="tiny",
                        method="_test_recorder", method_params=params, profile="smoke")
    engine.run_one(spec)
    return Recorder.last


def test_engine_pairs_hq_with_lq_face_by_face(engine: Engine) -> None:
    got = _run(engine, paired=True)
    data = got["data"]
    assert data.train_hq is not None and len(data.train_hq) == len(data.train_lq) > 0
    for a, b in ((data.train_lq, data.train_hq), (data.val_lq, data.val_hq)):
        assert list(a.video_ids) == list(b.video_ids)
        assert np.array_equal(a.frame_index, b.frame_index)
        assert list(a.manipulations) == list(b.manipulations)
    lq = data.train_lq.images.astype(np.float32)
    hq = data.train_hq.images.astype(np.float32)
    same = np.abs(lq - hq).mean()
    shifted = np.abs(lq - np.roll(hq, 1, axis=0)).mean()
    assert 0 < same < shifted / 2  # the c40 face is a degraded copy of its own c23 face
    assert data.test_lq is None


def test_engine_test_time_method_sees_no_labels_and_predicts_in_order(engine: Engine) -> None:
    got = _run(engine, labels=False, tt=True)
    data, method = got["data"], got["method"]
    assert data.train_hq is None
    assert (data.train_lq.labels == -1).all() and (data.test_lq.labels == -1).all()
    given = torch.cat(list(data.test_batches()))
    assert torch.equal(torch.cat(method.batches), given)
    assert [len(b) for b in method.batches] == [len(b) for b in data.test_batches()]
