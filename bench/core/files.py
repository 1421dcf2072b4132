"""Files of a results folder that can go wrong: corrupt ones, a full disk, stale temp files.

- :class:`CorruptFileError`: a face cache, checkpoint, per-face ``.npz`` or lock file that
  cannot be read; one line naming the path and what to do (the CLI exits 2).
- :class:`DiskFullError`: not enough disk for a run, before work (:func:`check_free_space`,
  from :func:`estimate_bytes`) or while writing (:func:`disk_guard` turns ``ENOSPC`` and
  torch's ``unexpected pos`` into it), naming the folder and the space needed.
- :func:`atomic_path`: the one atomic write of the project: a temp path beside the file,
  renamed onto it on success, removed on failure.
- :func:`sweep_stale_temps`: temp files (``*.tmp``) of writes that were killed, removed at
  the next run's start.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.core.errors import UserError


class CorruptFileError(UserError):
    """A file under a results folder that cannot be read; the message names it and the fix."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)

    def __reduce__(self):  # picklable across --jobs worker processes
        return (type(self), (str(self), self.path))


def corrupt(what: str, path: str | Path, reason: object, fix: str) -> CorruptFileError:
    """``corrupt <what> <path>: <reason>; <fix>`` on one line."""
    text = " ".join(str(reason).split())[:200]
    return CorruptFileError(f"corrupt {what} {path}: {text}; {fix}", path)


class DiskFullError(UserError):
    """Not enough disk in a results folder (before work, or a write that hit ENOSPC)."""


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (where ``disk_usage`` can be asked)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(folder: Path) -> int:
    return int(shutil.disk_usage(existing_parent(folder)).free)


def check_free_space(folder: Path, needed: int, detail: str = "") -> None:
    """Raise :class:`DiskFullError` if ``folder``'s disk has less than ``needed`` bytes free."""
    free = free_bytes(folder)
    if needed > free:
        raise DiskFullError(
            f"not enough disk for this run in {folder}: it needs about {human(needed)}"
            f"{f' ({detail})' if detail else ''}, {human(free)} free; free some space or "
            "choose another --results")


def is_disk_full(exc: BaseException) -> bool:
    """An ``ENOSPC`` (or ``EDQUOT``) OSError, or torch's ``unexpected pos`` when a save hits it."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("unexpected pos" in text or
                                              "No space left on device" in text)


@contextmanager
def disk_guard(folder: Path, needed: int | None = None) -> Iterator[None]:
    """Turn a full disk anywhere inside into one :class:`DiskFullError` naming ``folder``."""
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        need = f"about {human(needed)} for this run" if needed else "more space"
        raise DiskFullError(
            f"disk full while writing to {folder} ({human(free_bytes(folder))} free; it needs "
            f"{need}); nothing half-written was kept: free some space and run the same command "
            "again") from exc


@contextmanager
def atomic_path(path: str | Path, fsync: bool = False) -> Iterator[Path]:
    """A temp path beside ``path`` (``.<name>.<random>.tmp<suffix>``: the suffix kept, so
    ``np.save``/``np.savez`` add none and ``torch.save`` is happy) to write to; renamed onto
    ``path`` when the block ends, removed when it raises, so a reader sees the old file or the
    new one, never half of one. ``fsync``: flush the temp to disk before the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix,
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TEMP_PATTERNS = ("*.tmp", "*.tmp.*")  # atomic_path's temp names


def sweep_stale_temps(root: Path, folders: Iterable[str] = ("runs", "cache", "checkpoints", "work"),
                      before: float | None = None, grace_s: float = 60.0) -> list[Path]:
    """Remove temp files (``*.tmp``: atomic writes' ``.<name>.<random>.tmp``, ``x.tmp``) under
    ``root``'s ``folders`` last modified before ``before`` (default now) minus ``grace_s``
    (another process's write in flight is newer); returns what was removed."""
    cutoff = (time.time() if before is None else before) - grace_s
    removed = []
    for name in folders:
        base = Path(root) / name
        if not base.is_dir():
            continue
        for pattern in TEMP_PATTERNS:
            for path in base.rglob(pattern):
                try:
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed.append(path)
                except OSError:
                    continue
    return removed


__all__ = ["CorruptFileError", "DiskFullError", "atomic_path", "check_free_space", "corrupt", "disk_guard",
           "existing_parent", "free_bytes", "human", "is_disk_full", "sweep_stale_temps"]
