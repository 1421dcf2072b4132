"""The results store: one JSON record per run under ``<results>/runs/``.

A record holds the spec, the metrics, timings, package versions, the git
commit and checkpoint paths. Records are written atomically (a temporary file
in the same folder, fsync, then rename), so a crash mid-write leaves the old
record or none, never half a file. A record that fails to parse is reported
by its path, never skipped silently and never overwritten.

Beside a record, ``runs/<run_id>.npz`` holds the run's per-face arrays:
``prob`` float32 [N] (P(fake)), ``label`` int8 [N] (1 = fake), ``video`` unicode [N]
(``"<manipulation>/<video_id>"``, ``real/<id>`` for real faces), plus whatever the
method's ``artifacts`` hook returned. It is written (atomically) before the record,
so a record never points at missing arrays; :meth:`ResultsStore.arrays` loads it.

Records are strict JSON: a metric that is not a finite number (an AUC on a test
set of one class) is stored as ``null`` and its path and reason listed under the
record's ``undefined``.
"""

from __future__ import annotations

import io
import json
import math
import platform
import subprocess
import time
import zlib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import atomic_path
from bench.core.spec import RunSpec

RECORD_VERSION = 1
_PACKAGES = ("torch", "torchvision", "timm", "mmengine-lite", "av", "opencv-python-headless",
             "kornia", "scikit-learn", "numpy", "bleachbench")


ARRAY_KEYS = ("prob", "label", "video")  # always in a run's npz


class CorruptRecordError(ValueError):
    """A record file that is not valid JSON or lacks the fields a record has."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"corrupt run record {path}: {reason}. Inspect or delete it; "
                         "bleachbench never overwrites it by itself.")
        self.path, self.reason = path, reason

    def __reduce__(self):  # picklable across --jobs worker processes (two arguments, one message)
        return (type(self), (self.path, self.reason))


_SCALARS = (str, int, float, bool, type(None))


def check_record(record: Any) -> str | None:
    """What is wrong with a parsed record (``None`` if nothing): a mapping with a valid ``spec``
    mapping and a ``metrics`` mapping of levels (``frame``, ``video``...), each a mapping of
    numbers, strings, ``None`` or lists of numbers; the other sections, where present, of the
    types :meth:`ResultsStore.write` gives them."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    missing = [k for k in ("spec", "metrics") if k not in record]
    if missing:
        return f"missing {' and '.join(repr(k) for k in missing)}"
    if not isinstance(record["spec"], dict):
        return f"'spec' is {type(record['spec']).__name__}, expected an object"
    try:
        RunSpec.from_dict(record["spec"])
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        return f"bad spec: {str(exc)[:200]}"
    metrics = record["metrics"]
    if not isinstance(metrics, dict):
        return f"'metrics' is {type(metrics).__name__}, expected an object of levels"
    for level, values in metrics.items():
        if not isinstance(values, dict):
            return f"'metrics.{level}' is {type(values).__name__}, expected an object"
        for name, value in values.items():
            ok = isinstance(value, _SCALARS) or (isinstance(value, list) and all(
                isinstance(v, (int, float, type(None))) and not isinstance(v, bool)
                for v in value))
            if not ok:
                return f"'metrics.{level}.{name}' is {type(value).__name__}, expected a number"
    for key in ("timings", "checkpoints", "facts", "config", "versions", "undefined", "arrays"):
        if key in record and not isinstance(record[key], dict):
            return f"{key!r} is {type(record[key]).__name__}, expected an object"
    for key, kind in (("run_id", str), ("record_version", int)):
        if key in record and (not isinstance(record[key], kind) or isinstance(record[key], bool)):
            return f"{key!r} is {type(record[key]).__name__}, expected {kind.__name__}"
    arrays = record.get("arrays")
    if arrays is not None and not (isinstance(arrays.get("file"), str)
                                   and isinstance(arrays.get("keys", []), list)
                                   and isinstance(arrays.get("n", 0), int)):
        return "'arrays' lacks a file name, its keys or its length"
    return None


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, nothing else."""
    with atomic_path(path, fsync=True) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, like :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


RESULT_FOLDERS = ("checkpoints", "work", "runs", "records", "cache", "tables")


def stored_path(root: str | Path, path: str | Path) -> str:
    """``path`` as a results folder stores it: relative to ``root`` (POSIX) when it lies under
    it, so that a copied or moved folder uses its own files; anything else unchanged."""
    text = str(path)
    if not text or ":" in text.split("/")[0] or not Path(text).is_absolute():
        return text  # "", "untrained:<digest>", already relative
    try:
        return Path(text).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return text


def resolve_stored(root: str | Path, stored: str | Path) -> Path:
    """A path a results folder stored (:func:`stored_path`), resolved against ``root``, the
    folder it is read from. An absolute path from before paths were stored relative (a record
    or done.json of another place) that is not under ``root`` is looked up by its tail under
    ``root`` (``.../checkpoints/<...>/best.pth``): a moved or copied folder never reads another
    folder's files; if no such tail exists the path is returned as it is."""
    path, root = Path(str(stored)), Path(root)
    if not str(stored):
        return path
    if not path.is_absolute():
        return root / path
    try:
        path.resolve().relative_to(root.resolve())
        return path
    except ValueError:
        pass
    parts = path.parts
    for i, part in enumerate(parts):
        if part in RESULT_FOLDERS and (root.joinpath(*parts[i:])).exists():
            return root.joinpath(*parts[i:])
    return path


