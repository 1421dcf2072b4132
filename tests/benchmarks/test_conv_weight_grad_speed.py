"""A training step at 64 px (batch 16, one thread, channels_last, fused AdamW) with small
maps' weight gradients summed tap by tap (detectors/conv_weight_grad.py) against PyTorch's
own kernel: EfficientNet-B4, which does it by default (``weight_grad="taps"``), and
ResNet-50, which gains 13-15 % but keeps the native kernel (see that module). Run with
``pytest tests/benchmarks --benchmark-only``; compare the rows of one detector in one run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.core.registry import DETECTORS, build
from bleachbench.detectors.conv_weight_grad import use_taps_weight_grad


@pytest.mark.parametrize("weight_grad", ["taps", "native"])
@pytest.mark.parametrize("name", ["efficientnet_b4", "resnet50"])
def test_training_step(benchmark, name, weight_grad):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        det = build(DETECTORS, {"type": name, "weight_grad": "native"} if name == "efficientnet_b4"
                    else name)
        if weight_grad == "taps":
            use_taps_weight_grad(det)
        det = det.train().to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(det.parameters(), lr=1e-3, fused=True)
        x = torch.rand(16, 3, 64, 64).contiguous(memory_format=torch.channels_last)
        y = torch.arange(16) % 2

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(det(x), y).backward()
            opt.step()

        step()
        benchmark.pedantic(step, rounds=8, iterations=1, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)
