"""Suite-wide settings: the tests run in parallel, and each starts from a fresh interpreter's state.

Parallel: with pytest-xdist installed (the dev extra), ``pytest`` runs on one worker process per
CPU (at most ``MAX_WORKERS``; one file alone runs in this process), ``--dist loadfile``: each test file runs whole, in its own order,
on one worker, so a module-scoped fixture is built once. ``-n N`` picks the count, ``-n 0`` or
``-p no:xdist`` runs in this process (``--pdb`` does too). Set here rather than in ``addopts`` so
that ``-p no:xdist`` works and a venv without xdist still runs the suite.

- Not ``loadgroup``: pytest 9.2 ignores the node-id suffix xdist 3.8 groups by
  (pytest-dev/pytest-xdist#1386), so ``xdist_group`` marks are silently not honoured.
- The files holding ``slow``-marked tests are handed out first: a long test started last would
  leave the other workers idle while it finishes.
- Each worker's torch gets its share of the cores (``OMP_NUM_THREADS``, also seen by the
  subprocesses the tests start), not one thread per core in every worker.
- Every test ends by putting back the torch state a run may leave behind (flush-to-zero, the
  thread count): which files share a worker process varies from run to run.
"""

from __future__ import annotations

import os
import sys

import pytest

MAX_WORKERS = 4  # each worker holds torch and a model or two; the slow files bound the rest


def _share_the_cores_out() -> None:
    """A worker's torch (and the subprocesses its tests start) uses its share of the cores.

    torch's default is one thread per core in every process: two workers on two cores then run
    four spinning OpenMP threads, and a sample of the suite took 2.4x the CPU time of one thread
    per worker (pixel_bleach, remedies, detectors, methods: 216 s against 90 s). An
    ``OMP_NUM_THREADS`` the user set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if not os.environ.get("PYTEST_XDIST_WORKER") or workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read when torch is first imported
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


_share_the_cores_out()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    opt = config.option
    if (not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput")
            or os.environ.get("PYTEST_XDIST_WORKER")):
        return
    files = {str(arg).split("::")[0] for arg in config.args}
    one_file = len(files) == 1 and files.pop().endswith(".py")  # a second worker would idle
    if opt.numprocesses is None and not one_file and not getattr(opt, "benchmark_only", False):
        opt.numprocesses = "auto"  # (pytest-benchmark measures nothing under xdist)
        opt.maxprocesses = opt.maxprocesses or MAX_WORKERS
    if opt.numprocesses and opt.dist == "no":  # also for -n N without --dist
        opt.dist = "loadfile"
        opt.loadscopereorder = False  # xdist would order the files by their number of tests


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # a serial run keeps the files' order
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file keeps its order


@pytest.fixture(autouse=True)
def _torch_state_as_found():
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is None:
        return
    # bench.run.engine.Engine turns flush-to-zero on for its runs (profile key flush_denormal);
    # a fresh interpreter has it off, and hypothesis refuses to draw floats while it is on.
    torch.set_flush_denormal(False)
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
