"""A small residual U-Net for image-to-image preprocessors in front of a frozen detector.

Ronneberger et al., "U-Net", MICCAI 2015, shrunk: ``depth`` levels of two 3x3
conv + BatchNorm + ReLU blocks (``width`` channels at the top, doubled per
level), max-pool down, bilinear up with skip concatenation, a 1x1 output conv.
It predicts a residual: ``out = x + unet(x)``, and the output conv starts at
zero, so an untrained preprocessor is the identity (the frozen detector's own
decisions). Any input side of at least ``2 ** (depth - 1)`` px works (each
up-step is resized to its skip connection's shape).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )  # fmt: skip


class ResidualUNet(nn.Module):
    """``x [B,3,H,W] -> x + residual``; identity at initialisation."""

    def __init__(self, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"ResidualUNet: width and depth must be >= 1, got {width}, {depth}")
        chans = [width * 2**i for i in range(depth)]
        self.down = nn.ModuleList([_block(3, chans[0])] +
                                  [_block(chans[i - 1], chans[i]) for i in range(1, depth)])
        self.up = nn.ModuleList([_block(chans[i] + chans[i - 1], chans[i - 1])
                                 for i in range(depth - 1, 0, -1)])
        self.out = nn.Conv2d(chans[0], 3, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip], 1))
        return x + self.out(h)
