"""F3-Net (Qian et al., "Thinking in Frequency", ECCV 2020) on two Xception branches.

- FAD (frequency-aware decomposition): the image's full-size 2-D DCT is split
  into four bands by ``i + j`` (low, mid, high, all); each band's filter is a
  fixed 0/1 mask plus a learnable part ``2 * sigmoid(w) - 1``; each filtered
  spectrum goes back through the inverse DCT: 4 bands x 3 colours = 12 channels.
- LFS (local frequency statistics): grayscale, sliding 10x10 DCT windows
  (stride 2, padding 4), ``log10 |DCT|``, summed over M = 6 bands per window
  (fixed mask plus learnable part, divided by the band's size): 6 channels.
- Two ``legacy_xception`` branches (timm) with widened first convolutions
  (``in_chans`` 12 and 6; the LFS branch's first conv has stride 1, as in the
  authors' code, so both branches meet at the same spatial size), and a
  MixBlock (cross-attention between the branches) after block 7 (middle flow)
  and after block 12 (exit flow).
- ``features`` returns both branches' 2048-d pooled features concatenated:
  **phi is 4096-d**; a consumer (the bleach generator) projects it.

Band edges. Public ports differ (the authors' code uses ``i + j`` cut at
N/16 and N/8, which leaves a tiny low band and excludes the DC term). We
follow the paper's text: the low band is the first 1/16 of the spectrum's
area and the mid band runs to 1/8; with triangular ``i + j < t`` regions
(area ``t^2 / 2``) that puts the edges at ``t = N * sqrt(2 * fraction)``,
i.e. N/2.83 and N/2; the high band is the rest. The low band includes DC, so
low + mid + high is exactly the all-ones "all" mask (tested). LFS bands are
``2S/M``-wide slices of ``i + j`` in ``[0, 2S)``, DC in the first, so they
too partition the window. Edges are keyword arguments (``fad_bands``).

Sizes. Native 299 px, mean = std = 0.5. The FAD's learnable filters live on a
``filter_size`` grid (default 299) and are bilinearly resized when the input
has another size; DCT matrices are built per input size. At 64 px the LFS map
is 32x32 (10x10 windows, stride 2, padding 4; 149x149 at 299) and both
branches are 4x4 at block 7; if the branches ever disagree in size, the LFS
map is interpolated to the FAD's. Inputs must be square (MixBlock attends
over rows). The frequency heads run in float32 even under AMP (log of small
DCT magnitudes).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.detector import Detector
from bench.core.registry import DETECTORS
from bench.core.weights import load_weights
from bleachbench.detectors.timm_backbone import create_timm


def dct_matrix(n: int, device: torch.device | None = None) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``D`` (``D @ x @ D.T`` is the 2-D DCT of ``x``)."""
    i = torch.arange(n, dtype=torch.float64, device=device).view(-1, 1)
    j = torch.arange(n, dtype=torch.float64, device=device).view(1, -1)
    d = torch.cos((j + 0.5) * math.pi * i / n) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.float()


def band_mask(n: int, start: float, end: float) -> torch.Tensor:
    """1 where ``start <= i + j < end`` on an ``n x n`` grid, else 0."""
    s = torch.arange(n).view(-1, 1) + torch.arange(n).view(1, -1)
    return ((s >= start) & (s < end)).float()


def fad_masks(n: int, fractions: tuple[float, float] = (1 / 16, 1 / 8)) -> torch.Tensor:
    """The four FAD masks [4, n, n]: low, mid, high, all (edges at ``n * sqrt(2 * fraction)``)."""
    low_edge, mid_edge = (n * math.sqrt(2.0 * f) for f in fractions)
    return torch.stack(
        [
            band_mask(n, 0, low_edge),
            band_mask(n, low_edge, mid_edge),
            band_mask(n, mid_edge, 2 * n),
            torch.ones(n, n),
        ]
    )


def lfs_masks(window: int, m: int) -> torch.Tensor:
    """The M LFS masks [m, window, window]: equal slices of ``i + j`` in ``[0, 2 * window)``."""
    width = 2.0 * window / m
    return torch.stack([band_mask(window, width * k, width * (k + 1)) for k in range(m)])


