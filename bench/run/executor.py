"""Spread a grid of run specs over jobs: worker processes on this machine (``--jobs N``), or
submitit jobs (local subprocesses or a Slurm cluster).

``python -m bench run ... --jobs N`` (:func:`run_pool`) runs the grid N tasks at a time in
spawned worker processes, the CPU threads shared out between them: on a CPU, where a small
training does not get faster with more threads, this trains several detectors in the time
of one. A detector group is split into tasks (:func:`split_group`): the first trains the
detector and runs its ``none`` cells; then each method fit is a task of its own, so that one
detector's many fits (``reproduce all``) share the lanes too.

``python -m bench run ... --executor local|slurm`` groups the grid by the detector
checkpoint each spec needs (dataset, manipulation, or all of them under profiles that train
one detector for all, detector, train compression, seed), so that a detector is trained
once, in one job, and the method fits that share it stay in that job's memory. Every job
runs :class:`bench.run.engine.Engine` on its group and writes its records into the shared
results folder, one file per run (written atomically), so the jobs' results merge by
file; a finished run is skipped by any later job or rerun.

Shared state between jobs is safe: the face cache builds once, under a file lock, into a
temporary folder renamed into place; two jobs that need the same detector (a rerun while the first still runs, a
grid split by hand) never both train it: the engine holds a file lock on the checkpoint
folder (:func:`detector_lock`) while it trains or loads it, and the second finds it done.

A killed or preempted job loses only its unfinished run: rerunning the same command skips
the finished records and resumes detector training from its last epoch checkpoint. On
Slurm a job about to reach ``--timeout`` (or preempted) is requeued by submitit with the
same group (:class:`GridJob` is checkpointable), and carries on the same way.

The jobs import this checkout of bleachbench: its root is put first on ``PYTHONPATH``
for them. Job logs go to ``RESULTS/jobs/`` (submitit's folder, ``%j`` the job id).
"""

from __future__ import annotations

import heapq
import math
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.core.config import detector_per_manipulation, method_per_manipulation
from bench.core.spec import RunSpec

EXECUTORS = ("inline", "local", "slurm")


def detector_group(spec: RunSpec, profile: dict[str, Any]) -> tuple:
    """The detector checkpoint ``spec`` needs (the engine's cache key for it)."""
    per_manip = detector_per_manipulation(profile)
    manip = spec.manipulation if per_manip else "all"
    return (spec.dataset, manip, spec.detector, spec.train_compression, spec.seed)


def group_specs(specs: Sequence[RunSpec], profile: dict[str, Any]) -> list[list[RunSpec]]:
    """One list of specs per detector checkpoint, in first-seen order, duplicates dropped."""
    groups: dict[tuple, list[RunSpec]] = defaultdict(list)
    for spec in dict.fromkeys(specs):
        groups[detector_group(spec, profile)].append(spec)
    return list(groups.values())


def fit_group(spec: RunSpec, profile: dict[str, Any]) -> tuple:
    """What a spec's method fit depends on beyond its detector: specs with one key share a fit
    (a superset of the engine's own fit key, which also resolves the method's defaults)."""
    per_manip = method_per_manipulation(profile)
    return (spec.method, spec.method_params, spec.options, spec.method_fit_compression,
            spec.manipulation if per_manip else "all", spec.fit_seed)


def fit_cost(method: str) -> float:
    """A method's ``fit_cost`` scheduling hint (1.0 if it has none or is not registered)."""
    from bench.core.registry import METHODS, resolve

    try:
        return float(getattr(resolve(METHODS, method), "fit_cost", 1.0))
    except Exception:  # noqa: BLE001 - an unknown name fails in its task, with its own error
        return 1.0


