"""Corrupt files named, a full disk refused or reported in one line, stale temps swept, one
worker per run (issue 31 items 3, 4 and 6); no disk is filled: ENOSPC is monkeypatched."""

import errno
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.core import files
from bench.core.errors import UserError
from bench.core.files import (
    CorruptFileError,
    DiskFullError,
    check_free_space,
    disk_guard,
    sweep_stale_temps,
)
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore, atomic_write_bytes

SPEC = RunSpec(dataset="synthetic", manipulation="FaceSwap", detector="tiny", method="none",
               profile="smoke")


def test_errors_are_user_errors_and_pickle():
    import pickle

    err = files.corrupt("checkpoint", "/r/best.pth", "truncated", "delete it")
    assert isinstance(err, UserError) and str(err) == "corrupt checkpoint /r/best.pth: truncated; delete it"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.path == Path("/r/best.pth")


def test_the_disk_check_refuses_naming_folder_needed_and_free(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "free_bytes", lambda folder: 5_000_000)
    check_free_space(tmp_path, 4_000_000)
    with pytest.raises(DiskFullError) as info:
        check_free_space(tmp_path, 80_000_000, "face caches 80.0 MB")
    text = str(info.value)
    assert str(tmp_path) in text and "80.0 MB" in text and "5.0 MB free" in text
    assert "\n" not in text


def test_the_estimate_of_a_smoke_plan(tmp_path):
    from bench.core.profiles import get_profile
    from bench.run.engine import Engine

    engine = Engine(get_profile("smoke"), tmp_path / "r", progress=False)
    specs = [RunSpec(dataset="synthetic", manipulation="FaceSwap", detector="tiny", method=m,
                     profile="smoke", test_compression=c)
             for m, c in (("none", "c23"), ("none", "c40"), ("pixel_bleach", "c40"))]
    est = engine.disk_estimate(specs)
    size = engine.image_size("tiny")
    per_face = size * size * 3
    assert est["faces"] > 0 and est["faces"] % per_face == 0  # n faces x size^2 x 3 per cache
    import torch  # noqa: F401

    from bench.core.registry import DETECTORS, build
    n_params = sum(p.numel() for p in build(DETECTORS, {"type": "tiny"}).parameters())
    assert est["checkpoints"] == n_params * 4 * Engine.CHECKPOINT_COPIES  # one detector
    assert est["records"] >= 3 * Engine.RECORD_BYTES
    assert est["total"] >= est["faces"] + est["checkpoints"] + est["records"]


def test_a_run_short_of_disk_is_refused_before_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(files, "free_bytes", lambda folder: 1000)
    root = tmp_path / "r"
    code = main(["run", "--method", "none", "--detector", "tiny", "--profile", "smoke",
                 "--manipulation", "FaceSwap", "--results", str(root), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "not enough disk" in err and str(root) in err and "1.0 KB free" in err
    assert not (root / "checkpoints").exists() and not (root / "runs").exists()


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 RuntimeError("[enforce fail at inline_container.cc:672] . "
                                              "unexpected pos 1234 vs 1200")])
def test_enospc_anywhere_becomes_one_line_and_no_half_file(tmp_path, monkeypatch, exc):
    def full(fd):
        raise exc

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError) as info, disk_guard(tmp_path, 123_000_000):
        atomic_write_bytes(tmp_path / "runs" / "x.npz", b"0" * 1000)
    text = str(info.value)
    assert str(tmp_path) in text and "123.0 MB" in text and "\n" not in text
    assert list((tmp_path / "runs").iterdir()) == []  # no temp, no half-written file


def test_other_errors_pass_through_the_disk_guard(tmp_path):
    with pytest.raises(OSError), disk_guard(tmp_path):
        raise OSError(errno.EACCES, "denied")


def test_a_full_disk_while_exporting_weights_leaves_no_temp(tmp_path, monkeypatch):
    import torch

    from bench.run import training

    ckpt = tmp_path / "best_val_accuracy_epoch_1.pth"
    torch.save({"state_dict": {"detector.w": torch.zeros(3)}}, ckpt)

    def full(obj, path, *a, **k):
        Path(path).write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DiskFullError), disk_guard(tmp_path):
        training._export_best(str(ckpt), tmp_path / "best.pth", {"checkpoint": "x", "epochs": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.name]


def test_mmengine_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    """HarnessRunner.save_checkpoint writes a temp name and renames; a failed save leaves none."""
    from mmengine.runner import Runner

    from bench.run.training import HarnessRunner

    def fake_save(self, out_dir, filename, *a, **k):
        (Path(out_dir) / filename).write_bytes(b"checkpoint")
        if filename.startswith(".epoch_2"):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Runner, "save_checkpoint", fake_save)
    runner = object.__new__(HarnessRunner)
    HarnessRunner.save_checkpoint(runner, str(tmp_path), "epoch_1.pth")
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_1.pth"]
    with pytest.raises(OSError):
        HarnessRunner.save_checkpoint(runner, str(tmp_path), "epoch_2.pth")
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_1.pth"]


