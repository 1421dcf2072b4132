"""The results store: one JSON record per run under ``<results>/runs/``.

A record holds the spec, the metrics, timings, package versions, the git
commit and checkpoint paths. Records are written atomically (a temporary file
in the same folder, fsync, then rename), so a crash mid-write leaves the old
record or none, never half a file. A record that fails to parse is reported
by its path, never skipped silently and never overwritten.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.spec import RunSpec

RECORD_VERSION = 1
_PACKAGES = ("torch", "torchvision", "timm", "mmengine-lite", "av", "opencv-python-headless",
             "kornia", "scikit-learn", "numpy", "bleachbench")


class CorruptRecordError(ValueError):
    """A record file that is not valid JSON or lacks the fields a record has."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"corrupt run record {path}: {reason}. Inspect or delete it; "
                         "bleachbench never overwrites it by itself.")
        self.path = path


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = res.stdout.strip()
    return commit if res.returncode == 0 and commit else None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, nothing else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsStore:
    """Records of runs under ``root/runs``; tables under ``root/tables``."""

    def __init__(self, root: str | Path = "results") -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    def path(self, spec: RunSpec) -> Path:
        return self.runs_dir / f"{spec.run_id}.json"

    def exists(self, spec: RunSpec) -> bool:
        """True if a valid record exists; a corrupt one raises :class:`CorruptRecordError`."""
        path = self.path(spec)
        if not path.exists():
            return False
        self._read(path)
        return True

    def write(self, spec: RunSpec, metrics: dict[str, Any], *, timings: dict[str, float] | None = None,
              checkpoints: dict[str, str] | None = None, facts: dict[str, Any] | None = None) -> Path:
        record = {
            "record_version": RECORD_VERSION,
            "run_id": spec.run_id,
            "spec": spec.identity(),
            "metrics": metrics,
            "timings": timings or {},
            "checkpoints": checkpoints or {},
            "facts": facts or {},
            "versions": package_versions(),
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        path = self.path(spec)
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=True) + "\n")
        return path

    def read(self, spec: RunSpec) -> dict[str, Any] | None:
        path = self.path(spec)
        return self._read(path) if path.exists() else None

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptRecordError(path, str(exc)) from exc
        if not isinstance(record, dict) or not {"spec", "metrics"} <= set(record):
            raise CorruptRecordError(path, "missing 'spec' or 'metrics'")
        try:
            RunSpec.from_dict(record["spec"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptRecordError(path, f"bad spec: {exc}") from exc
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record; raises :class:`CorruptRecordError` naming the first bad file."""
        if not self.runs_dir.exists():
            return
        for path in sorted(self.runs_dir.glob("*.json")):
            yield self._read(path)

    def index(self) -> dict[RunSpec, dict[str, Any]]:
        """Records keyed by their spec."""
        return {RunSpec.from_dict(r["spec"]): r for r in self.records()}
