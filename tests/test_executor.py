"""Sweeps as jobs (bench/run/executor.py): one job per detector group, records merged by file in the
shared results folder, a detector never trained twice, and a killed run finished by its rerun.
The job tests use submitit's local executor: real subprocess jobs, on the smoke profile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.locks import detector_lock
from bench.core.profiles import get_profile
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.run.executor import (
    TaskQueue,
    group_specs,
    run_pool,
    split_group,
    submit_grid,
    threads_per_job,
    wait,
)

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["--detector", "tiny", "--profile", "smoke", "--manipulation", "FaceSwap", "--quiet"]


def _spec(detector: str, manipulation: str, method: str = "none", seed: int = 0) -> RunSpec:
    return RunSpec(dataset="synthetic", manipulation=manipulation, detector=detector,
                   train_compression="c23", test_compression="c40", method=method,
                   profile="smoke", seed=seed)


def test_one_group_per_detector_checkpoint():
    specs = [_spec(d, m, meth) for d in ("xception", "resnet50") for m in ("FaceSwap", "Face2Face")
             for meth in ("none", "pixel_bleach")]
    shared = get_profile("smoke")  # one detector for all manipulations
    assert [len(g) for g in group_specs(specs, shared)] == [4, 4]
    per_manip = {**shared, "detector_per_manipulation": True}
    groups = group_specs(specs + specs[:2], per_manip)  # duplicates are dropped
    assert [len(g) for g in groups] == [2, 2, 2, 2]
    assert all(len({(s.detector, s.manipulation) for s in g}) == 1 for g in groups)


def test_a_group_splits_into_its_training_then_one_task_per_method_fit():
    from dataclasses import replace

    bleach = [_spec("xception", m, "pixel_bleach") for m in ("FaceSwap", "Face2Face")]
    web = replace(bleach[0], test_compression="web_facebook", fit_compression="c40")  # same fit
    other_fit = replace(bleach[0], fit_compression="c23")
    none = [_spec("xception", m) for m in ("FaceSwap", "Face2Face")]
    threshold = _spec("xception", "FaceSwap", "threshold")
    shared = get_profile("smoke")  # one fit for all manipulations
    none_c23 = replace(none[0], test_compression="c23")
    tasks = split_group([*bleach, none[0], web, threshold, other_fit, none[1], none_c23], shared)
    # The c40 `none` cells go with the bleach, whose frozen pass predicts them anyway.
    assert tasks == [[none_c23], [*bleach, web, *none], [threshold], [other_fit]]
    assert split_group([*none, threshold], shared) == [none, [threshold]]  # no bleach: as before
    per_manip = {**shared, "method_per_manipulation": True}
    assert split_group(bleach, per_manip) == [[bleach[0]], [bleach[1]]]  # no none: fits only


def test_trainings_run_first_then_each_trained_detectors_fits_longest_first():
    def group(detector: str) -> list[list[RunSpec]]:
        return [[_spec(detector, "FaceSwap", m)] for m in
                ("none", "pixel_bleach", "mixed_training", "threshold", "lq_finetune")]

    queue = TaskQueue([group("xception"), group("resnet50"), group("f3net")])
    assert [queue.pop(), queue.pop()] == [(0, 0), (1, 0)]  # two lanes: two trainings
    queue.finished(1, 0, ok=True)  # resnet50 trained: its fits queue behind f3net's training
    assert queue.pop() == (2, 0)
    assert [queue.pop(), queue.pop()] == [(1, 2), (1, 4)]  # mixed_training, then lq_finetune
    queue.finished(0, 0, ok=False)  # xception's training failed: its fits are dropped
    assert queue.finished(2, 0, ok=False) == [1, 2, 3, 4]
    assert [queue.pop(), queue.pop()] == [(1, 1), (1, 3)]  # the bleach and the threshold: ties
    assert not queue                                        # keep the grid's order


def test_two_processes_one_trains(tmp_path):
    """The lock primitive: both processes want the same checkpoint folder at once."""
    work = tmp_path / "ckpt" / "tiny_c23_all_seed0_48px"
    code = (
        "import sys, time, pathlib\n"
        "from bench.core.locks import detector_lock\n"
        "work = pathlib.Path(sys.argv[1])\n"
        "with detector_lock(work, poll_s=0.05):\n"
        "    if not (work / 'done.json').exists():\n"
        "        time.sleep(1.5)\n"
        "        work.mkdir(parents=True, exist_ok=True)\n"
        "        (work / 'done.json').write_text('{}')\n"
        "        print('trained')\n"
        "    else:\n"
        "        print('cached')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(work)], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = sorted(p.communicate(timeout=60)[0].strip().splitlines()[-1] for p in procs)
    assert outs == ["cached", "trained"]


def test_lock_is_released_when_its_holder_dies(tmp_path):
    work = tmp_path / "w"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom bench.core.locks import detector_lock\n"
         "with detector_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)",
         str(work)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    start = time.perf_counter()
    with detector_lock(work, poll_s=0.05):
        pass
    assert time.perf_counter() - start < 10


@pytest.mark.slow
def test_two_jobs_needing_one_detector_train_it_once(tmp_path):
    specs = [_spec("tiny", "FaceSwap", "none"), _spec("tiny", "FaceSwap", "threshold")]
    profile = get_profile("smoke")
    jobs = submit_grid(specs, profile, tmp_path, executor="local", device="cpu",
                       groups=[[specs[0]], [specs[1]]])  # split by hand: both need the detector
    merged = wait(jobs, progress=False, poll_s=0.2)
    assert merged["failed"] == [], merged["failed"]
    assert sorted(merged["ran"]) == sorted(s.run_id for s in specs)
    assert merged["cached"].get("detectors", 0) == 1  # the other job found it trained
    logs = list((tmp_path / "checkpoints").rglob("*.log"))
    assert len(logs) == 1, logs  # one mmengine training run on disk
    assert len(list(ResultsStore(tmp_path).records())) == 2


@pytest.mark.slow
def test_a_killed_run_is_finished_by_its_rerun(tmp_path):
    args = ["run", "--method", "pixel_bleach", *SMOKE, "--results", str(tmp_path),
            "--executor", "local", "--device", "cpu"]
    first = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # its job subprocesses share its group
    runs = tmp_path / "runs"
    deadline = time.time() + 240
    while not list(runs.glob("*.json")) and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the submitting command and its job, mid-grid
    first.wait()
    at_kill = {p.name for p in runs.glob("*.json")}
    assert at_kill, "no run finished before the kill"

    assert main(args) == 0
    records = {p.name for p in runs.glob("*.json")}
    assert at_kill < records  # the kill left runs to do, and the rerun did them
    methods = {json.loads((runs / n).read_text())["spec"]["method"] for n in records}
    assert methods == {"none", "pixel_bleach"}
    assert (tmp_path / "tables" / "main.md").is_file()


def test_threads_are_shared_out_between_jobs():
    assert threads_per_job(2, total=2) == 1
    assert threads_per_job(2, total=8) == 4
    assert threads_per_job(4, total=2) == 1  # never below one
    assert threads_per_job(1, total=3) == 3


@pytest.mark.slow
def test_jobs_train_groups_in_parallel_with_the_numbers_of_one_thread_inline(tmp_path):
    """`run --jobs 2`: two detector groups (seeds 0 and 1), each a training task then a fit
    task, in two worker processes at one thread each give the very probabilities of the same
    runs inline at one thread, and each detector is trained once."""
    import numpy as np
    import torch

    from bench.run.engine import Engine

    specs = [_spec("tiny", "FaceSwap", m, seed) for seed in (0, 1) for m in ("none", "threshold")]
    profile = get_profile("smoke")
    merged = run_pool(specs, profile, tmp_path / "pool", 2, device="cpu", progress=False,
                      threads=1)
    assert merged["failed"] == [], merged["failed"]
    assert sorted(merged["ran"]) == sorted(s.run_id for s in specs)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Engine(profile, tmp_path / "inline", "cpu", progress=False).run(specs)
    finally:
        torch.set_num_threads(before)
    pool, inline = ResultsStore(tmp_path / "pool"), ResultsStore(tmp_path / "inline")
    for spec in specs:
        rec = pool.read(spec)
        assert rec is not None and rec["facts"]["torch_threads"] == 1
        np.testing.assert_array_equal(pool.arrays(spec)["prob"], inline.arrays(spec)["prob"])
    assert len(list((tmp_path / "pool" / "checkpoints").rglob("done.json"))) == 2


def test_jobs_on_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--jobs", "zero", *SMOKE, "--results", str(tmp_path)])
    assert "--jobs" in capsys.readouterr().err
    from bench.cli import resolve_jobs

    assert resolve_jobs("auto", "cpu") == (os.cpu_count() or 1)
    assert resolve_jobs("auto", "cuda:0") == 1
    assert resolve_jobs("3") == 3


@pytest.mark.slow
def test_a_failed_group_is_reported_and_the_others_records_kept(tmp_path):
    good = _spec("tiny", "FaceSwap", "none")
    bad = _spec("no_such_detector", "FaceSwap", "none")
    bad_fit = _spec("no_such_detector", "FaceSwap", "threshold")
    merged = run_pool([bad, bad_fit, good], get_profile("smoke"), tmp_path, 2, device="cpu",
                      progress=False, threads=1)
    assert merged["ran"] == [good.run_id]
    assert [f["job"] for f in merged["failed"]] == ["no_such_detector seed 0",
                                                    "no_such_detector seed 0 threshold"]
    assert "no_such_detector" in merged["failed"][0]["error"]
    assert merged["failed"][1]["error"] == "not run: its detector's task failed"
    assert ResultsStore(tmp_path).exists(good)


def test_a_pool_worker_ends_when_its_command_is_killed():
    """The watchdog of `run --jobs` workers: once the parent is gone, the worker exits."""
    import threading

    from bench.run.executor import exit_when_orphaned

    ended = threading.Event()
    exit_when_orphaned(os.getppid(), poll_s=0.01, exit_=lambda code: ended.set())
    assert not ended.wait(0.2)  # our parent is alive: nothing happens
    exit_when_orphaned(-1, poll_s=0.01, exit_=lambda code: ended.set())  # not our parent
    assert ended.wait(5)


@pytest.mark.slow
def test_run_with_jobs_through_the_command_line(tmp_path, capsys):
    args = ["run", "--method", "none", *SMOKE, "--seeds", "0,1", "--jobs", "2", "--device", "cpu",
            "--results", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 detector group(s), 2 at a time" in out and "ran 4 run(s)" in out
    assert len(list(ResultsStore(tmp_path).records())) == 4
