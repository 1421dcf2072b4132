"""The tap-by-tap weight gradient on small maps (detectors/conv_weight_grad.py): the same
gradient as PyTorch's kernel up to rounding, the same forward and state dict, and
EfficientNet-B4's ``weight_grad`` option (ResNet-50 keeps PyTorch's kernel)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bench.core.registry import DETECTORS, build
from bleachbench.detectors.conv_weight_grad import (
    TapsConv2d,
    dense_weight_grad,
    depthwise_weight_grad,
    eligible,
    use_taps_weight_grad,
)


def _native_weight_grad(x, go, k, s, p, groups):
    w = torch.zeros(go.shape[1], x.shape[1] // groups, k, k)
    return torch.ops.aten.convolution_backward(go, x, w, None, (s, s), (p, p), (1, 1), False,
                                               (0, 0), groups, (False, True, False))[1]


_SHAPES = [(8, 2, 5, 1), (6, 4, 5, 1), (5, 4, 3, 2), (7, 5, 5, 2), (4, 3, 3, 1), (3, 9, 5, 2),
           (4, 1, 3, 1), (2, 6, 7, 3), (5, 4, 1, 1), (6, 5, 1, 2)]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize(("c", "h", "k", "s"), _SHAPES)
def test_the_tap_sum_is_the_native_weight_gradient(c, h, k, s, dense, channels_last):
    g = torch.Generator().manual_seed(c * 100 + h * 10 + k)
    p = k // 2
    c_out = c + 3 if dense else c
    x = torch.randn(3, c, h, h + 1, generator=g)
    ho, wo = (h + 2 * p - k) // s + 1, (h + 1 + 2 * p - k) // s + 1
    go = torch.randn(3, c_out, ho, wo, generator=g)
    if channels_last:
        x, go = (t.contiguous(memory_format=torch.channels_last) for t in (x, go))
    got = (dense_weight_grad if dense else depthwise_weight_grad)(x, go, k, s, p)
    want = _native_weight_grad(x, go, k, s, p, 1 if dense else c)
    assert got.shape == want.shape == ((c_out, c, k, k) if dense else (c, 1, k, k))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def _pair(c: int = 12, k: int = 5, stride: int = 1, positions: int = 16, dense: bool = False):
    torch.manual_seed(0)
    native = nn.Conv2d(c, c + 4 if dense else c, k, stride, k // 2, groups=1 if dense else c,
                       bias=False)
    taps = copy.deepcopy(native)
    assert use_taps_weight_grad(taps, max_positions=positions) == 1
    return native, taps


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize(("h", "stride", "k"), [(4, 1, 5), (2, 1, 3), (4, 2, 5), (8, 1, 3),
                                                (4, 1, 1)])
def test_a_taps_conv_has_the_same_forward_and_nearly_the_same_gradients(h, stride, k, dense):
    native, taps = _pair(k=k, stride=stride, dense=dense)
    (tap_mod,) = [m for m in taps.modules() if isinstance(m, TapsConv2d)]
    x = torch.randn(4, 12, h, h).contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = native(xa), tap_mod(xb)
    assert torch.equal(ya, yb)  # the module's own forward
    go = torch.randn_like(ya)
    ya.backward(go)
    yb.backward(go)
    assert torch.equal(xa.grad, xb.grad)  # the input gradient is PyTorch's own
    torch.testing.assert_close(tap_mod.weight.grad, native.weight.grad, rtol=1e-5, atol=1e-5)
    if ya.shape[2] * ya.shape[3] > tap_mod.max_positions:  # larger maps: the native kernel
        assert torch.equal(tap_mod.weight.grad, native.weight.grad)


def test_without_weight_gradients_or_grad_mode_it_is_the_plain_convolution():
    native, taps = _pair()
    x = torch.randn(2, 12, 4, 4)
    with torch.no_grad():
        assert torch.equal(native(x), taps(x))
    taps.weight.requires_grad_(False)
    native.weight.requires_grad_(False)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    native(xa).sum().backward()
    taps(xb).sum().backward()
    assert torch.equal(xa.grad, xb.grad) and taps.weight.grad is None
    assert list(native.state_dict()) == list(taps.state_dict())


def test_under_cpu_autocast_it_is_the_plain_convolution():
    native, taps = _pair()
    x = torch.randn(2, 12, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ya, yb = native(x), taps(x)
    assert yb.dtype == torch.bfloat16 and torch.equal(ya, yb)
    ya.float().sum().backward()
    yb.float().sum().backward()
    assert torch.equal(native.weight.grad, taps.weight.grad)


def test_only_dense_and_depthwise_convolutions_without_bias_are_taken():
    assert not eligible(nn.Conv2d(4, 8, 3, padding=1, groups=4))  # channel multiplier 2
    assert not eligible(nn.Conv2d(4, 8, 3, padding=1, groups=2))  # grouped
    assert not eligible(nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=True))
    assert not eligible(nn.Conv2d(4, 8, 3, padding=1, bias=True))
    assert not eligible(nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4, bias=False))
    assert not eligible(nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False))
    assert not eligible(nn.Conv2d(4, 4, (3, 1), padding=(1, 0), bias=False))
    assert eligible(nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False))
    assert eligible(nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False))


@pytest.mark.parametrize(("name", "n_convs"), [("efficientnet_b4", 96)])
def test_the_detectors_train_with_the_native_kernel_unless_told_to_sum_taps(name, n_convs):
    """The tap sum is opt-in (issue 29, item 6): it changes the last bits, which the fit
    turns into different verdicts, so the default is PyTorch's own kernel."""
    torch.manual_seed(0)
    taps = build(DETECTORS, {"type": name, "weight_grad": "taps"})
    torch.manual_seed(0)
    native = build(DETECTORS, name)
    n_taps = sum(isinstance(m, TapsConv2d) for m in taps.modules())
    assert n_taps == n_convs and not any(isinstance(m, TapsConv2d) for m in native.modules())
    assert all(torch.equal(a, b) for a, b in zip(taps.state_dict().values(),
                                                 native.state_dict().values()))
    x = torch.randn(2, 3, 64, 64)
    taps.train()
    native.train()
    la, lb = taps(x).sum(), native(x).sum()
    assert torch.equal(la, lb)
    la.backward()
    lb.backward()
    for (pname, a), b in zip(taps.named_parameters(), native.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=pname)
    with pytest.raises(ValueError, match=f"{name}: weight_grad must be one of"):
        build(DETECTORS, {"type": name, "weight_grad": "fast"})


def test_the_tap_sum_is_chosen_with_a_cfg_option_and_no_profile_sets_it():
    """Its default lives in the detector's constructor only (no profile overrides it); the
    option reaches the detector through ``--cfg-options``."""
    from bench.core.config import detector_kwargs
    from bench.core.profiles import PROFILES, get_profile

    for name in PROFILES:
        assert "weight_grad" not in detector_kwargs(get_profile(name), "efficientnet_b4"), name
    profile = get_profile("quick", {"detector.per_detector.efficientnet_b4.weight_grad": "taps"})
    assert detector_kwargs(profile, "efficientnet_b4")["weight_grad"] == "taps"
