"""DeepfakeBench checkpoints: their key names (from their architecture definitions) load onto
ours and predict bit-identically; a wrong file names its missing and unexpected keys."""

from __future__ import annotations

import re

import pytest
import torch

from bench.core.registry import DETECTORS, build
from bench.core.weights import WeightsMismatchError
from bench.core.weights_deepfakebench import apply_preprocessing, layout_of

X = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def _fresh(name: str, seed: int):
    torch.manual_seed(seed)
    return build(DETECTORS, name).eval()


def _xception_layout(own: dict) -> dict:
    """Ours renamed to DeepfakeBench's XceptionDetector: ``backbone.<Cadene names>``,
    ``backbone.last_linear``, plus their unused ``adjust_channel`` adapter."""
    out = {k: v.clone() for k, v in own.items() if k.startswith("backbone.")}
    out["backbone.last_linear.weight"] = own["head.weight"].clone()
    out["backbone.last_linear.bias"] = own["head.bias"].clone()
    out["backbone.adjust_channel.0.weight"] = torch.zeros(512, 2048, 1, 1)
    return out


# efficientnet_pytorch's names of a block's parts, by our timm names
_INV = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
        "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand", "conv_pwl": "_project_conv",
        "bn3": "_bn2"}
_INV_DS = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce",
           "se.conv_expand": "_se_expand", "conv_pw": "_project_conv", "bn2": "_bn2"}


def _efficientnet_layout(own: dict) -> dict:
    """Ours renamed to DeepfakeBench's EfficientNetB4 (``backbone.efficientnet._blocks.N``, the
    32 blocks numbered in order; ``_conv_stem``, ``_bn0``, ``_conv_head``, ``_bn1``;
    ``backbone.last_layer``)."""
    blocks: list[str] = []
    for k in own:
        m = re.match(r"backbone\.blocks\.(\d+)\.(\d+)\.", k)
        if m and m.group(0) not in blocks:
            blocks.append(m.group(0))
    out = {}
    for k, v in own.items():
        m = re.match(r"backbone\.blocks\.\d+\.\d+\.", k)
        if m:
            n = blocks.index(m.group(0))
            rest = k[len(m.group(0)):]
            separable = not any(b.startswith(m.group(0) + "conv_pwl") for b in own)
            table = _INV_DS if separable else _INV
            part = next(p for p in sorted(table, key=len, reverse=True) if rest.startswith(p + "."))
            out[f"backbone.efficientnet._blocks.{n}.{table[part]}{rest[len(part):]}"] = v.clone()
        elif k.startswith("backbone."):
            top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1"}
            name, rest = k[len("backbone."):].split(".", 1)
            out[f"backbone.efficientnet.{top[name]}.{rest}"] = v.clone()
        else:
            out[k.replace("head.", "backbone.last_layer.")] = v.clone()
    return out


def _meso_layout(own: dict) -> dict:
    """Ours renamed to DeepfakeBench's MesoInception4 (``Incption{1,2}_conv*`` without biases,
    ``Incption{1,2}_bn``, ``conv1``/``conv2``, one ``bn1``, ``fc1``/``fc2``)."""
    branch = {"b1.0": "conv1", "b2.0.0": "conv2_1", "b2.1.0": "conv2_2", "b3.0.0": "conv3_1",
              "b3.1.0": "conv3_2", "b4.0.0": "conv4_1", "b4.1.0": "conv4_2"}
    out = {}
    for i, body in (("1", "body.0"), ("2", "body.3")):
        for ours, theirs in branch.items():
            out[f"backbone.Incption{i}_{theirs}.weight"] = own[f"{body}.{ours}.weight"].clone()
    for i, bn in (("1", "body.1"), ("2", "body.4")):
        for k, v in own.items():
            if k.startswith(bn + "."):
                out[f"backbone.Incption{i}_bn{k[len(bn):]}"] = v.clone()
    out["backbone.conv1.weight"] = own["body.6.0.weight"].clone()
    out["backbone.conv2.weight"] = own["body.9.0.weight"].clone()
    for k, v in own.items():
        if k.startswith("body.7."):
            out["backbone.bn1." + k[len("body.7."):]] = v.clone()
        if k.startswith(("fc1.", "head.")):
            out["backbone." + k.replace("head.", "fc2.")] = v.clone()
    return out


def _roundtrip(tmp_path, name, layout_fn, prepare=None):
    a = _fresh(name, 0)
    if prepare:
        prepare(a)
    theirs = layout_fn(a.state_dict())
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in theirs.items()}}, path)
    b = build(DETECTORS, {"type": name, "weights": str(path)}).eval()
    return a, b


def test_xception_layout_loads_and_predicts_bit_identically(tmp_path):
    a, b = _roundtrip(tmp_path, "xception", _xception_layout)
    assert layout_of(_xception_layout(a.state_dict())) == "xception"
    with torch.no_grad():
        assert torch.equal(a(X), b(X))
    assert (b.input_size, b.mean, b.std) == (256, (0.5,) * 3, (0.5,) * 3)
    assert b.weights_format == "deepfakebench:xception"
    assert type(b).input_size == 299  # the class is untouched


def test_efficientnet_layout_loads_and_predicts_bit_identically(tmp_path):
    def as_theirs(m):  # their BatchNorm eps and unpadded stem, as the loader sets them
        apply_preprocessing(m, "efficientnetb4")

    with pytest.warns(UserWarning, match="efficientnet_pytorch"):
        a, b = _roundtrip(tmp_path, "efficientnet_b4", _efficientnet_layout, as_theirs)
    with torch.no_grad():
        assert torch.equal(a(X), b(X))
    assert b.backbone.conv_stem.padding == (0, 0)
    # DeepfakeBench's normalisation (0.5), not ImageNet's
    assert torch.equal(b._mean, torch.full((1, 3, 1, 1), 0.5))


def test_meso_layout_loads_with_a_warning(tmp_path):
    def as_theirs(m):  # no conv biases, one BatchNorm after both 5x5 convolutions
        with torch.no_grad():
            for k, v in m.state_dict().items():
                if re.match(r"body\.(0|3|6|9)\..*bias$", k):
                    v.zero_()
            m.body[10].load_state_dict(m.body[7].state_dict())

    with pytest.warns(UserWarning, match="no ReLU inside its inception"):
        a, b = _roundtrip(tmp_path, "meso_inception4", _meso_layout, as_theirs)
    with torch.no_grad():
        assert torch.equal(a(X), b(X))


def test_wrong_checkpoint_names_missing_and_unexpected_keys(tmp_path):
    a = _fresh("xception", 0)
    theirs = _xception_layout(a.state_dict())
    del theirs["backbone.block3.skip.weight"]
    theirs["backbone.block99.extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(theirs, path)
    with pytest.raises(WeightsMismatchError) as err:
        build(DETECTORS, {"type": "xception", "weights": str(path)})
    msg = str(err.value)
    assert "backbone.block3.skip.weight" in msg and "backbone.block99.extra.weight" in msg
    assert "missing" in msg and "unexpected" in msg and "deepfakebench" in msg.lower()
    assert err.value.missing == ["backbone.block3.skip.weight"]
    assert err.value.unexpected == ["backbone.block99.extra.weight"]


def test_xception_checkpoint_into_another_detector_is_refused(tmp_path):
    theirs = _xception_layout(_fresh("xception", 0).state_dict())
    path = tmp_path / "x.pth"
    torch.save(theirs, path)
    with pytest.raises(WeightsMismatchError, match="missing keys"):
        build(DETECTORS, {"type": "resnet50", "weights": str(path)})
