"""Pixel Bleach's bleach generator (Sec. III-B): feature reconstruction and compensation, then a DCGAN.

- :func:`offset_direction` is the paper's I: the sign of the frozen head's
  logit margin ``delta_f = f_fake - f_real`` (biases included, since they take
  part in the decision): ``+1`` where the detector says fake, ``-1`` where it
  says real, ``0`` on an exact tie (``delta_f / |delta_f|`` is undefined there).
- :func:`compensate` is Eq. 4: ``delta_phi* = -2 phi + m * I * phi``, so that
  ``phi + delta_phi* = (m I - 1) phi`` is phi reflected through the origin and
  shrunk (predicted fake, ``1 - m``) or stretched (predicted real, ``1 + m``).
- :class:`BleachGenerator` maps ``delta_phi*`` to a bleach ``[B, 3, S, S]`` in
  ``[-1, 1]`` (tanh). The feature enters as a ``32 x h x h`` map:

  * 2048-d (Xception, ResNet-50): reshaped to 8x8x32, as in the paper;
  * 512-d: reshaped to 4x4x32;
  * 16-d (MesoInception4): two 1x1 conv layers (16 -> 128 -> 512, BN + ReLU
    between) expand it to 512 = 4x4x32, the paper's "two convolutional modules";
  * any other width (1792-d EfficientNet-B4, 4096-d F3-Net, ...): a learned
    linear projection to 2048, then 8x8x32 (our choice; the paper is silent).

  DCGAN stages (ConvTranspose2d 4x4 stride 2 + BN + ReLU; channels
  ``base_channels`` halving, at least 16) double the side while it stays at
  most S; the last stage outputs 3 channels. If the side then differs from S
  (299: 8 -> 256), the map is resized bilinearly to S before the tanh. At 64 px
  from 8x8: 8 -> 16 -> 32 -> 64, exact. DCGAN initialisation (N(0, 0.02)).

  Two options of the re-read (``norm``, ``condition``; the paper's generator is
  ``norm="batch", condition=False``):

  * ``norm="batch"``: the paper's BatchNorm after every hidden stage. In training
    mode it removes any factor common to a batch, so when nearly every face of a
    batch has the same I, ``-2 phi + m I phi = (m I - 2) phi`` reaches the
    generator as phi alone (every stage is bias-free and positively homogeneous
    up to the next BatchNorm). ``norm="none"``: no normalisation, every stage
    with a bias, He initialisation (std ``sqrt(2 / (4 c_in))`` for a stride-2 4x4
    transposed convolution, whose outputs each sum ``4 c_in`` terms) so the
    signal keeps its scale through the stages; the output then depends on each
    face alone, the same in training and evaluation.
  * ``condition=True``: I enters as one more input channel (a constant ``I`` map
    beside the 32 feature channels), so the generator sees the direction even
    where the feature is small.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MAP_CHANNELS = 32  # the paper's 8x8x32 / 4x4x32 input map


def logit_margin(logits: torch.Tensor) -> torch.Tensor:
    """``delta_f = f_fake - f_real`` for logits ``[B, 2]`` (index 1 = fake)."""
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"logit_margin: expected logits [B, 2], got {list(logits.shape)}")
    return logits[:, 1] - logits[:, 0]


def offset_direction(logits: torch.Tensor) -> torch.Tensor:
    """The paper's I = ``delta_f / |delta_f|``: +1 predicted fake, -1 predicted real, 0 on a tie."""
    return torch.sign(logit_margin(logits))


def compensate(phi: torch.Tensor, direction: torch.Tensor, m: float = 0.7) -> torch.Tensor:
    """Eq. 4: ``delta_phi* = -2 phi + m * I * phi`` with I ``[B]`` broadcast over features."""
    if direction.shape != phi.shape[:1]:
        raise ValueError(
            f"compensate: direction must be [B]={phi.shape[0]}, got {list(direction.shape)}"
        )
    return -2.0 * phi + m * direction.to(phi.dtype).unsqueeze(1) * phi


NORMS = ("batch", "none")


