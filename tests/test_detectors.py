"""Every registered detector: shapes, forward/backward at 64 px and native size; F3-Net's
frequency heads; weights-only loading of outside files."""

from __future__ import annotations

import math
import os
import pickle

import pytest
import torch

from bench.core.detector import Detector
from bench.core.registry import DETECTORS, build, resolve
from bench.core.weights import UnsafeCheckpointError, load_weights
from bleachbench.detectors.f3net import FAD, LFS, dct_matrix, fad_masks, lfs_masks

NAMES = ["xception", "meso_inception4", "f3net", "resnet50", "efficientnet_b4", "tiny"]
FEATURE_DIMS = {
    "xception": 2048, "meso_inception4": 16, "f3net": 4096, "resnet50": 2048,
    "efficientnet_b4": 1792, "tiny": 64,
}
# Backward at the native size costs many seconds on 2 cores for these; forward only there.
NO_NATIVE_BACKWARD = {"f3net", "efficientnet_b4"}

_CACHE: dict[str, Detector] = {}


def detector(name: str) -> Detector:
    if name not in _CACHE:
        torch.manual_seed(0)
        _CACHE[name] = build(DETECTORS, name)
    return _CACHE[name]


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_description_and_facts(name):
    cls = resolve(DETECTORS, name)
    assert issubclass(cls, Detector)
    assert (cls.__doc__ or "").strip(), f"{name} needs a one-line description"
    assert cls.feature_dim == FEATURE_DIMS[name]
    assert len(cls.mean) == len(cls.std) == 3 and cls.input_size >= 64


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_at_64px(name):
    det = detector(name).train()
    x = torch.rand(2, 3, 64, 64)
    phi = det.features(x)
    assert phi.shape == (2, det.feature_dim)
    logits = det.classify(phi)
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    det.zero_grad()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    grads = [p.grad for p in det.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert det.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_native_size(name):
    det = detector(name)
    s = det.input_size
    if name in NO_NATIVE_BACKWARD:
        det.eval()
        with torch.no_grad():
            out = det(torch.rand(1, 3, s, s))
        assert out.shape == (1, 2) and torch.isfinite(out).all()
    else:
        det.train()
        out = det(torch.rand(1, 3, s, s))
        out.sum().backward()
        assert out.shape == (1, 2) and torch.isfinite(det.head.weight.grad).all()


def test_forward_is_classify_of_features_in_eval():
    det = detector("meso_inception4").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(det(x), det.classify(det.features(x)))


# --- F3-Net's frequency heads ------------------------------------------------------------


def test_dct_matrix_is_orthonormal():
    d = dct_matrix(17)
    assert torch.allclose(d @ d.T, torch.eye(17), atol=1e-5)


@pytest.mark.parametrize("n", [64, 299])
def test_fad_masks_partition_the_spectrum(n):
    low, mid, high, all_ = fad_masks(n)
    assert torch.equal(low + mid + high, all_) and torch.equal(all_, torch.ones(n, n))
    assert (low * mid).sum() == (low * high).sum() == (mid * high).sum() == 0
    assert low[0, 0] == 1 and high[-1, -1] == 1  # DC in low, the highest frequency in high
    # the paper's fractions of the spectrum: low ~ 1/16, low + mid ~ 1/8
    assert low.mean().item() == pytest.approx(1 / 16, abs=0.02)
    assert (low + mid).mean().item() == pytest.approx(1 / 8, abs=0.02)


def test_lfs_masks_partition_each_window():
    masks = lfs_masks(10, 6)
    assert masks.shape == (6, 10, 10)
    assert torch.equal(masks.sum(0), torch.ones(10, 10))
    assert all(m.sum() > 0 for m in masks)


@pytest.mark.parametrize("n", [64, 299])
def test_fad_shapes_and_reconstruction(n):
    fad = FAD(filter_size=299)
    with torch.no_grad():
        fad.learnable.zero_()  # 2 * sigmoid(0) - 1 = 0: the fixed masks alone
    x = torch.rand(1, 3, n, n) * 2 - 1
    y = fad(x)
    assert y.shape == (1, 12, n, n)
    low, mid, high, all_ = y.view(1, 4, 3, n, n).unbind(1)
    assert torch.allclose(all_, x, atol=1e-4)  # all-pass band is the identity
    assert torch.allclose(low + mid + high, x, atol=1e-4)


@pytest.mark.parametrize(("n", "side"), [(64, 32), (299, 149)])
def test_lfs_shape(n, side):
    y = LFS()(torch.rand(2, 3, n, n) * 2 - 1)
    assert y.shape == (2, 6, side, side) and torch.isfinite(y).all()


def test_f3net_rejects_non_square_input():
    with pytest.raises(ValueError, match="square"):
        detector("f3net").eval()(torch.rand(1, 3, 64, 80))


# --- weights ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["bare", "state_dict", "model", "module_prefix"])
def test_weights_only_loading_of_a_local_file(tmp_path, layout):
    src = build(DETECTORS, "tiny")
    state = src.state_dict()
    obj = {
        "bare": state,
        "state_dict": {"state_dict": state, "meta": {"epoch": 3}},
        "model": {"model": state},
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
    }[layout]
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    dst = build(DETECTORS, {"type": "tiny", "weights": str(path)}).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(dst(x), src.eval()(x))


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Exploit(str(marker))}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth"):
        build(DETECTORS, {"type": "tiny", "weights": str(path)})
    assert not marker.exists()


def test_mismatched_weights_name_the_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"not.a.key": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="other.pth"):
        load_weights(build(DETECTORS, "tiny"), path)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_weights(build(DETECTORS, "tiny"), tmp_path / "missing.pth")


def test_meso_pools_small_inputs_to_the_native_grid():
    det = detector("meso_inception4").eval()
    assert det.body(torch.rand(1, 3, 256, 256)).shape[-2:] == (8, 8)
    assert math.prod(det.fc1.weight.shape) == 16 * 1024


def test_efficientnet_residual_blocks_start_as_identities():
    """zero_init_last (random init only): the last BN of each residual block has gamma 0."""
    net = detector("efficientnet_b4")
    blocks = [b for b in net.backbone.blocks.modules() if getattr(b, "has_skip", False)]
    assert len(blocks) == 25
    for b in blocks:
        last = b.bn3 if hasattr(b, "bn3") else b.bn2
        assert torch.count_nonzero(last.weight) == 0
    torch.manual_seed(0)
    plain = build(DETECTORS, {"type": "efficientnet_b4", "zero_init_last": False})
    assert all(torch.all((b.bn3 if hasattr(b, "bn3") else b.bn2).weight == 1)
               for b in plain.backbone.blocks.modules() if getattr(b, "has_skip", False))