def strict_json(obj: Any, path: str = "", undefined: dict[str, str] | None = None) -> Any:
    """``obj`` with every non-finite float replaced by ``None``; their paths go to ``undefined``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        if undefined is not None:
            undefined.setdefault(path, f"not a finite number ({obj})")
        return None
    if isinstance(obj, dict):
        return {k: strict_json(v, f"{path}.{k}" if path else str(k), undefined) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v, f"{path}[{i}]", undefined) for i, v in enumerate(obj)]
    return obj


def check_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The run's arrays in their stored dtypes; raises ``ValueError`` naming a missing or bad key."""
    missing = [k for k in ARRAY_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"run arrays lack {missing}; expected at least {list(ARRAY_KEYS)}")
    out = {k: np.asarray(v) for k, v in arrays.items()}
    out["prob"] = out["prob"].astype(np.float32)
    out["label"] = out["label"].astype(np.int8)
    out["video"] = out["video"].astype(str)
    n = len(out["prob"])
    for k in ARRAY_KEYS:
        if out[k].ndim != 1 or len(out[k]) != n:
            raise ValueError(f"run array {k!r} has shape {out[k].shape}; expected [{n}] like 'prob'")
    for k, v in out.items():
        if v.dtype == object:
            raise ValueError(f"run array {k!r} has dtype object; use numeric or unicode arrays")
    return out