class TaskQueue:
    """The order of ``run --jobs``'s tasks (:func:`split_group`'s lists, by group): every
    group's training task first, in the grid's order; a group's fits once its training has
    finished, the longest first by their method's ``fit_cost`` (longest-processing-time
    first, which keeps lanes from idling at the end)."""

    def __init__(self, groups: Sequence[Sequence[Sequence[RunSpec]]]) -> None:
        self.groups = groups
        self._heap: list[tuple[float, int, int, int]] = []  # (-cost, order, group, task)
        self._order = 0
        for g in range(len(groups)):
            self._push(math.inf, g, 0)

    def _push(self, cost: float, group: int, task: int) -> None:
        heapq.heappush(self._heap, (-cost, self._order, group, task))
        self._order += 1

    def __bool__(self) -> bool:
        return bool(self._heap)

    def pop(self) -> tuple[int, int]:
        """The next task to run: ``(group, task)``."""
        _, _, group, task = heapq.heappop(self._heap)
        return group, task

    def finished(self, group: int, task: int, ok: bool) -> list[int]:
        """Record a finished task; return the tasks dropped because a training failed."""
        if task != 0:
            return []
        fits = range(1, len(self.groups[group]))
        if not ok:
            return list(fits)
        for k in fits:
            self._push(fit_cost(self.groups[group][k][0].method), group, k)
        return []


def split_group(group: Sequence[RunSpec], profile: dict[str, Any]) -> list[list[RunSpec]]:
    """A detector group as tasks: first the specs of method ``none`` (the task that trains or
    loads the detector; the first fit's specs if there is no ``none``), then one task per
    method fit, in first-seen order. The other tasks need the first's detector, never each
    other's work: a fit and every cell it predicts stay in one task, and so do the ``none``
    cells whose predictions it makes anyway (:func:`bench.run.engine.frozen_pass_cells`)."""
    from bench.run.engine import frozen_pass_cells

    fits: dict[tuple, list[RunSpec]] = defaultdict(list)
    plain: list[RunSpec] = []
    # A `none` cell that a fit's own frozen pass predicts (the bleach's) goes with that fit:
    # in one process its numbers are taken from that pass, not computed again.
    follows = frozen_pass_cells(group)
    for spec in group:
        if spec in follows:
            continue
        (plain if spec.method == "none" else fits[fit_group(spec, profile)]).append(spec)
    for spec, source in follows.items():
        fits[fit_group(source, profile)].append(spec)
    tasks = list(fits.values())
    return [plain, *tasks] if plain else tasks


_FORK_HOOK = False


def _default_sigterm_in_forked_children() -> None:
    """submitit's job process ignores SIGTERM (it waits for Slurm's requeue signal); a forked
    worker (the face cache's and synthetic data's process pools) would inherit that and never
    end when its pool terminates it, hanging the job. Children get the default back."""
    global _FORK_HOOK
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        _FORK_HOOK = True


class GridJob:
    """One job: run a group of specs with an :class:`~bench.run.engine.Engine` (checkpointable:
    submitit requeues it on Slurm timeout or preemption, and the engine skips what is done)."""

    def __init__(self, profile: dict[str, Any], results: str, device: str = "auto",
                 force: bool = False, progress: bool = False) -> None:
        self.profile, self.results, self.device = profile, results, device
        self.force, self.progress = force, progress

    def __call__(self, specs: list[RunSpec]) -> dict[str, Any]:
        from bench.run.engine import Engine

        _default_sigterm_in_forked_children()
        engine = Engine(self.profile, self.results, self.device, progress=self.progress)
        summary = engine.run(specs, force=self.force)
        return {"ran": list(summary.ran), "skipped": list(summary.skipped),
                "stages": dict(summary.stages), "cached": dict(summary.cached)}

    def checkpoint(self, specs: list[RunSpec]) -> Any:
        """submitit's hook on timeout/preemption: requeue the same group (without ``force``,
        so that the runs this job finished are not redone)."""
        from submitit.helpers import DelayedSubmission

        again = GridJob(self.profile, self.results, self.device, False, self.progress)
        return DelayedSubmission(again, specs)


def make_executor(kind: str, folder: Path, *, partition: str | None = None,
                  gpus_per_job: int = 0, timeout_min: int = 240, cpus_per_job: int | None = None,
                  name: str = "bleachbench") -> Any:
    """A submitit executor: ``local`` (subprocesses on this machine) or ``slurm``."""
    import submitit

    if kind not in ("local", "slurm"):
        raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if kind == "slurm" and not partition:
        raise ValueError("--executor slurm needs --slurm-partition NAME")
    cluster = "local" if kind == "local" else "slurm"
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)
    params: dict[str, Any] = {"timeout_min": int(timeout_min), "gpus_per_node": int(gpus_per_job),
                              "tasks_per_node": 1, "name": name}
    if cpus_per_job:
        params["cpus_per_task"] = int(cpus_per_job)
    if kind == "slurm":
        params["slurm_partition"] = partition
    executor.update_parameters(**params)
    return executor


