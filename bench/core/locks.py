"""File locks that keep concurrent jobs from doing the same work twice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, waiting: str, poll_s: float = 1.0) -> Iterator[None]:
    """Hold the OS file lock ``path`` (released if the holder dies); print ``waiting`` when
    another process holds it. A lock file that cannot be opened (a folder in its place, no
    permission) is a :class:`~bench.core.files.CorruptFileError` naming it."""
    from filelock import FileLock, Timeout

    from bench.core.files import corrupt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(waiting, flush=True)
            lock.acquire(poll_interval=poll_s)
    except OSError as exc:
        raise corrupt("lock file", path, exc, "delete it (no bleachbench job may be running "
                      "on this results folder) and run again") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def detector_lock(work_dir: Path, poll_s: float = 1.0) -> Iterator[None]:
    """Hold ``<work_dir>.lock`` (an OS file lock, released if the holder dies) while a detector
    is trained or loaded, so that concurrent jobs never train the same one twice."""
    work_dir = Path(work_dir)
    with file_lock(Path(str(work_dir) + ".lock"),
                   f"waiting for another job that trains {work_dir.name} ...", poll_s):
        yield


@contextmanager
def run_lock(path: Path, poll_s: float = 0.5) -> Iterator[None]:
    """Hold ``<path>.lock`` while one run (its method fit, evaluation and record) is made, so
    that a second process with the same run waits for the first's record and reuses it
    instead of doing the same work again (:meth:`bench.run.engine.Engine.run_one`)."""
    path = Path(path)
    with file_lock(Path(str(path) + ".lock"),
                   f"waiting for another process that makes run {path.name} ...", poll_s):
        yield