class ResultsStore:
    """Records of runs under ``root/runs``; tables under ``root/tables``.

    A committed results folder (``results/quick_v3/``) keeps its records under ``records/``
    instead, apart from a live ``results/runs/``: where ``root/runs`` does not exist and
    ``root/records`` does, the store reads (and writes) there, so ``--results
    results/quick_v3`` renders that folder's tables."""

    def __init__(self, root: str | Path = "results") -> None:
        self.root = Path(root)
        runs, archived = self.root / "runs", self.root / "records"
        self.runs_dir = archived if not runs.exists() and archived.is_dir() else runs

    def path(self, spec: RunSpec) -> Path:
        return self.runs_dir / f"{spec.run_id}.json"

    def arrays_path(self, spec: RunSpec) -> Path:
        return self.runs_dir / f"{spec.run_id}.npz"

    def exists(self, spec: RunSpec) -> bool:
        """True if a valid record exists; a corrupt one raises :class:`CorruptRecordError`."""
        path = self.path(spec)
        if not path.exists():
            return False
        self._read(path)
        return True

    def write(self, spec: RunSpec, metrics: dict[str, Any], *, timings: dict[str, float] | None = None,
              checkpoints: dict[str, str] | None = None, facts: dict[str, Any] | None = None,
              arrays: dict[str, np.ndarray] | None = None,
              config: dict[str, Any] | None = None) -> Path:
        """Write the record (and first, if given, the per-face ``arrays`` as ``<run_id>.npz``).

        ``config`` is the run's resolved configuration (bench/core/config.py)."""
        record = {
            "record_version": RECORD_VERSION,
            "run_id": spec.run_id,
            "spec": spec.identity(),
            "metrics": metrics,
            "timings": timings or {},
            "checkpoints": {k: stored_path(self.root, v) for k, v in (checkpoints or {}).items()},
            "facts": facts or {},
            "config": config or {},
            "versions": package_versions(),
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if arrays is not None:
            arrays = check_arrays(arrays)
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(self.arrays_path(spec), buf.getvalue())
            record["arrays"] = {"file": self.arrays_path(spec).name, "keys": sorted(arrays),
                                "n": int(len(arrays["prob"]))}
        undefined: dict[str, str] = {}
        record = strict_json(record, "", undefined)
        if undefined:
            record["undefined"] = undefined
        path = self.path(spec)
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
        return path

    def resolve(self, stored: str | Path) -> Path:
        """A path stored in a record (``checkpoints``), resolved against this folder."""
        return resolve_stored(self.root, stored)

    def check_arrays_file(self, spec_or_record: RunSpec | dict[str, Any]) -> bool:
        """True if the run's ``.npz`` exists and opens (its zip directory and keys); a corrupt
        one raises :class:`~bench.core.files.CorruptFileError` naming it."""
        path = self._arrays_path_of(spec_or_record)
        if not path.exists():
            return False
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise self._corrupt_arrays(path, exc) from exc
        missing = [k for k in ARRAY_KEYS if f"{k}.npy" not in names]
        if missing:
            raise self._corrupt_arrays(path, f"lacks {missing}")
        return True

    @staticmethod
    def _corrupt_arrays(path: Path, reason: object) -> Exception:
        from bench.core.files import corrupt

        return corrupt("per-face arrays", path, reason,
                       "delete it and its record (or run with --force to make both again)")

    def _arrays_path_of(self, spec_or_record: RunSpec | dict[str, Any]) -> Path:
        spec = spec_or_record if isinstance(spec_or_record, RunSpec) else \
            RunSpec.from_dict(spec_or_record["spec"])
        return self.arrays_path(spec)

    def has_arrays(self, spec_or_record: RunSpec | dict[str, Any]) -> bool:
        """True if the run's per-face arrays were saved."""
        return self._arrays_path_of(spec_or_record).exists()

    def arrays(self, spec_or_record: RunSpec | dict[str, Any]) -> dict[str, np.ndarray]:
        """The per-face arrays of a run (``prob``, ``label``, ``video``, method artifacts).

        Raises ``FileNotFoundError`` naming the file if the run has none (a record written
        before arrays were saved: re-run it with ``--force``).
        """
        path = self._arrays_path_of(spec_or_record)
        if not path.exists():
            raise FileNotFoundError(f"no per-face arrays for run {path.stem}: {path} does not exist "
                                    "(record written before arrays were saved; re-run with --force)")
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
            raise self._corrupt_arrays(path, exc) from exc  # zlib.error: a damaged deflate stream

    def set_aside(self, spec: RunSpec, tag: str) -> Path:
        """Move a run's record (and arrays) to ``runs/stale/<run_id>.<tag>.json``, out of the
        index, so that the run can be made again without losing the old result."""
        stale = self.runs_dir / "stale"
        stale.mkdir(parents=True, exist_ok=True)
        target = stale / f"{spec.run_id}.{tag}.json"
        self.path(spec).replace(target)
        if self.arrays_path(spec).exists():
            self.arrays_path(spec).replace(stale / f"{spec.run_id}.{tag}.npz")
        return target

    def read(self, spec: RunSpec) -> dict[str, Any] | None:
        path = self.path(spec)
        return self._read(path) if path.exists() else None

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        """The record at ``path``; anything malformed (not UTF-8, not JSON, nested too deep, a
        field of the wrong type: :func:`check_record`) is a :class:`CorruptRecordError` naming
        the file."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorruptRecordError(path, f"cannot be read ({exc.strerror or exc})") from exc
        try:
            record = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CorruptRecordError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except RecursionError as exc:
            raise CorruptRecordError(path, "not a record (JSON nested too deeply)") from exc
        except ValueError as exc:  # JSONDecodeError, and an integer too long to convert
            raise CorruptRecordError(path, f"not valid JSON ({str(exc)[:200]})") from exc
        try:
            problem = check_record(record)
        except RecursionError as exc:
            raise CorruptRecordError(path, "not a record (nested too deeply)") from exc
        if problem:
            raise CorruptRecordError(path, problem)
        return record

    def record_paths(self) -> list[Path]:
        """The record files, sorted: ``runs/*.json`` without the hidden ones (an atomic write's
        temp file, ``.<name>.<random>.tmp.json``, that a killed process left behind)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p for p in self.runs_dir.glob("*.json") if not p.name.startswith("."))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record; raises :class:`CorruptRecordError` naming the first bad file."""
        for path in self.record_paths():
            yield self._read(path)

    def index(self) -> dict[RunSpec, dict[str, Any]]:
        """Records keyed by their spec."""
        return {RunSpec.from_dict(r["spec"]): r for r in self.records()}
