"""The drills of issue 31 on a smoke run in a temporary folder; PASS/FAIL per drill.

    python tools/drills.py [--keep]

- bad values: each exits 2 with one line before any results folder is written;
- corrupt files (checkpoint, face cache, per-face arrays, lock file): one line naming the
  file, exit 2; ``--force`` says what it replaces;
- a moved results folder renders and re-runs from its own files (the original's checkpoint
  corrupted meanwhile);
- a full disk (simulated: ENOSPC and torch's ``unexpected pos`` injected into writes) and a
  short disk (simulated free space): one line, exit 2, nothing half-written left.

Exit 0 only if every drill passes. About two minutes on two CPU cores (one smoke run, the
rest reuse its detector).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import shutil
import sys
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.core.files import TEMP_PATTERNS  # noqa: E402 - after the path is set

BASE = ["--detector", "tiny", "--profile", "smoke", "--manipulation", "FaceSwap", "--quiet"]
RUN = ["run", "--method", "pixel_bleach", *BASE]
NONE_C40 = ["run", "--method", "none", *BASE, "--test-compression", "c40"]

BAD_VALUES = [
    ["--cfg-options", "train.epochs=-1"],
    ["--cfg-options", "train.batch_size=0"],
    ["--cfg-options", "train.lr=abc"],
    ["--cfg-options", "faces.size=7"],
    ["--cfg-options", "method.epochs=1e9"],
    ["--seeds", "0,,1"],
    ["--seeds", ""],
    ["--seeds", "abc"],
]


def cli(args: list[str]) -> tuple[int, str, str]:
    """``python -m bench ARGS`` in this process: exit code, stdout, stderr."""
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> bool:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in err


class Drills:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.results: list[tuple[str, bool, str]] = []

    def check(self, name: str, fn: Callable[[], tuple[bool, str]]) -> None:
        try:
            ok, why = fn()
        except Exception as exc:  # noqa: BLE001 - a drill that crashes fails, with its reason
            ok, why = False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        self.results.append((name, ok, why))
        print(f"{'PASS' if ok else 'FAIL'} {name}{'' if ok else ': ' + why}", flush=True)

    def copy(self, src: Path, name: str) -> Path:
        dst = self.tmp / name
        shutil.copytree(src, dst)
        return dst

    # -- drills ---------------------------------------------------------------------------------
    def bad_value(self, extra: list[str]) -> tuple[bool, str]:
        folder = self.tmp / "bad"
        code, _, err = cli([*RUN, "--results", str(folder), *extra])
        ok = code == 2 and one_line(err) and not folder.exists()
        return ok, f"exit {code}, folder written: {folder.exists()}, said: {err.strip()[-300:]!r}"

    def expect_named(self, results: Path, args: list[str], path: Path) -> tuple[bool, str]:
        code, _, err = cli([*args, "--results", str(results)])
        ok = code == 2 and one_line(err) and str(path) in err
        return ok, f"exit {code}, said: {err.strip()[-300:]!r}"


def run_drills(tmp: Path) -> list[tuple[str, bool, str]]:
    d = Drills(tmp)
    for extra in BAD_VALUES:
        d.check(f"bad value {' '.join(extra)!r}: exit 2, one line, no folder",
                lambda extra=extra: d.bad_value(extra))

    orig = tmp / "orig"
    code, out, err = cli([*RUN, "--results", str(orig)])
    if code != 0:
        d.results.append(("smoke run", False, err[-500:]))
        print(f"FAIL smoke run: exit {code}: {err[-500:]}")
        return d.results
    print("smoke run: done", flush=True)
    pristine = d.copy(orig, "pristine")

    # -- corrupt files ----------------------------------------------------------------------------
    def corrupt_checkpoint() -> tuple[bool, str]:
        r = d.copy(pristine, "ckpt")
        best = next(r.rglob("best.pth"))
        best.write_bytes(best.read_bytes()[:300])
        return d.expect_named(r, [*NONE_C40, "--force"], best)

    def corrupt_face_cache() -> tuple[bool, str]:
        r = d.copy(pristine, "faces")
        images = next(p for p in r.rglob("images.npy") if "_test_" in p.parent.name)
        images.write_bytes(images.read_bytes()[:-1000])
        return d.expect_named(r, [*NONE_C40, "--force"], images)

    def corrupt_npz() -> tuple[bool, str]:
        r = d.copy(pristine, "npz")
        npz = next((r / "runs").glob("none-*-c40-*.npz"))
        npz.write_bytes(npz.read_bytes()[:100])
        ok, why = d.expect_named(r, NONE_C40, npz)
        code, out, err = cli([*NONE_C40, "--results", str(r), "--force"])
        said = str(npz) in out + err and "corrupt" in out + err
        try:
            with zipfile.ZipFile(npz):
                fine = True
        except zipfile.BadZipFile:
            fine = False
        ok = ok and code == 0 and said and fine
        return ok, f"{why}; --force: exit {code}, said which: {said}, replaced: {fine}"

    def corrupt_skipped_npz() -> tuple[bool, str]:
        # the case: `run` skipped every run, then died rendering tables (BadZipFile)
        r = d.copy(pristine, "npz_skipped")
        npz = next((r / "runs").glob("pixel_bleach-*.npz"))
        npz.write_bytes(b"not a zip")
        return d.expect_named(r, RUN, npz)

    def corrupt_lock() -> tuple[bool, str]:
        r = d.copy(pristine, "lock")
        lock = next((r / "checkpoints").rglob("*.lock"))
        lock.unlink()
        lock.mkdir()  # a lock file that cannot be opened
        return d.expect_named(r, [*NONE_C40, "--force"], lock)

    def corrupt_done() -> tuple[bool, str]:
        r = d.copy(pristine, "done")
        done = next((r / "checkpoints").rglob("done.json"))
        done.write_text("{not json")
        return d.expect_named(r, [*NONE_C40, "--force"], done)

    d.check("truncated checkpoint best.pth: named, exit 2", corrupt_checkpoint)
    d.check("truncated face cache images.npy: named, exit 2", corrupt_face_cache)
    d.check("corrupt per-face .npz: named, exit 2; --force says it replaces it", corrupt_npz)
    d.check("corrupt per-face .npz of a run that would be skipped: named, exit 2",
            corrupt_skipped_npz)
    d.check("corrupt lock file: named, exit 2", corrupt_lock)
    d.check("corrupt done.json: named, exit 2", corrupt_done)

    # -- a moved folder -------------------------------------------------------------------------
    def moved() -> tuple[bool, str]:
        src = d.copy(pristine, "to_move")
        dst = tmp / "moved" / "here"
        dst.parent.mkdir()
        src.rename(dst)
        shutil.copytree(dst, tmp / "left_behind")
        # the folder it came from now holds a corrupt checkpoint: the moved one must not read it
        src.mkdir()
        shutil.copytree(tmp / "left_behind" / "checkpoints", src / "checkpoints")
        best = next(src.rglob("best.pth"))
        best.write_bytes(b"corrupt")
        absolute = [str(p) for p in [*dst.rglob("done.json"), *(dst / "runs").glob("*.json")]
                    if str(src) in p.read_text() or str(pristine) in p.read_text()]
        c1, _, e1 = cli(["table", "main", *BASE, "--method", "pixel_bleach", "--results", str(dst)])
        c2, o2, e2 = cli([*RUN, "--results", str(dst)])
        c3, o3, e3 = cli([*NONE_C40, "--results", str(dst), "--force"])
        retrained = "training tiny" in o3 + e3
        ok = (not absolute and c1 == 0 and c2 == 0 and "ran 0 run(s)" in o2 and c3 == 0
              and not retrained)
        return ok, (f"absolute paths stored: {absolute}; table exit {c1} {e1[-200:]!r}; rerun "
                    f"exit {c2} {e2[-200:]!r}; forced rerun exit {c3} {e3[-200:]!r}, "
                    f"retrained: {retrained}")

    d.check("moved results folder: tables and runs from its own files", moved)

    # -- disk -----------------------------------------------------------------------------------
    def no_half_files(r: Path) -> list[str]:
        bad = [str(p) for pattern in TEMP_PATTERNS for p in r.rglob(pattern)]
        for p in (r / "runs").glob("*.json"):
            try:
                json.loads(p.read_text())
            except ValueError:
                bad.append(str(p))
        for p in (r / "runs").glob("*.npz"):
            try:
                with zipfile.ZipFile(p):
                    pass
            except zipfile.BadZipFile:
                bad.append(str(p))
        return bad

    def disk_full(kind: str) -> tuple[bool, str]:
        import torch

        r = d.copy(pristine, f"full_{kind}")
        real_fsync, real_save = os.fsync, torch.save
        calls = {"n": 0}

        def fsync(fd: int) -> None:  # the second atomic write (the record after its arrays)
            calls["n"] += 1
            if calls["n"] >= 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            real_fsync(fd)

        def save(obj, f, *a, **k):  # torch's message at one size, after a partial write
            if isinstance(f, (str, os.PathLike)):
                Path(f).write_bytes(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 5760 "
                               "vs 5648")

        if kind == "enospc":
            os.fsync = fsync
            args = [*NONE_C40, "--force"]
        else:
            for p in (r / "checkpoints").iterdir():  # the detector must be trained again
                if p.is_dir():
                    shutil.rmtree(p)
            torch.save = save
            args = [*NONE_C40, "--force"]
        try:
            code, _, err = cli([*args, "--results", str(r)])
        finally:
            os.fsync, torch.save = real_fsync, real_save
        left = no_half_files(r)
        ok = code == 2 and one_line(err) and str(r) in err and "disk" in err and not left
        return ok, f"exit {code}, said: {err.strip()[-300:]!r}; half-written: {left}"

    def short_disk() -> tuple[bool, str]:
        from bench.core import files

        folder = tmp / "short"
        real = files.free_bytes
        files.free_bytes = lambda _folder: 10_000
        try:
            code, _, err = cli([*RUN, "--results", str(folder)])
        finally:
            files.free_bytes = real
        written = [str(p) for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
        ok = (code == 2 and one_line(err) and "not enough disk" in err and str(folder) in err
              and not any("/runs/" in w or "/checkpoints/" in w for w in written))
        return ok, f"exit {code}, said: {err.strip()[-300:]!r}; files written: {written[:5]}"

    d.check("disk full (ENOSPC) writing a record: one line, exit 2, nothing half-written",
            lambda: disk_full("enospc"))
    d.check("disk full (torch 'unexpected pos') saving a checkpoint: one line, exit 2, "
            "nothing half-written", lambda: disk_full("torch"))
    d.check("too little free disk for the plan: refused before work", short_disk)

    def stale_temps() -> tuple[bool, str]:
        r = d.copy(pristine, "stale")
        junk = [r / "runs" / ".x.npz.abc123.tmp", r / "cache" / "faces" / "old.tmp"]
        for p in junk:
            p.write_bytes(b"half")
            os.utime(p, (1, 1))
        for p in (r / "runs").glob("none-*-c40-*"):
            p.unlink()  # something to do, so that the run starts
        code, _, err = cli([*NONE_C40, "--results", str(r)])
        left = [str(p) for p in junk if p.exists()]
        return code == 0 and not left, f"exit {code}, left: {left}, said: {err[-200:]!r}"

    d.check("stale temp files swept at the next run's start", stale_temps)
    return d.results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (printed)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bleachbench-drills-"))
    try:
        results = run_drills(tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    failed = [name for name, ok, _ in results if not ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} drills passed"
          + (f"; failed: {'; '.join(failed)}" if failed else ""))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
