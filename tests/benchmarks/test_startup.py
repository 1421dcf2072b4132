"""Start-up time of the command line: ``python -m bench list``, ``--help`` and ``table`` in a fresh
process each (what a user waits for). Run with ``pytest tests/benchmarks --benchmark-only``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args", [["list"], ["--help"], ["table", "main"]],
                         ids=["list", "help", "table"])
def test_cli_start_up(benchmark, tmp_path, args):
    cmd = [sys.executable, "-m", "bench", *args]
    if args[0] == "table":
        cmd += ["--results", str(tmp_path)]

    def once() -> None:
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=120)

    benchmark.pedantic(once, rounds=5, iterations=1, warmup_rounds=1)
    print(f"\n{' '.join(args)}: median {benchmark.stats.stats.median:.2f} s")
