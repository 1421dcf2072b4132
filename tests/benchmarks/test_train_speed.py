"""Training speed: the harness (mmengine Runner) against a bare PyTorch loop, and img/s per
detector at 64 px (batch 32, 2 threads). Run with ``pytest --benchmark-only``."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook

from bench.core.faceset import FaceSet
from bench.core.registry import DETECTORS, build
from bench.run.training import train_detector

SIZE, BATCH, THREADS = 64, 32, 2


def faces(n: int, seed: int = 0) -> FaceSet:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = rng.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    manip = np.where(labels == 1, "FaceSwap", "real")
    return FaceSet(images, labels, manip, np.array([f"v{i}" for i in range(n)]))


class _Interleaved(Hook):
    """Times every harness iteration and, between two of them, one bare PyTorch step.

    Alternating step by step keeps both under the same machine load. A harness
    iteration runs from the end of one bare step to the start of the next: its
    train_step, its hooks and the loading of the next batch. The bare step is a
    plain loop on its own copy of the model: same batch size and data, AdamW,
    no hooks, no flips.
    """

    def __init__(self, name: str, train: FaceSet, lr: float = 1e-3) -> None:
        torch.manual_seed(0)
        self.det = build(DETECTORS, name).train()
        self.opt = torch.optim.AdamW(self.det.parameters(), lr=lr, weight_decay=1e-2)
        self.train, self.order = train, np.random.default_rng(0).permutation(len(train))
        self.bare: list[float] = []
        self.harness: list[float] = []
        self._end: float | None = None

    def _bare_step(self, k: int) -> None:
        n = len(self.train) // BATCH
        x, y = self.train.tensors(np.sort(self.order[(k % n) * BATCH : (k % n + 1) * BATCH]))
        loss = F.cross_entropy(self.det(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        start = time.perf_counter()
        if self._end is not None:
            self.harness.append(start - self._end)
        self._bare_step(batch_idx)
        self._end = time.perf_counter()
        self.bare.append(self._end - start)

    def after_train_epoch(self, runner) -> None:
        self.harness.append(time.perf_counter() - self._end)


def harness_epoch(name: str, train: FaceSet, val: FaceSet, work_dir, hooks=()) -> float:
    """img/s of train_detector's training epoch (data loading and every hook included)."""
    torch.manual_seed(0)
    result = train_detector(
        build(DETECTORS, name), train, val, work_dir, epochs=1, batch_size=BATCH, lr=1e-3,
        device="cpu", progress=False, hooks=hooks,
    )
    return result["img_per_s"]


def test_harness_step_vs_bare_pytorch(benchmark, tmp_path):
    """Median step times, the first step of each kind dropped (warm-up)."""
    torch.set_num_threads(THREADS)
    name, train, val = "resnet50", faces(8 * BATCH), faces(BATCH, seed=1)
    timer = _Interleaved(name, train)
    benchmark.pedantic(
        lambda: harness_epoch(name, train, val, tmp_path, hooks=[timer]), rounds=1, iterations=1
    )
    bare, harness = float(np.median(timer.bare[1:])), float(np.median(timer.harness[1:]))
    ratio = bare / harness
    benchmark.extra_info.update(bare_img_s=BATCH / bare, harness_img_s=BATCH / harness, ratio=ratio)
    print(f"\n{name} @{SIZE}px batch {BATCH}: {benchmark.extra_info}")
    assert ratio >= 0.95


@pytest.mark.parametrize(
    "name", ["tiny", "meso_inception4", "xception", "resnet50", "efficientnet_b4", "f3net"]
)
def test_detector_training_img_per_s(benchmark, tmp_path, name):
    torch.set_num_threads(THREADS)
    train, val = faces(4 * BATCH), faces(BATCH, seed=1)
    counter = iter(range(100))
    rate = benchmark.pedantic(
        lambda: harness_epoch(name, train, val, tmp_path / str(next(counter))),
        rounds=2, iterations=1,
    )
    benchmark.extra_info["img_per_s"] = rate
    print(f"\n{name} @{SIZE}px batch {BATCH}, {THREADS} threads: {rate:.1f} img/s")


@pytest.mark.parametrize("name", ["tiny", "resnet50"])
def test_harness_step_breakdown(benchmark, tmp_path, name):
    """Where a harness iteration's time goes beyond the bare step, per part (median ms per
    iteration, first iteration dropped): the loader (fetch + collate), the data preprocessor,
    forward + loss, ``parse_losses``, ``update_params`` (backward, step, zero_grad) and each
    hook's ``before/after_train_iter``, against a bare step (same model, batch, AdamW) timed
    between two harness iterations."""
    from collections import defaultdict

    from bench.run.training import build_runner

    torch.set_num_threads(THREADS)
    train, val = faces(10 * BATCH), faces(BATCH, seed=1)
    timer = _Interleaved(name, train)
    torch.manual_seed(0)
    runner = build_runner(build(DETECTORS, name), train, val, tmp_path, epochs=1, batch_size=BATCH,
                          lr=1e-3, device="cpu", progress=False, hooks=[timer])
    parts: dict[str, list[float]] = defaultdict(list)

    def timed(label, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            out = fn(*a, **kw)
            parts[label].append(time.perf_counter() - t)
            return out
        return wrapper

    def call_hook(fn_name, **kwargs):
        for hook in runner._hooks:
            if hasattr(hook, fn_name) and hook is not timer:
                t = time.perf_counter()
                getattr(hook, fn_name)(runner, **kwargs)
                if fn_name.endswith("train_iter"):
                    parts[f"hook {type(hook).__name__}.{fn_name}"].append(time.perf_counter() - t)
            elif hook is timer and hasattr(hook, fn_name):
                getattr(hook, fn_name)(runner, **kwargs)

    runner.call_hook = call_hook
    model = runner.model
    model.data_preprocessor.forward = timed("data_preprocessor", model.data_preprocessor.forward)
    model._run_forward = timed("forward + loss", model._run_forward)
    model.parse_losses = timed("parse_losses", model.parse_losses)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)  # train() keeps a built one
    runner.optim_wrapper.update_params = timed("update_params (backward, step)",
                                               runner.optim_wrapper.update_params)
    loader = runner.train_dataloader
    base_iter = type(loader).__iter__

    class TimedLoader(type(loader)):
        def __iter__(self):
            it = base_iter(self)
            while True:
                t = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    return
                parts["loader (fetch + collate)"].append(time.perf_counter() - t)
                yield batch

    loader.__class__ = TimedLoader
    benchmark.pedantic(runner.train, rounds=1, iterations=1)
    med = {k: 1e3 * float(np.median(v[1:] if len(v) > 1 else v)) for k, v in parts.items()}
    bare = 1e3 * float(np.median(timer.bare[1:]))
    harness = 1e3 * float(np.median(timer.harness[1:]))
    benchmark.extra_info.update(bare_ms=bare, harness_ms=harness, ratio=bare / harness, **med)
    lines = [f"{k:<55} {v:8.2f} ms" for k, v in sorted(med.items(), key=lambda kv: -kv[1])]
    print(f"\n{name} @{SIZE}px batch {BATCH}, {THREADS} threads: bare step {bare:.1f} ms, harness "
          f"iteration {harness:.1f} ms, ratio {bare / harness:.3f}\n" + "\n".join(lines))