@contextmanager
def _this_checkout_on_pythonpath() -> Iterator[None]:
    """Jobs (fresh interpreters) import this checkout of bench, not another installed one."""
    root = str(Path(__file__).resolve().parents[2])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *([old] if old else [])])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def submit_grid(specs: Sequence[RunSpec], profile: dict[str, Any], results: Path, *,
                executor: str = "local", device: str = "auto", force: bool = False,
                partition: str | None = None, gpus_per_job: int = 0, timeout_min: int = 240,
                cpus_per_job: int | None = None, groups: list[list[RunSpec]] | None = None) -> list[Any]:
    """Submit one job per detector group (or the given ``groups``); return submitit's jobs."""
    results = Path(results).resolve()
    groups = groups if groups is not None else group_specs(specs, profile)
    ex = make_executor(executor, results / "jobs", partition=partition, gpus_per_job=gpus_per_job,
                       timeout_min=timeout_min, cpus_per_job=cpus_per_job)
    job = GridJob(profile, str(results), device, force)
    with _this_checkout_on_pythonpath(), ex.batch():
        jobs = [ex.submit(job, group) for group in groups]
    return jobs


def _new_summary() -> dict[str, Any]:
    return {"ran": [], "skipped": [], "stages": defaultdict(float), "cached": defaultdict(int),
            "failed": []}


def _absorb(merged: dict[str, Any], out: dict[str, Any]) -> None:
    """Add one job's summary (:class:`GridJob`'s return) to ``merged``."""
    merged["ran"] += out["ran"]
    merged["skipped"] += out["skipped"]
    for k, v in out["stages"].items():
        merged["stages"][k] += v
    for k, v in out["cached"].items():
        merged["cached"][k] += v


def _failure(job: str, exc: BaseException, log: str) -> dict[str, str]:
    """A failed job as the summary lists it; ``kind`` "input" for bad input
    (:func:`~bench.core.errors.input_errors`: the command exits 2, as without ``--jobs``), else
    "crash"."""
    from bench.core.errors import input_errors

    last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
    return {"job": job, "error": last[0], "log": log,
            "kind": "input" if isinstance(exc, input_errors()) else "crash"}


def _finished(merged: dict[str, Any]) -> dict[str, Any]:
    merged["stages"], merged["cached"] = dict(merged["stages"]), dict(merged["cached"])
    return merged