def test_stale_temps_are_swept_fresh_ones_kept(tmp_path):
    old = [tmp_path / "runs" / ".a.json.x1.tmp", tmp_path / "runs" / ".a.npz.x2.tmp",
           tmp_path / "cache" / "faces" / "s" / "b.tmp", tmp_path / "work" / "w" / "arrays.npz.tmp.npz"]
    fresh = tmp_path / "runs" / ".c.npz.x3.tmp"
    keep = tmp_path / "runs" / "a.json"
    for p in [*old, fresh, keep]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    for p in [*old, keep]:
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    removed = sweep_stale_temps(tmp_path, before=time.time())
    assert sorted(removed) == sorted(old)
    assert fresh.exists() and keep.exists()


def test_a_corrupt_npz_is_named_and_force_says_it_replaces_it(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    arrays = {"prob": np.zeros(2), "label": np.zeros(2), "video": np.array(["a", "b"])}
    store.write(SPEC, {"frame": {}}, arrays=arrays)
    assert store.check_arrays_file(SPEC)
    path = store.arrays_path(SPEC)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CorruptFileError, match=f"corrupt per-face arrays {path}.*--force"):
        store.check_arrays_file(SPEC)
    with pytest.raises(CorruptFileError, match=str(path)):
        store.arrays(SPEC)


def test_a_truncated_face_cache_is_named(tmp_path):
    from bleachbench.datasets.face_cache import ARRAYS, open_cache

    cache = tmp_path / "all_c23_train"
    cache.mkdir()
    n = 4
    np.save(cache / "images.npy", np.zeros((n, 8, 8, 3), np.uint8))
    for name in ARRAYS[1:]:
        np.save(cache / f"{name}.npy", np.zeros(n, np.int64))
    (cache / "manifest.json").write_text(json.dumps({"counts": {"faces": n}}))
    assert len(open_cache(cache)) == n
    images = cache / "images.npy"
    images.write_bytes(images.read_bytes()[:-50])
    with pytest.raises(CorruptFileError, match=f"corrupt face cache {images}.*delete the folder"):
        open_cache(cache)


def test_a_corrupt_checkpoint_is_named(tmp_path):
    import torch

    from bench.core.registry import DETECTORS, build
    from bench.run.training import load_detector_checkpoint

    model = build(DETECTORS, {"type": "tiny"})
    path = tmp_path / "w" / "best.pth"
    path.parent.mkdir()
    torch.save({"state_dict": model.state_dict()}, path)
    load_detector_checkpoint(model, path, trusted=True)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match=f"corrupt checkpoint {path}.*delete the folder"):
        load_detector_checkpoint(model, path, trusted=True)


def test_a_corrupt_lock_file_is_named(tmp_path):
    from bench.core.locks import detector_lock, run_lock

    (tmp_path / "det.lock").mkdir()  # a folder where the lock file should be
    with pytest.raises(CorruptFileError, match=f"corrupt lock file {tmp_path / 'det.lock'}"):
        with detector_lock(tmp_path / "det"):
            pass
    with run_lock(tmp_path / "run"):  # a sound one works
        pass


def test_a_second_worker_waits_for_and_reuses_the_first_ones_record(tmp_path):
    """Two engines (as two processes would) make the same run: one fits, the other reuses."""
    from bench.core.profiles import get_profile
    from bench.run.engine import Engine

    made = []

    def fake_run_one(engine, spec):
        made.append(spec.run_id)
        time.sleep(0.5)  # the other waits on the lock meanwhile
        return engine.store.write(spec, {"frame": {}}, arrays={
            "prob": np.zeros(1), "label": np.zeros(1), "video": np.array(["a"])})

    engines = [Engine(get_profile("smoke"), tmp_path, progress=False) for _ in range(2)]
    out = [None, None]

    def work(i):
        engines[i]._run_one = lambda spec: fake_run_one(engines[i], spec)
        out[i] = engines[i].run_one(SPEC)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert made == [SPEC.run_id]  # made once
    assert out[0] is not None and out[1] is None  # the second reused it
