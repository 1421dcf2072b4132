"""Detector training through mmengine's Runner: learning, caching, resume, NaN stop,
determinism, safe checkpoint loading and a two-process gloo run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook

from bench.core.faceset import FaceSet
from bench.core.registry import DETECTORS, build
from bench.core.weights import UnsafeCheckpointError
from bench.run.training import (
    NonFiniteLossError,
    build_runner,
    load_detector_checkpoint,
    train_detector,
)
from bleachbench.detectors.tiny import TinyDetector

REPO = Path(__file__).resolve().parents[1]
KW = dict(batch_size=8, lr=1e-2, device="cpu", progress=False)


def faces(n: int, size: int = 32, seed: int = 0) -> FaceSet:
    """Fakes carry bright horizontal stripes: learnable in a few steps by a tiny CNN."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = rng.integers(60, 120, size=(n, size, size, 3)).astype(np.uint8)
    images[labels == 1, ::2] += 100
    manip = np.where(labels == 1, "FaceSwap", "real")
    return FaceSet(images, labels, manip, np.array([f"v{i}" for i in range(n)]))


TRAIN, VAL = faces(48), faces(16, seed=1)


def tiny() -> TinyDetector:
    torch.manual_seed(0)
    return build(DETECTORS, "tiny")


def mean_loss(det: torch.nn.Module, fs: FaceSet) -> float:
    det.eval()
    x, y = fs.tensors(slice(None))
    with torch.no_grad():
        return F.cross_entropy(det(x), y).item()


class _Count(Hook):
    def __init__(self) -> None:
        self.iters = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.iters += 1


class _InterruptAfterFirstEpoch(Hook):
    priority = "LOWEST"  # after the CheckpointHook has saved epoch_1.pth

    def after_train_epoch(self, runner) -> None:
        raise KeyboardInterrupt("simulated interruption")


class _NaNInSecondEpoch(TinyDetector):
    """Healthy for the first epoch, then the logits become NaN."""

    calls = 0

    def forward(self, x):
        if self.training:
            type(self).calls += 1
        out = super().forward(x)
        return out * float("nan") if type(self).calls > 6 else out


def test_training_lowers_the_loss_and_is_cached(tmp_path):
    det = tiny()
    before = mean_loss(det, TRAIN)
    result = train_detector(det, TRAIN, VAL, tmp_path, epochs=2, **KW)
    assert mean_loss(det, TRAIN) < before * 0.7
    assert result["best_val_acc"] > 0.8 and result["epochs"] == 2
    assert result["img_per_s"] > 0 and result["resumed_from_epoch"] == 0
    assert len(result["epoch_img_per_s"]) == 2 and min(result["epoch_img_per_s"]) > 0
    assert Path(result["checkpoint"]).is_file()
    stored = json.loads((tmp_path / "done.json").read_text())
    assert stored["checkpoint"] == "best.pth"  # relative: a moved folder uses its own weights
    assert {**stored, "checkpoint": result["checkpoint"]} == result
    # a second call returns the finished run without training, and loads its best weights
    count, fresh = _Count(), tiny()
    again = train_detector(fresh, TRAIN, VAL, tmp_path, epochs=2, hooks=[count], **KW)
    assert again == result and count.iters == 0
    assert torch.equal(fresh.head.weight, det.head.weight)
    # a moved results folder: done.json's absolute path is gone, the weights beside it are used
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    tmp_path.rename(moved)
    count, fresh = _Count(), tiny()
    there = train_detector(fresh, TRAIN, VAL, moved, epochs=2, hooks=[count], **KW)
    assert count.iters == 0 and there["checkpoint"] == str(moved / Path(result["checkpoint"]).name)
    assert torch.equal(fresh.head.weight, det.head.weight)
    with pytest.raises(ValueError, match="3"):
        train_detector(tiny(), TRAIN, VAL, moved, epochs=3, **KW)


