"""DeepfakeBench checkpoints onto our detectors: key names, shapes and preprocessing.

DeepfakeBench (Yan et al., NeurIPS 2023 Datasets and Benchmarks) saves a
detector's whole ``state_dict``: its backbone under ``backbone.`` and, for
F3-Net, the frequency head under ``FAD_head.``. The layouts below were written
from DeepfakeBench's architecture definitions (``training/networks/*.py`` and
``training/detectors/*_detector.py``); no code of theirs is used here.

==================  ===========================================  ==================
DeepfakeBench       their keys                                   ours
==================  ===========================================  ==================
xception            ``backbone.<timm legacy_xception names>``,   ``xception``
                    ``backbone.last_linear[.1]``
efficientnetb4      ``backbone.efficientnet._blocks.N._...``     ``efficientnet_b4``
                    (``efficientnet_pytorch`` names, blocks
                    numbered 0..31), ``backbone.last_layer``
resnet34 (and any   ``backbone.resnet.{0,1,4..7}`` (torchvision  ``resnet50`` when
torchvision ResNet) children), ``backbone.fc``                   the depth matches
meso4Inception      ``backbone.Incption{1,2}_conv*``,            ``meso_inception4``
                    ``backbone.conv{1,2}``, ``backbone.bn1``,
                    ``backbone.fc{1,2}``
f3net               ``FAD_head.filters.{0..3}.learnable``,       ``f3net`` (FAD
                    ``backbone.<xception>``                      branch only)
==================  ===========================================  ==================

Preprocessing: every DeepfakeBench config of these detectors uses 256 px faces
and mean = std = 0.5, so a loaded detector's ``input_size``, ``mean`` and
``std`` are set to those (instance attributes; the normalisation buffers too).

Where the architectures differ the loader says so instead of guessing:

- **EfficientNet-B4**: theirs is ``efficientnet_pytorch`` (TF "same" padding,
  BatchNorm eps 1e-3, a stem convolution without padding); ours is timm's
  ``efficientnet_b4``. The weights map one to one; we set BatchNorm eps to
  1e-3 and the stem's padding to 0, but the other strided convolutions keep
  symmetric padding, so outputs are close to, not equal to, theirs.
- **MesoInception4**: their inception branches have no ReLU and no biases, and
  one BatchNorm (``bn1``) serves both 5x5 convolutions. Our biases are set to
  0 and ``bn1`` is copied into both of our BatchNorms; the branch ReLUs remain,
  so a warning says the function is not theirs.
- **F3-Net**: DeepfakeBench's F3-Net is the FAD branch alone (one Xception on
  12 channels, a 2048-d head); ours has both branches and MixBlocks. The FAD
  filters and that Xception map onto ``fad.learnable`` and ``fad_net``; the
  rest is reported as missing, so the load fails with the key lists.
- **ResNet**: DeepfakeBench ships ResNet-34; our ``resnet50`` accepts a
  torchvision-layout ResNet-50 in their wrapper, and a ResNet-34 fails with the
  key and shape lists.

This module imports nothing of the project (``bench.core`` stays a leaf).
"""

from __future__ import annotations

import re
import warnings

import torch
from torch import nn

#: DeepfakeBench's preprocessing for every detector mapped here (their configs' ``resolution``,
#: ``mean`` and ``std``)
PREPROCESSING = {"input_size": 256, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

_EFF = "backbone.efficientnet."


def layout_of(state: dict[str, torch.Tensor]) -> str | None:
    """Which DeepfakeBench layout ``state`` is in, or None when it is not one of theirs."""
    keys = list(state)
    if any(k.startswith("FAD_head.") for k in keys):
        return "f3net"
    if any(k.startswith(_EFF) for k in keys):
        return "efficientnetb4"
    if any(k.startswith("backbone.resnet.") for k in keys):
        return "resnet"
    if any(k.startswith("backbone.Incption1_") for k in keys):
        return "meso4Inception"
    if any(k.startswith("backbone.last_linear") for k in keys) and any(
        k.startswith("backbone.block1.") for k in keys
    ):
        return "xception"
    return None


def _head_key(theirs: str, prefix: str, suffix: str) -> str | None:
    """``backbone.last_linear.weight`` or ``backbone.last_linear.1.weight`` (Dropout first) -> head."""
    m = re.fullmatch(re.escape(prefix) + r"(?:\.1)?\.(weight|bias)", theirs)
    return f"{suffix}.{m.group(1)}" if m else None


def _xception_name(rest: str, target: str) -> str | None:
    if rest.startswith("adjust_channel."):
        return None  # DeepfakeBench's optional 512-channel adapter, unused in mode 'original'
    return f"{target}{rest}"


# efficientnet_pytorch's parts of a block -> timm's, for a block with an expansion conv
# (InvertedResidual) and one without (DepthwiseSeparable, the first stage)
_EFF_INVERTED = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_EFF_SEPARABLE = {
    "_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand", "_project_conv": "conv_pw", "_bn2": "bn2",
}
_EFF_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}