class FeatureToMap(nn.Module):
    """``[B, D] -> [B, 32, h, h]``: reshape (D = 2048, 512), two convs (D = 16), else linear to 2048."""

    def __init__(self, feature_dim: int, norm: str = "batch") -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.expand: nn.Module
        if feature_dim == 2048:
            self.expand, self.side = nn.Identity(), 8
        elif feature_dim == 512:
            self.expand, self.side = nn.Identity(), 4
        elif feature_dim == 16:
            self.expand, self.side = (
                nn.Sequential(
                    nn.Conv2d(16, 128, 1, bias=norm != "batch"),
                    nn.BatchNorm2d(128) if norm == "batch" else nn.Identity(),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(128, 512, 1),
                ),
                4,
            )
        else:
            self.expand, self.side = nn.Linear(feature_dim, 2048), 8

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        if phi.ndim != 2 or phi.shape[1] != self.feature_dim:
            raise ValueError(
                f"BleachGenerator expects features [B, {self.feature_dim}], got {list(phi.shape)}"
            )
        if isinstance(self.expand, nn.Sequential):  # 1x1 convs on a [B, 16, 1, 1] map
            phi = self.expand(phi[:, :, None, None]).flatten(1)
        else:
            phi = self.expand(phi)
        return phi.reshape(phi.shape[0], MAP_CHANNELS, self.side, self.side)


class BleachGenerator(nn.Module):
    """DCGAN-style generator: ``delta_phi* [B, D] -> bleach [B, 3, S, S]`` in ``[-1, 1]``."""

    def __init__(
        self,
        feature_dim: int,
        out_size: int,
        base_channels: int = 256,
        zero_init: bool = True,
        norm: str = "batch",
        condition: bool = False,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"BleachGenerator: norm must be one of {NORMS}, got {norm!r}")
        self.feature_dim, self.out_size = feature_dim, out_size
        self.zero_init, self.norm, self.condition = zero_init, norm, bool(condition)
        self.to_map = FeatureToMap(feature_dim, norm)
        side = self.to_map.side
        if out_size < 2 * side:
            raise ValueError(
                f"BleachGenerator: out_size must be at least {2 * side} px, got {out_size}"
            )
        n_stages = int(math.floor(math.log2(out_size / side)))
        layers: list[nn.Module] = []
        c_in, c_out = MAP_CHANNELS + int(self.condition), base_channels
        for i in range(n_stages):
            last = i == n_stages - 1
            width = 3 if last else c_out
            bias = last or norm != "batch"
            layers.append(nn.ConvTranspose2d(c_in, width, 4, stride=2, padding=1, bias=bias))
            if not last:
                layers += [nn.BatchNorm2d(width)] if norm == "batch" else []
                layers += [nn.ReLU(inplace=True)]
            c_in, c_out = width, max(16, width // 2)
            side *= 2
        self.stages = nn.Sequential(*layers)
        self.native_side = side  # before the final resize
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """DCGAN initialisation: conv weights N(0, 0.02), BN weights N(1, 0.02), biases 0.

        With ``zero_init`` (default) the last layer starts at zero, so the first bleach
        is exactly 0 and training starts from the frozen detector's own decisions: a
        random DCGAN output (|bleach| about 0.1 at 64 px) otherwise drowns the subtle,
        compressed artifacts before the generator has learnt anything (measured on the
        quick profile: val accuracy fell to chance and stayed there for two epochs).
        """
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(mod.weight, 0.0, self._init_std(mod))
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.normal_(mod.weight, 1.0, 0.02)
                nn.init.zeros_(mod.bias)
        if self.zero_init:
            last = [m for m in self.stages if isinstance(m, nn.ConvTranspose2d)][-1]
            nn.init.zeros_(last.weight)

    def _init_std(self, mod: nn.Module) -> float:
        """DCGAN's 0.02 with BatchNorm; He's ``sqrt(2 / fan_in)`` without (see the module docstring)."""
        if self.norm == "batch":
            return 0.02
        if isinstance(mod, nn.ConvTranspose2d):  # stride 2, 4x4: each output sums 4 c_in terms
            return math.sqrt(2.0 / (4 * mod.in_channels))
        if isinstance(mod, nn.Conv2d):
            return math.sqrt(2.0 / (mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]))
        return math.sqrt(1.0 / mod.in_features)  # the linear projection: variance preserving

    def forward(self, delta_phi: torch.Tensor, direction: torch.Tensor | None = None) -> torch.Tensor:
        """Bleach ``[B, 3, S, S]`` in [-1, 1]; ``direction`` (I, ``[B]``) is required with ``condition``."""
        fmap = self.to_map(delta_phi)
        if self.condition:
            if direction is None or direction.shape != fmap.shape[:1]:
                got = None if direction is None else list(direction.shape)
                raise ValueError(f"BleachGenerator(condition=True) needs direction [B]={fmap.shape[0]}, got {got}")
            plane = direction.to(fmap.dtype)[:, None, None, None].expand(-1, 1, *fmap.shape[2:])
            fmap = torch.cat([fmap, plane], dim=1)
        out = self.stages(fmap)
        if out.shape[-1] != self.out_size:
            out = F.interpolate(
                out, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False
            )
        return torch.tanh(out)
