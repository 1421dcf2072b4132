"""File locks that keep concurrent jobs from doing the same work twice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def detector_lock(work_dir: Path, poll_s: float = 1.0) -> Iterator[None]:
    """Hold ``<work_dir>.lock`` (an OS file lock, released if the holder dies) while a detector
    is trained or loaded, so that concurrent jobs never train the same one twice."""
    from filelock import FileLock, Timeout

    work_dir = Path(work_dir)
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(work_dir) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another job that trains {work_dir.name} ...", flush=True)
        lock.acquire(poll_interval=poll_s)
    try:
        yield
    finally:
        lock.release()
