"""EfficientNet-B4's training step at 64 px (batch 16, one thread, channels_last, fused AdamW)
with the tap-by-tap depthwise weight gradient (detectors/depthwise_conv.py, the default)
against PyTorch's own kernel (``depthwise_grad="native"``). Run with
``pytest tests/benchmarks --benchmark-only``; compare the two rows of one run (measured
2026-12-01 on the project's 2-core machine: 0.59 against 0.81 s a step)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.registry import DETECTORS, build


@pytest.mark.parametrize("depthwise_grad", ["taps", "native"])
def test_efficientnet_b4_step(benchmark, depthwise_grad):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        det = build(DETECTORS, {"type": "efficientnet_b4", "depthwise_grad": depthwise_grad})
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