_MESO_INCEPTION = {  # their conv name suffix -> our branch module
    "conv1": "b1.0", "conv2_1": "b2.0.0", "conv2_2": "b2.1.0", "conv3_1": "b3.0.0",
    "conv3_2": "b3.1.0", "conv4_1": "b4.0.0", "conv4_2": "b4.1.0",
}
_RESNET_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3",
                    "7": "layer4"}


def _our_blocks(own: dict[str, torch.Tensor], prefix: str) -> list[str]:
    """Our timm EfficientNet blocks in order (``backbone.blocks.S.J``), flattened like theirs."""
    seen: dict[str, None] = {}
    for key in own:
        m = re.match(re.escape(prefix) + r"blocks\.(\d+)\.(\d+)\.", key)
        if m:
            seen.setdefault(f"{prefix}blocks.{m.group(1)}.{m.group(2)}", None)
    return list(seen)


def key_map(state: dict[str, torch.Tensor], module: nn.Module, layout: str) -> dict[str, list[str]]:
    """Their key -> our key(s) (a list: MesoInception's shared ``bn1`` feeds two of ours).

    Keys of theirs with no counterpart (fixed DCT matrices, unused adapters) map to [].
    """
    own = module.state_dict()
    out: dict[str, list[str]] = {}
    blocks = _our_blocks(own, "backbone.") if layout == "efficientnetb4" else []
    for theirs in state:
        ours: list[str] = []
        if layout in ("xception", "f3net"):
            target = "fad_net." if layout == "f3net" else "backbone."
            head = _head_key(theirs, "backbone.last_linear", "head")
            m = re.fullmatch(r"FAD_head\.filters\.(\d)\.learnable", theirs)
            if head:
                ours = [head]
            elif m:
                ours = [f"fad.learnable#{m.group(1)}"]  # one slice of our [4, N, N] parameter
            elif theirs.startswith("backbone."):
                name = _xception_name(theirs[len("backbone."):], target)
                ours = [name] if name else []
            # FAD_head._DCT_all(_T) and filters.N.base are fixed (rebuilt by our FAD): dropped
        elif layout == "efficientnetb4":
            head = _head_key(theirs, "backbone.last_layer", "head")
            m = re.fullmatch(re.escape(_EFF) + r"_blocks\.(\d+)\.(\w+?)\.(.+)", theirs)
            top = re.fullmatch(re.escape(_EFF) + r"(_\w+?)\.(.+)", theirs)
            if head:
                ours = [head]
            elif m:
                n, part, tail = int(m.group(1)), m.group(2), m.group(3)
                expands = f"{_EFF}_blocks.{n}._expand_conv.weight" in state
                table = _EFF_INVERTED if expands else _EFF_SEPARABLE
                if n < len(blocks) and part in table:
                    ours = [f"{blocks[n]}.{table[part]}.{tail}"]
                else:
                    ours = [f"<efficientnet block {n} {part}>.{tail}"]  # reported as unexpected
            elif top and top.group(1) in _EFF_TOP:
                ours = [f"backbone.{_EFF_TOP[top.group(1)]}.{top.group(2)}"]
            elif theirs.startswith("backbone.adjust_channel."):
                ours = []
            else:
                ours = [theirs]
        elif layout == "resnet":
            head = _head_key(theirs, "backbone.fc", "head")
            m = re.fullmatch(r"backbone\.resnet\.(\d+)\.(.+)", theirs)
            if head:
                ours = [head]
            elif m and m.group(1) in _RESNET_CHILDREN:
                ours = [f"backbone.{_RESNET_CHILDREN[m.group(1)]}.{m.group(2)}"]
            elif theirs.startswith("backbone.adjust_channel."):
                ours = []
            else:
                ours = [theirs]
        elif layout == "meso4Inception":
            m = re.fullmatch(r"backbone\.Incption([12])_(conv\d(?:_\d)?|bn)\.(.+)", theirs)
            rest = theirs[len("backbone."):]
            if m:
                body = "body.0" if m.group(1) == "1" else "body.3"
                if m.group(2) == "bn":
                    ours = ["body.1." + m.group(3) if m.group(1) == "1" else "body.4." + m.group(3)]
                else:
                    ours = [f"{body}.{_MESO_INCEPTION.get(m.group(2), m.group(2))}.{m.group(3)}"]
            elif rest.startswith("conv1."):
                ours = ["body.6.0." + rest[len("conv1."):]]
            elif rest.startswith("conv2."):
                ours = ["body.9.0." + rest[len("conv2."):]]
            elif rest.startswith("bn1."):  # one BatchNorm after both 5x5 convs in theirs
                tail = rest[len("bn1."):]
                ours = ["body.7." + tail, "body.10." + tail]
            elif rest.startswith("fc1."):
                ours = [rest]
            elif rest.startswith("fc2."):
                ours = ["head." + rest[len("fc2."):]]
            else:
                ours = [theirs]
        out[theirs] = ours
    return out