def _soft(w: torch.Tensor) -> torch.Tensor:
    return 2.0 * torch.sigmoid(w) - 1.0


class FAD(nn.Module):
    """Frequency-aware decomposition: [B,3,N,N] -> [B,12,N,N] (4 DCT bands, inverse DCT)."""

    def __init__(self, filter_size: int = 299, fractions: tuple[float, float] = (1 / 16, 1 / 8)):
        super().__init__()
        self.fractions = fractions
        self.learnable = nn.Parameter(torch.randn(4, filter_size, filter_size) * 0.1)
        self._dct: dict[tuple, torch.Tensor] = {}  # DCT matrices and masks per size

    def filters(self, n: int) -> torch.Tensor:
        """Base masks plus learnable parts for an ``n x n`` spectrum: [4, n, n]."""
        w = self.learnable
        if w.shape[-1] != n:
            w = F.interpolate(w[None], size=(n, n), mode="bilinear", align_corners=True)[0]
        key = (n, str(w.device), "masks")  # fixed masks built once per size (speed only)
        if key not in self._dct:
            self._dct[key] = fad_masks(n, self.fractions).to(w.device)
        return self._dct[key] + _soft(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if h != w:
            raise ValueError(f"F3-Net needs square inputs, got {h}x{w}")
        key = (h, str(x.device))
        if key not in self._dct:
            self._dct[key] = dct_matrix(h, x.device)
        d = self._dct[key]
        freq = d @ x @ d.T  # [B,3,N,N]
        filt = self.filters(h)  # [4,N,N]
        bands = freq.unsqueeze(1) * filt[None, :, None]  # [B,4,3,N,N]
        return (d.T @ bands @ d).reshape(b, 4 * c, h, w)


class LFS(nn.Module):
    """Local frequency statistics: [B,3,N,N] -> [B,M,N',N'] (N' = (N + 2p - S) // 2 + 1)."""

    def __init__(self, window: int = 10, m: int = 6, stride: int = 2, padding: int = 4):
        super().__init__()
        self.window, self.m, self.stride, self.padding = window, m, stride, padding
        self.register_buffer("dct", dct_matrix(window), persistent=False)
        self.register_buffer("base", lfs_masks(window, m), persistent=False)
        self.learnable = nn.Parameter(torch.randn(m, window, window) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        gray = (gray + 1.0) * 122.5  # [-1, 1] -> [0, 245], as in the authors' code
        s = self.window
        patches = F.unfold(gray, s, padding=self.padding, stride=self.stride)  # [B, S*S, L]
        patches = patches.transpose(1, 2).reshape(b, -1, s, s)
        logmag = torch.log10((self.dct @ patches @ self.dct.T).abs() + 1e-15)  # [B,L,S,S]
        filt = self.base + _soft(self.learnable)
        stats = torch.einsum("blij,mij->bml", logmag, filt) / self.base.sum(dim=(1, 2))[:, None]
        oh = (h + 2 * self.padding - s) // self.stride + 1
        ow = (w + 2 * self.padding - s) // self.stride + 1
        return stats.reshape(b, self.m, oh, ow)


class MixBlock(nn.Module):
    """Cross-attention between the FAD and LFS maps (the authors' MixBlock)."""

    def __init__(self, channels: int):
        super().__init__()
        conv1 = lambda: nn.Conv2d(channels, channels, 1)  # noqa: E731
        self.fad_query, self.lfs_query = conv1(), conv1()
        self.fad_key, self.lfs_key = conv1(), conv1()
        self.fad_gamma = nn.Parameter(torch.zeros(1))
        self.lfs_gamma = nn.Parameter(torch.zeros(1))
        self.fad_conv = nn.Conv2d(channels, channels, 1, groups=channels)
        self.fad_bn = nn.BatchNorm2d(channels)
        self.lfs_conv = nn.Conv2d(channels, channels, 1, groups=channels)
        self.lfs_bn = nn.BatchNorm2d(channels)

    def forward(self, x_fad: torch.Tensor, x_lfs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x_fad.shape
        q = torch.cat(
            [self.fad_query(x_fad).reshape(-1, h, w), self.lfs_query(x_lfs).reshape(-1, h, w)], 2
        )  # [BC, H, 2W]
        k = torch.cat(
            [
                self.fad_key(x_fad).reshape(-1, h, w).transpose(1, 2),
                self.lfs_key(x_lfs).reshape(-1, h, w).transpose(1, 2),
            ],
            1,
        )  # [BC, 2W, H]
        attention = torch.softmax(torch.bmm(q, k), dim=-1).reshape(b, c, h, h)
        att_lfs = x_lfs * attention * _soft(self.lfs_gamma)
        att_fad = x_fad * attention * _soft(self.fad_gamma)
        y_fad = x_fad + self.fad_bn(self.fad_conv(att_lfs))
        y_lfs = x_lfs + self.lfs_bn(self.lfs_conv(att_fad))
        return y_fad, y_lfs


def _stem(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = net.act1(net.bn1(net.conv1(x)))
    return net.act2(net.bn2(net.conv2(x)))


def _blocks(net: nn.Module, x: torch.Tensor, first: int, last: int) -> torch.Tensor:
    for i in range(first, last + 1):
        x = getattr(net, f"block{i}")(x)
    return x


def _exit(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = net.act3(net.bn3(net.conv3(x)))
    x = net.act4(net.bn4(net.conv4(x)))
    return x.mean(dim=(2, 3))


def _match(x_lfs: torch.Tensor, x_fad: torch.Tensor) -> torch.Tensor:
    if x_lfs.shape[-2:] == x_fad.shape[-2:]:
        return x_lfs
    return F.interpolate(x_lfs, size=x_fad.shape[-2:], mode="bilinear", align_corners=False)


@DETECTORS.register_module(name="f3net")
class F3Net(Detector):
    """F3-Net (FAD + LFS + MixBlock on two Xceptions), 299 px, 4096-d feature."""

    input_size = 299
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    display_name = "F3-Net"
    feature_dim = 4096
    resizable = True  # any face of 64 px and up runs (the profile's faces.size is used)
    pre_activation_modules = ("fad_net.act4", "lfs_net.act4")  # both exits, before their ReLU

    def __init__(
        self,
        pretrained: bool = False,
        weights: str | Path | None = None,
        drop_rate: float = 0.2,
        filter_size: int = 299,
        fad_bands: tuple[float, float] = (1 / 16, 1 / 8),
        lfs_window: int = 10,
        lfs_bands: int = 6,
    ) -> None:
        super().__init__()
        self.fad = FAD(filter_size, tuple(fad_bands))
        self.lfs = LFS(lfs_window, lfs_bands)
        fetch = pretrained and weights is None  # weights= replaces every tensor anyway
        self.fad_net = create_timm("legacy_xception", pretrained=fetch, num_classes=0, in_chans=12)
        self.lfs_net = create_timm(
            "legacy_xception", pretrained=fetch, num_classes=0, in_chans=lfs_bands
        )
        self.lfs_net.conv1.stride = (1, 1)  # the LFS map is already half-size
        self.mix7 = MixBlock(728)
        self.mix12 = MixBlock(1024)
        self.head_drop = nn.Dropout(drop_rate)  # the authors' Dropout(0.2) before the classifier
        self.head = nn.Linear(self.feature_dim, 2)
        if weights is not None:
            load_weights(self, weights)

    def frequency_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two branches' inputs (FAD [B,12,N,N], LFS [B,M,N',N']), computed in float32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float().contiguous()
            return self.fad(x), self.lfs(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        f, s = self.frequency_inputs(x)
        f, s = _stem(self.fad_net, f), _stem(self.lfs_net, s)
        f, s = _blocks(self.fad_net, f, 1, 7), _blocks(self.lfs_net, s, 1, 7)
        f, s = self.mix7(f, _match(s, f))
        f, s = _blocks(self.fad_net, f, 8, 12), _blocks(self.lfs_net, s, 8, 12)
        f, s = self.mix12(f, _match(s, f))
        return torch.cat([_exit(self.fad_net, f), _exit(self.lfs_net, s)], dim=1)

    def classify(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(phi))
