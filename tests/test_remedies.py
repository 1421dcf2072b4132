"""Each remedy changes only what it says, and helps on a small problem built so that its mechanism must.

The problem: fakes are brighter than reals; the "LQ" version of every face is an
affine pixel change ``0.5 x + 0.45`` (a brightness and contrast shift, the kind of
covariate shift compression causes). A tiny conv -> BatchNorm -> ReLU -> pool ->
linear detector trained on HQ calls nearly every LQ face fake; the classes stay
separable in LQ, so re-normalising (bn_adapt, tent), refitting the head, fine-tuning,
distilling or undoing the shift in pixels (restoration, stability_denoiser) must help.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from _toy import OneConvDetector
from torch import nn

from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.fit_data import (
    build_fit_data,
    changed_parameters,
    fingerprint,
    flags,
    hand_over,
)
from bench.core.registry import METHODS, build, load_builtins
from bench.run.training import train_detector
from bleachbench.methods.detector_parts import batchnorms, score

load_builtins()
SIZE = 16
CPU = torch.device("cpu")


class BNDetector(OneConvDetector):
    input_size = SIZE


def make(n: int, seed: int, lq: bool) -> FaceSet:
    """``n`` faces (half fake, brighter); ``lq`` applies the shift. Same seed = same faces."""
    g = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    x = 0.4 + 0.2 * labels[:, None, None, None] + g.normal(0, 0.1, (n, SIZE, SIZE, 3))
    if lq:
        x = 0.5 * x + 0.45
    img = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    return FaceSet(img, labels.astype(np.int64), np.where(labels == 1, "FaceSwap", "real"),
                   np.array([f"v{i}" for i in range(n)]), np.zeros(n, dtype=np.int64))


@pytest.fixture(scope="module")
def hq_detector() -> BNDetector:
    torch.manual_seed(0)
    det = BNDetector()
    opt = torch.optim.Adam(det.parameters(), lr=1e-2)
    train = make(64, 0, lq=False)
    x, y = train.tensors(slice(None))
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(det(x), y).backward()
        opt.step()
    det.eval()
    for p in det.parameters():
        p.requires_grad_(False)
    assert score(det, make(64, 2, lq=False), CPU)["acc"] > 0.95  # it learnt HQ
    return det


FAST: dict[str, dict[str, Any]] = {
    "bn_adapt": {},
    "tent": {"lr": 0.05},
    "head_refit": {},
    "mixed_training": {"augment": ("lq", "jpeg"), "recipe": "bundle", "epochs": 8,
                       "batch_size": 16, "lr": 1e-2, "progress": False},
    "lq_finetune": {"epochs": 8, "batch_size": 16, "lr": 1e-2, "progress": False},
    "add_kd": {"epochs": 8, "batch_size": 16, "lr": 1e-2, "progress": False},
    "restoration": {"epochs": 15, "batch_size": 16, "lr": 1e-2, "width": 8, "depth": 2,
                    "progress": False},
    "stability_denoiser": {"epochs": 15, "batch_size": 16, "lr": 1e-2, "width": 8, "depth": 2,
                           "progress": False},
}


def fitted(name: str, detector: Detector, tmp_path, **overrides: Any):
    method = build(METHODS, {"type": name, **FAST[name], **overrides})
    train_lq, val_lq, test_lq = make(64, 0, True), make(32, 1, True), make(64, 2, True)
    hq = {"train": make(64, 0, False), "val": make(32, 1, False)}

    def no_hq(split: str) -> FaceSet:
        raise AssertionError(f"{name} did not declare paired HQ faces but asked for them")

    data, _ = build_fit_data(method, train_lq, val_lq, test_lq=lambda: test_lq,
                             hq=hq.__getitem__ if flags(method)["needs_paired_hq_lq"] else no_hq, trainer=train_detector)
    facts = hand_over(method, detector, data, tmp_path, CPU)
    return method, facts


def lq_test_score(method) -> dict[str, float | None]:
    test = make(64, 2, True)
    return score(method.predict, test, CPU, batch_size=32)


# mixed_training retrains the architecture from scratch on HQ and LQ faces together. On this toy
# that asks for a rule no single brightness threshold gives: LQ reals (mean 0.65) are brighter than
# HQ fakes (0.6). Measured (8 to 60 epochs, lr 1e-2 and 3e-2, augment lq+jpeg): the retrained
# detector ranks the LQ test faces perfectly (AUC 1.0) but calls them all fake (acc 0.5), or learns
# neither quality's threshold; with LQ copies only (augment=("lq",), 20 epochs, lr 3e-2) it reaches
# LQ 1.0 and HQ 0.73. A limit of the toy for this remedy, kept visible rather than removed.
_NOT_YET = {"mixed_training": "HQ and LQ together need a non-monotone brightness rule on this toy: "
                              "AUC 1.0, accuracy 0.5 (one threshold for both qualities)"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=_NOT_YET[n]))
                                  if n in _NOT_YET else n for n in sorted(FAST)])
def test_remedy_beats_none_where_its_mechanism_must(name: str, hq_detector, tmp_path) -> None:
    before = fingerprint(hq_detector)
    none = score(hq_detector, make(64, 2, True), CPU)
    assert none["acc"] < 0.7  # the shift breaks the HQ detector
    method, _ = fitted(name, hq_detector, tmp_path)
    after = lq_test_score(method)
    assert after["acc"] >= none["acc"] + 0.2, (name, none, after)
    assert fingerprint(hq_detector) == before


# ------------------------------------------------------------------- what each one may change


def _changed_names(frozen: nn.Module, adapted: nn.Module) -> set[str]:
    mine = adapted.state_dict()
    return {k for k, v in frozen.state_dict().items() if not torch.equal(v, mine[k])}


def test_bn_adapt_changes_only_batchnorm_statistics(hq_detector, tmp_path) -> None:
    method, facts = fitted("bn_adapt", hq_detector, tmp_path)
    assert facts["detector_elements_changed"]["parameters"] == 0
    assert _changed_names(hq_detector, method._detector) <= {
        "body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked"}
    assert "body.1.running_mean" in _changed_names(hq_detector, method._detector)


def test_bn_adapt_on_test_faces_is_test_time(hq_detector, tmp_path) -> None:
    method = build(METHODS, {"type": "bn_adapt", "source": "test"})
    assert flags(method)["test_time"] and not flags(build(METHODS, "bn_adapt"))["test_time"]
    method, _ = fitted("bn_adapt", hq_detector, tmp_path, source="test")
    assert lq_test_score(method)["acc"] > 0.9


def test_tent_changes_only_batchnorm_affine_parameters(hq_detector, tmp_path) -> None:
    method, _ = fitted("tent", hq_detector, tmp_path)
    lq_test_score(method)  # adapts while predicting
    changed = _changed_names(hq_detector, method._detector)
    assert changed and changed <= {"body.1.weight", "body.1.bias"}
    assert all(not m.track_running_stats for m in batchnorms(method._detector))


def test_tent_episodic_resets_before_every_batch(hq_detector, tmp_path) -> None:
    x = make(32, 5, True).tensors(slice(None))[0]
    episodic, _ = fitted("tent", hq_detector, tmp_path, episodic=True)
    assert torch.equal(episodic.predict(x), episodic.predict(x))
    online, _ = fitted("tent", hq_detector, tmp_path / "online", episodic=False)
    assert not torch.equal(online.predict(x), online.predict(x))  # carried over


def test_head_refit_changes_only_the_head(hq_detector, tmp_path) -> None:
    method, _ = fitted("head_refit", hq_detector, tmp_path)
    changed = _changed_names(hq_detector, method._detector)
    assert changed == {"head.weight", "head.bias"}


@pytest.mark.parametrize("name", ["restoration", "stability_denoiser"])
def test_preprocessors_add_a_network_and_keep_the_detector(name: str, hq_detector, tmp_path) -> None:
    method, facts = fitted(name, hq_detector, tmp_path)
    assert method._detector is hq_detector  # the frozen detector itself, unchanged
    assert facts["params_added"] == sum(p.numel() for p in method.unet.parameters()) > 0
    again, facts2 = fitted(name, hq_detector, tmp_path)  # reused from the work dir
    assert facts2["best_epoch"] == facts["best_epoch"]
    x = make(8, 3, True).tensors(slice(None))[0]
    assert torch.equal(method.predict(x), again.predict(x))


@pytest.mark.parametrize("name", ["lq_finetune", "add_kd", "mixed_training"])
def test_retraining_methods_change_a_copy(name: str, hq_detector, tmp_path) -> None:
    method, facts = fitted(name, hq_detector, tmp_path)
    assert method._detector is not hq_detector
    assert facts["detector_elements_changed"]["parameters"] > 0


def test_mixed_training_retrains_with_the_detectors_own_faces_and_options(hq_detector, tmp_path):
    """recipe='detector' (the default): the copy is trained on the detector's own training faces
    (an oversampled set repeats faces) plus one compressed copy each, with the detector's own
    training options; the method's epochs/lr (a profile's shared method.* keys) are not used."""
    method = build(METHODS, {"type": "mixed_training", "augment": ("lq",), "epochs": 9,
                             "lr": 0.5, "progress": False})
    assert flags(method)["needs_detector_training"]
    assert not flags(build(METHODS, {"type": "mixed_training", "recipe": "bundle"}))[
        "needs_detector_training"]
    hq_train = make(48, 0, False)
    oversampled = hq_train.subset(np.r_[np.arange(48), np.arange(0, 48, 4)])  # 60 rows, 12 repeats
    lq_train = make(48, 0, True)
    options = {"epochs": 2, "batch_size": 16, "lr": 1e-2, "weight_decay": 0.0, "blur_p": 0.0}
    asked: list[str] = []

    def detector_training():
        asked.append("yes")
        return oversampled, lq_train, options

    data, facts = build_fit_data(method, make(16, 5, True), make(16, 1, True), hq=lambda s: make(16, 5, False),
                                 detector_training=detector_training, trainer=train_detector)
    assert asked == ["yes"] and facts["detector_train"] == {"n": 60, "unpaired_dropped": 0}
    assert data.detector_train_lq is not None and data.detector_train_hq is not None
    # row i of the LQ set is the LQ face of HQ row i, repeats included
    assert np.array_equal(data.detector_train_lq.video_ids, data.detector_train_hq.video_ids)
    out = hand_over(method, hq_detector, data, tmp_path, CPU)
    assert out["recipe"] == "detector" and out["n_train"] == 120
    assert out["train_options"]["epochs"] == 2 and out["train_options"]["lr"] == 1e-2


def test_mixed_training_says_when_the_engine_gave_no_detector_training_set(tmp_path):
    method = build(METHODS, {"type": "mixed_training", "progress": False})
    with pytest.raises(ValueError, match="needs the detector's training set"):
        build_fit_data(method, make(8, 0, True), make(8, 1, True), hq=lambda s: make(8, 0, False), trainer=train_detector)
    with pytest.raises(ValueError, match="recipe must be one of detector, bundle"):
        build(METHODS, {"type": "mixed_training", "recipe": "scratch"})


EXPECTED_FLAGS = {  # what the remedies table shows; a change here is a change of protocol
    "none": dict(retrains_detector=False, needs_labels=False, needs_paired_hq_lq=False, test_time=False),
    "threshold": dict(retrains_detector=False, needs_labels=True, needs_paired_hq_lq=False, test_time=False),
    "pixel_bleach": dict(retrains_detector=False, needs_labels=True, needs_paired_hq_lq=False, test_time=False),
    "head_refit": dict(retrains_detector=True, needs_labels=True, needs_paired_hq_lq=False, test_time=False),
    "bn_adapt": dict(retrains_detector=True, needs_labels=False, needs_paired_hq_lq=False, test_time=False),
    "tent": dict(retrains_detector=True, needs_labels=False, needs_paired_hq_lq=False, test_time=True),
    "lq_finetune": dict(retrains_detector=True, needs_labels=True, needs_paired_hq_lq=False, test_time=False),
    "restoration": dict(retrains_detector=False, needs_labels=False, needs_paired_hq_lq=True, test_time=False),
    "stability_denoiser": dict(retrains_detector=False, needs_labels=False, needs_paired_hq_lq=True, test_time=False),
    "add_kd": dict(retrains_detector=True, needs_labels=True, needs_paired_hq_lq=True, test_time=False),
    "mixed_training": dict(retrains_detector=True, needs_labels=True, needs_paired_hq_lq=True, test_time=False),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED_FLAGS))
def test_declared_flags(name: str) -> None:
    got = flags(build(METHODS, name))
    assert {k: got[k] for k in EXPECTED_FLAGS[name]} == EXPECTED_FLAGS[name]


def test_changed_parameters_counts_elements() -> None:
    a, b = BNDetector(), BNDetector()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b.head.bias[0] += 1
    assert changed_parameters(a, b) == {"parameters": 1, "buffers": 0}