def test_same_seed_same_weights_on_cpu(tmp_path):
    a, b = tiny(), tiny()
    train_detector(a, TRAIN, VAL, tmp_path / "a", epochs=1, seed=3, **KW)
    train_detector(b, TRAIN, VAL, tmp_path / "b", epochs=1, seed=3, **KW)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.are_deterministic_algorithms_enabled()  # restored after training


def test_fused_adamw_is_the_same_update_up_to_rounding(tmp_path):
    a, b = tiny(), tiny()
    train_detector(a, TRAIN, VAL, tmp_path / "loop", epochs=1, seed=3, **KW)
    runner = build_runner(b, TRAIN, VAL, tmp_path / "fused", epochs=1, seed=3, fused_adamw=True, **KW)
    runner.train()
    assert runner.optim_wrapper.optimizer.defaults["fused"] is True
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        if pa.is_floating_point():  # same maths, last-bit rounding apart
            torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5, msg=name)


def test_interrupted_training_resumes_from_its_last_epoch(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_detector(
            tiny(), TRAIN, VAL, tmp_path, epochs=2, hooks=[_InterruptAfterFirstEpoch()], **KW
        )
    assert (tmp_path / "epoch_1.pth").is_file() and not (tmp_path / "done.json").exists()
    count = _Count()
    result = train_detector(tiny(), TRAIN, VAL, tmp_path, epochs=2, hooks=[count], **KW)
    assert result["resumed_from_epoch"] == 1
    assert count.iters == len(TRAIN) // KW["batch_size"]  # one epoch, not two
    assert (tmp_path / "done.json").is_file()


def test_a_resumed_training_ends_exactly_like_an_uninterrupted_one(tmp_path):
    """Killed after epoch 1 of 3 (after epoch_1.pth was saved, before epoch 1's validation),
    then resumed: the same best epoch, the same weights bit for bit. Blur, flips and dropout
    draw random numbers, so this fails unless the random states travel with the checkpoint,
    and it fails unless the resumed epoch is validated."""
    kw = dict(KW, blur_p=0.5)

    def model() -> TinyDetector:
        torch.manual_seed(0)
        return build(DETECTORS, {"type": "tiny", "drop_rate": 0.3})

    a = model()
    whole = train_detector(a, TRAIN, VAL, tmp_path / "a", epochs=3, keep_checkpoints=True, **kw)
    with pytest.raises(KeyboardInterrupt):
        train_detector(model(), TRAIN, VAL, tmp_path / "b", epochs=3,
                       hooks=[_InterruptAfterFirstEpoch()], **kw)
    torch.manual_seed(123)  # whatever the process did in between
    b = model()
    resumed = train_detector(b, TRAIN, VAL, tmp_path / "b", epochs=3, keep_checkpoints=True, **kw)
    assert resumed["resumed_from_epoch"] == 1 and whole["resumed_from_epoch"] == 0
    assert resumed["best_val_acc"] == whole["best_val_acc"]
    best = sorted(p.name for p in (tmp_path / "a").glob("best_val_accuracy_epoch_*.pth"))
    assert sorted(p.name for p in (tmp_path / "b").glob("best_val_accuracy_epoch_*.pth")) == best
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_resume_with_other_epochs_is_an_error(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_detector(
            tiny(), TRAIN, VAL, tmp_path, epochs=2, hooks=[_InterruptAfterFirstEpoch()], **KW
        )
    with pytest.raises(ValueError, match="2-epoch"):
        train_detector(tiny(), TRAIN, VAL, tmp_path, epochs=4, **KW)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    _NaNInSecondEpoch.calls = 0
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2"):
        train_detector(_NaNInSecondEpoch(), TRAIN, VAL, tmp_path, epochs=3, **KW)
    last = Path((tmp_path / "last_checkpoint").read_text().strip())
    assert last.name == "epoch_1.pth" and last.is_file()
    assert not (tmp_path / "done.json").exists()
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_checkpoints_load_safely(tmp_path):
    result = train_detector(tiny(), TRAIN, VAL, tmp_path, epochs=1, keep_checkpoints=True, **KW)
    # best.pth is a plain state_dict: loadable weights-only, like any outside file
    load_detector_checkpoint(tiny(), result["checkpoint"], trusted=False)
    # mmengine's full checkpoint is only for the harness itself
    full = tmp_path / "epoch_1.pth"
    with pytest.raises(UnsafeCheckpointError):
        load_detector_checkpoint(tiny(), full, trusted=False)
    load_detector_checkpoint(tiny(), full, trusted=True)
    # the runner refuses to fully unpickle a checkpoint from outside its work_dir
    outside = tmp_path.parent / f"{tmp_path.name}_outside.pth"
    outside.write_bytes(full.read_bytes())
    runner = build_runner(tiny(), TRAIN, VAL, tmp_path / "other", epochs=1, **KW)
    with pytest.raises(ValueError, match="refusing to resume"):
        runner.load_checkpoint(str(outside))


def test_amp_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        build_runner(tiny(), TRAIN, VAL, Path("unused"), epochs=1, amp=True, **KW)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_more_torchrun_processes_than_gpus_is_a_clear_error(monkeypatch):
    # Seen on a one-GPU H200: rank 1 died inside mmengine's logger (it indexes the GPUs by
    # LOCAL_RANK); the harness now says what to change before mmengine is reached.
    from bench.run.training import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match="nproc-per-node <= the number of GPUs"):
        resolve_device("auto", "pytorch")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert resolve_device("auto", "pytorch") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cpu", "pytorch") == torch.device("cpu")  # gloo on CPUs: any count


def test_two_process_gloo_training(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(REPO / "tests" / "_ddp_worker.py"), str(tmp_path / "work"), str(out),
    ]
    # A guard against a hang, not a speed test: three interpreters import torch and mmengine,
    # beside another pytest worker on a loaded 2-core host (24 s serially under load ~5).
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["checkpoint"] == ranks[1]["checkpoint"]
    assert Path(ranks[0]["checkpoint"]).is_file()
    assert ranks[0]["head"] == ranks[1]["head"]  # DDP kept the replicas identical


def test_random_blur_blurs_the_chosen_images_only():
    from bench.run.training import random_blur

    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32)
    assert torch.equal(random_blur(x, 0.0, (0.5, 1.0)), x)
    y = random_blur(x, 1.0, (0.8, 0.8))
    assert y.shape == x.shape
    assert torch.allclose(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=0.02)
    # a blur lowers the pixel-to-pixel differences of white noise
    assert (y.diff(dim=-1).abs().mean() < 0.6 * x.diff(dim=-1).abs().mean()).item()