def threads_per_job(jobs: int, total: int | None = None) -> int:
    """CPU threads each of ``jobs`` concurrent processes gets: ``total`` (default: torch's
    intra-op threads here, i.e. the cores or ``OMP_NUM_THREADS``) shared out, at least one."""
    if total is None:
        import torch

        total = torch.get_num_threads()
    return max(1, int(total) // max(1, int(jobs)))


def exit_when_orphaned(parent: int, poll_s: float = 2.0, exit_: Any = os._exit) -> Any:
    """Start a daemon thread that ends this process once ``parent`` is no longer its parent
    (the ``run --jobs`` command was killed): a worker would otherwise train on, unseen."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        exit_(1)

    thread = threading.Thread(target=watch, name="exit-when-orphaned", daemon=True)
    thread.start()
    return thread


def _pool_init(threads: int, plugins: Sequence[str], parent: int | None = None) -> None:
    """A ``--jobs`` worker: its share of the CPU threads, the user's plug-ins registered, and
    an end of its own if the command that started it is killed."""
    import warnings

    import torch

    from bench.core.registry import load_plugins

    # mmengine's Runner sets the start method of this worker's own children to fork, and warns
    # that it differs from the spawn this worker was started with: expected here, not a problem
    # (the face cache picks its own start method; quick-profile loaders use no workers).
    warnings.filterwarnings("ignore", message="Multi-processing start method")
    if parent is not None:
        exit_when_orphaned(parent)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already fixed in this process
        pass
    load_plugins(plugins)


def _pool_task(profile: dict[str, Any], results: str, device: str, force: bool,
               specs: list[RunSpec], follow_up: bool = False) -> dict[str, Any]:
    import torch

    out = GridJob(profile, results, device, force)(specs)
    if follow_up:  # its detector was trained (or counted as reused) by its group's first task
        out["cached"].pop("detectors", None)
    return {**out, "threads": torch.get_num_threads(), "pid": os.getpid()}


def run_pool(specs: Sequence[RunSpec], profile: dict[str, Any], results: Path, jobs: int, *,
             device: str = "auto", force: bool = False, plugins: Sequence[str] = (),
             progress: bool = True, threads: int | None = None) -> dict[str, Any]:
    """Run a grid ``jobs`` tasks at a time in worker processes on this machine (``run --jobs
    N``), each with ``threads`` CPU threads (default: this process's threads divided by
    ``jobs``); the summary has :func:`wait`'s shape.

    Why: on a CPU a small (64 px) training does not scale with threads. Measured on the
    2-core machine: one Xception training took about as long with two threads as with one
    beside another job. Two detectors at one thread each finish in about half the time of
    one after the other at two. The runs compute the same thing; the weights follow the
    thread count to the last bit, as with any change of threads (the records say
    ``facts.torch_threads``).

    Tasks (:func:`split_group`): every detector group's first task (its training and its
    ``none`` cells, usually the longest work) is queued first; when it finishes, the group's
    method fits are queued, one task each, the longest first by their method's ``fit_cost``
    hint, so that no detector is trained twice and no lane waits on another's training. Face
    caches are built once, under a file lock, by whichever worker needs them first. Workers
    are spawned, not forked (a forked torch with live OpenMP threads can hang). A failed task
    is reported in ``failed`` (a failed first task also reports its group's fits as not run)
    and the other tasks' records still count.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
    from concurrent.futures import wait as wait_futures

    from tqdm.auto import tqdm

    groups = [split_group(g, profile) for g in group_specs(specs, profile)]
    n_tasks = sum(len(g) for g in groups)
    jobs = max(1, min(int(jobs), n_tasks))
    threads = threads or threads_per_job(jobs)
    merged = _new_summary()
    if not groups:
        return _finished(merged)
    print(f"{len(groups)} detector group(s), {jobs} at a time, {threads} thread(s) each; "
          f"{n_tasks} task(s): a training each, then one per method fit", flush=True)
    bar = tqdm(total=n_tasks, desc="tasks", unit="task", disable=not progress)

    def name(task: list[RunSpec], first: bool) -> str:
        head = f"{task[0].detector} seed {task[0].seed}"
        return head if first else f"{head} {task[0].method}"

    queue = TaskQueue(groups)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                             initializer=_pool_init,
                             initargs=(threads, tuple(plugins), os.getpid())) as pool:
        running: dict[Any, tuple[int, int]] = {}
        while queue or running:
            while queue and len(running) < jobs:
                g, t = queue.pop()
                running[pool.submit(_pool_task, profile, str(Path(results).resolve()), device,
                                    force, groups[g][t], t > 0)] = (g, t)
            done, _ = wait_futures(running, return_when=FIRST_COMPLETED)
            for fut in done:
                g, t = running.pop(fut)
                bar.update(1)
                try:
                    _absorb(merged, fut.result())
                except Exception as exc:  # noqa: BLE001 - a task's failure is reported, not raised
                    merged["failed"].append(_failure(name(groups[g][t], t == 0), exc,
                                                     "the output above"))
                    for k in queue.finished(g, t, ok=False):  # its fits need its detector
                        bar.update(1)
                        merged["failed"].append({"job": name(groups[g][k], False), "log": "",
                                                 "error": "not run: its detector's task failed"})
                    continue
                queue.finished(g, t, ok=True)
    bar.close()
    return _finished(merged)


def wait(jobs: Sequence[Any], progress: bool = True, poll_s: float = 2.0) -> dict[str, Any]:
    """Wait for every job; merge their summaries. A failed job is reported, not raised, so
    the others' records still count; ``failed`` lists them with their error's last line."""
    from tqdm.auto import tqdm

    merged = _new_summary()
    pending = list(jobs)
    bar = tqdm(total=len(pending), desc="jobs", unit="job", disable=not progress)
    while pending:
        for job in [j for j in pending if j.done()]:
            pending.remove(job)
            bar.update(1)
            try:
                _absorb(merged, job.result())
            except Exception as exc:  # noqa: BLE001 - a job's failure is reported with its id
                merged["failed"].append(_failure(str(job.job_id), exc, str(job.paths.stderr)))
        if pending:
            time.sleep(poll_s)
    bar.close()
    return _finished(merged)