def convert(
    state: dict[str, torch.Tensor], module: nn.Module, layout: str
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``state`` (their layout) renamed to ``module``'s keys; also the notes to tell the user."""
    own = module.state_dict()
    mapping = key_map(state, module, layout)
    new: dict[str, torch.Tensor] = {}
    notes: list[str] = []
    slices: dict[int, torch.Tensor] = {}
    for theirs, ours_list in mapping.items():
        for ours in ours_list:
            if ours.startswith("fad.learnable#"):
                slices[int(ours.split("#")[1])] = state[theirs]
            else:
                new[ours] = state[theirs]
    if slices:
        if sorted(slices) != [0, 1, 2, 3]:
            notes.append(f"FAD_head.filters: found {sorted(slices)} of the 4 learnable filters")
        else:
            new["fad.learnable"] = torch.stack([slices[i] for i in range(4)])
    if layout == "meso4Inception":
        # their convolutions have no bias: ours are 0 (an identity on the function)
        for key, value in own.items():
            if key.startswith("body.") and key.endswith(".bias") and key not in new:
                if re.match(r"body\.(0|3|6|9)\.", key):
                    new[key] = torch.zeros_like(value)
        notes.append(
            "DeepfakeBench's MesoInception4 has no ReLU inside its inception branches; ours does, "
            "so the loaded detector is close to, not the same function as, theirs"
        )
    if layout == "efficientnetb4":
        notes.append(
            "DeepfakeBench's EfficientNet-B4 is efficientnet_pytorch (TF 'same' padding); ours is "
            "timm's with symmetric padding, so outputs are close to, not equal to, theirs"
        )
    return new, notes


def export(module: nn.Module, layout: str, template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``module``'s weights in DeepfakeBench's ``layout``, for the keys of ``template`` (their
    key set, e.g. from :func:`key_map`'s input): the inverse of :func:`convert`."""
    own = module.state_dict()
    out: dict[str, torch.Tensor] = {}
    for theirs, ours_list in key_map(template, module, layout).items():
        if not ours_list:
            out[theirs] = template[theirs]
            continue
        ours = ours_list[0]
        if ours.startswith("fad.learnable#"):
            out[theirs] = own["fad.learnable"][int(ours.split("#")[1])].clone()
        else:
            out[theirs] = own[ours].clone()
    return out


def apply_preprocessing(module: nn.Module, layout: str) -> None:
    """Set DeepfakeBench's input size and mean/std on ``module`` (instance attributes, buffers)."""
    module.input_size = PREPROCESSING["input_size"]
    module.mean = PREPROCESSING["mean"]
    module.std = PREPROCESSING["std"]
    if hasattr(module, "_mean"):
        module._mean.copy_(torch.tensor(module.mean).view(1, 3, 1, 1))
        module._std.copy_(torch.tensor(module.std).view(1, 3, 1, 1))
    module.weights_format = f"deepfakebench:{layout}"
    if layout == "efficientnetb4":
        for sub in module.modules():
            if isinstance(sub, nn.BatchNorm2d):
                sub.eps = 1e-3  # efficientnet_pytorch's batch_norm_epsilon
        stem = getattr(getattr(module, "backbone", None), "conv_stem", None)
        if isinstance(stem, nn.Conv2d):
            stem.padding = (0, 0)  # DeepfakeBench's replacement stem: Conv2d(3, 48, 3, 2), no pad
    if layout == "f3net" and hasattr(module, "fad"):
        pass  # FAD filters of another size are resized by our FAD itself


def prepare(module: nn.Module, state: dict[str, torch.Tensor], source: str):
    """If ``state`` is a DeepfakeBench checkpoint: the renamed state and its layout, else None."""
    layout = layout_of(state)
    if layout is None:
        return None
    new, notes = convert(state, module, layout)
    if layout == "f3net" and "fad.learnable" in new and hasattr(module, "fad"):
        size = new["fad.learnable"].shape[-1]
        if module.fad.learnable.shape[-1] != size:  # their filters live on a 256 grid
            module.fad.learnable = nn.Parameter(torch.empty_like(new["fad.learnable"]))
    for note in notes:
        warnings.warn(f"{source}: {note}", stacklevel=3)
    return new, layout