def test_random_blur_quantize_rounds_the_blurred_images_to_8_bits():
    from bench.run.training import random_blur

    torch.manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32)).float() / 255
    torch.manual_seed(1)
    plain = random_blur(x, 0.5, (0.8, 0.8))
    torch.manual_seed(1)
    y = random_blur(x, 0.5, (0.8, 0.8), quantize=True)
    assert torch.equal(y * 255, (y * 255).round())  # every image on the 8-bit grid
    assert (y - plain).abs().max().item() <= 0.5 / 255 + 1e-6  # rounding only
    blurred = (plain - x).abs().amax(dim=(1, 2, 3)) > 1e-6
    assert 0 < int(blurred.sum()) < 16
    assert torch.equal(y[~blurred], x[~blurred])  # untouched images stay untouched


def test_a_finished_training_keeps_only_its_best_weights(tmp_path):
    """epoch_N.pth carries the optimiser state (240 MB for Xception): once done.json says the
    training is finished, only best.pth stays, and it is enough to reuse the detector."""
    result = train_detector(tiny(), TRAIN, VAL, tmp_path, epochs=2, **KW)
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["best.pth"]
    assert not (tmp_path / "last_checkpoint").exists()
    again = tiny()
    assert train_detector(again, TRAIN, VAL, tmp_path, epochs=2, **KW) == result
