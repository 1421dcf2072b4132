"""Agreement across hosts, measured on one machine (issue 29, item 3).

Runs the default Table III (``bench run --method pixel_bleach``) twice on this machine, each
into its own work folder: once plain (host A) and once emulating another host (host B):
oneDNN and ATen capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``) and/or
another CPU thread count (``OMP_NUM_THREADS``). Host B's folder shares host A's face cache
(a link to ``A/cache``: the same rendered and compressed faces, so what differs is the
detectors' training, the fit and the evaluation), and trains its own detectors. Then it
compares the two with ``bench verify``'s logic (``bench/report/verify.py``) and writes the
agreement figure (cells inside each other's 95 % interval, verdicts identical, %) to
``OUT/cross_host.json`` and ``OUT/cross_host.md``.

    python tools/cross_host.py --out work_dirs/cross_host                 # quick profile, ~1 h
    python tools/cross_host.py --profile smoke --detector tiny --manipulation FaceSwap \\
        --out /tmp/xh                                                     # a minute or two

Finished records in either folder are reused (run it again to finish an interrupted run).
Exit 0 when the agreement reaches ``--tolerance`` (default: issue 29's goal, 95 % of the
verdicts identical) and no verdict is significant with opposite signs, 1 when not, 2 when a run
failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ISA_CAP = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def host_env(emulate: str, threads: int | None) -> dict[str, str]:
    """The environment variables that make host B (``emulate``: isa, threads or both)."""
    env: dict[str, str] = {}
    if emulate in ("isa", "both"):
        env.update(ISA_CAP)
    if emulate in ("threads", "both"):
        if not threads:
            raise SystemExit("--emulate threads/both needs --threads N")
        env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    return env


def run_command(args: argparse.Namespace, results: Path) -> list[str]:
    cmd = [sys.executable, "-m", "bench", "run", "--method", args.method, "--profile", args.profile,
           "--detector", args.detector, "--manipulation", args.manipulation,
           "--seeds", args.seeds, "--results", str(results), "--jobs", str(args.jobs), "--quiet"]
    if args.fit_seeds:
        cmd += ["--fit-seeds", args.fit_seeds]
    if args.cfg_options:
        cmd += ["--cfg-options", *args.cfg_options]
    return cmd


def run_host(name: str, cmd: list[str], extra_env: dict[str, str], log: Path) -> float:
    """Run ``cmd`` with ``extra_env`` on top of this environment; seconds taken."""
    env = {**os.environ, **extra_env}
    env.pop("BLEACHBENCH_RESULTS", None)
    shown = " ".join(f"{k}={v}" for k, v in extra_env.items())
    print(f"[{name}] {shown + ' ' if shown else ''}{' '.join(cmd[1:])}  (log: {log})", flush=True)
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if code:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        raise RuntimeError(f"[{name}] exited {code}; see {log}")
    return time.perf_counter() - started


def share_cache(a: Path, b: Path) -> bool:
    """``b/cache`` -> ``a/cache`` (a link), unless ``b`` already has its own cache."""
    (a / "cache").mkdir(parents=True, exist_ok=True)
    b.mkdir(parents=True, exist_ok=True)
    link = b / "cache"
    if link.is_symlink() or not link.exists():
        if link.is_symlink():
            link.unlink()
        try:
            link.symlink_to((a / "cache").resolve(), target_is_directory=True)
            return True
        except OSError:  # no links here: host B renders its own faces (slower, same data)
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "work_dirs" / "cross_host",
                   help="folder for host_a/, host_b/ and the report (default: work_dirs/cross_host)")
    p.add_argument("--profile", default="quick")
    p.add_argument("--method", default="pixel_bleach", help="the remedy of Table III")
    p.add_argument("--detector", default="all")
    p.add_argument("--manipulation", default="all")
    p.add_argument("--seeds", default="0", help="detector seeds, a comma list (default 0)")
    p.add_argument("--fit-seeds", default=None,
                   help="method fit seeds, passed to `bench run --fit-seeds` (where it has it)")
    p.add_argument("--jobs", default="1", help="bench run --jobs, both hosts (default 1)")
    p.add_argument("--emulate", default="both", choices=["isa", "threads", "both"],
                   help="what makes host B: the AVX2 cap, another thread count, or both (default)")
    p.add_argument("--threads", type=int, default=1,
                   help="host B's OMP_NUM_THREADS with --emulate threads/both (default 1)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="share of the verdicts over detector seeds that must be identical "
                        "(default: issue 29's goal, 0.95; `bench verify` reports it, judges it "
                        "only when asked)")
    p.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                   help="profile overrides for both hosts")
    args = p.parse_args(argv)

    from bench.report.verify import GOAL, VerifyInputError, compare, markdown

    out = args.out.resolve()
    a, b = out / "host_a", out / "host_b"
    a.mkdir(parents=True, exist_ok=True)
    shared = share_cache(a, b)
    env_b = host_env(args.emulate, args.threads)
    try:
        secs = {"host_a": run_host("host A", run_command(args, a), {}, out / "host_a.log"),
                "host_b": run_host("host B", run_command(args, b), env_b, out / "host_b.log")}
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = compare(b, a, GOAL if args.tolerance is None else args.tolerance)
    except VerifyInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    figures = result.figures()
    figures.update({"host_b_env": env_b, "face_cache_shared": shared, "seconds": secs,
                    "command": "python " + " ".join(run_command(args, Path("RESULTS"))[1:])})
    (out / "cross_host.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    shown = " ".join(f"{k}={v}" for k, v in env_b.items())
    text = (f"# Cross-host agreement (host B = this machine with {shown})\n\n"
            f"**{figures['verdicts_identical']} of {figures['verdicts_compared']} verdicts over detector "
            f"seeds identical ({figures['verdicts_identical_pct'] or 0:.1f} %); "
            f"{figures['conditional_identical']} of {figures['conditional_compared']} conditional on "
            f"one trained detector; {figures['cells_inside_intervals']} "
            f"of {figures['cells_compared']} cells inside each other's 95 % interval "
            f"({figures['cells_inside_pct'] or 0:.1f} %).**\n\n"
            f"Command (both hosts): `{figures['command']}`; face cache shared: {shared}.\n\n"
            + markdown(result).split("\n", 1)[1])
    (out / "cross_host.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out / 'cross_host.json'}, {out / 'cross_host.md'}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
