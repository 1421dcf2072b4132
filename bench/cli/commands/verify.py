"""verify: compare records made here with a published set, cell by cell and verdict by verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.cli.options import RESULTS_HELP, RUNNING, default_results
from bench.core.registry import load_plugins
from bench.report.verify import VerifyInputError

ORDER = 11
HELP = ("Check an installation: compare the records made here with a published set (the `none` "
        "cells, verdicts that contradict, cells inside each other's intervals, verdicts identical); "
        "exit 0 pass, 1 fail, 2 bad input.")
EXAMPLES = ("python -m bench verify                      # work_dirs/ against results/quick\n"
            "  python -m bench verify --run                # first run what the manifest needs\n"
            "  python -m bench verify --results host_b --against host_a --tolerance 0.9")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=default_results(), type=Path,
                   help="the records made on this machine: " + RESULTS_HELP)
    p.add_argument("--against", default=Path("results/quick"), type=Path,
                   help="the published set (default: results/quick)")
    p.add_argument("--tolerance", default=None, type=float, metavar="SHARE",
                   help="also require this share of the verdicts over several detector seeds to be "
                        "identical (default: reported against the 95 %% goal, not judged: two hosts "
                        "are independent replications); none may be significant with opposite signs "
                        "either way")
    p.add_argument("--none-tolerance", default=None, type=float, metavar="POINTS",
                   help="how far the `none` cells' accuracy may move on average (default 3 points)")
    p.add_argument("--run", action="store_true",
                   help="first run what the published manifest's commands need into --results "
                        "(finished records are reused)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                   help="import a module or a .py file that registers extra components (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (with --run)")


def run(args: argparse.Namespace) -> int:
    from bench.report.verify import VerifyInputError, compare, markdown, write

    load_plugins(args.plugin)
    try:
        if args.run:
            from bench.cli import main

            if not args.against.is_dir():
                raise VerifyInputError(f"--against: {args.against} is not a folder")
            for argv in manifest_commands(args.against):
                argv = argv + ["--results", str(args.results)] + (["--quiet"] if args.quiet else [])
                print("$ python -m bench " + " ".join(argv), flush=True)
                code = main(argv)
                if code:
                    print(f"error: `python -m bench {' '.join(argv)}` exited {code}", file=sys.stderr)
                    return 2
        result = compare(args.results, args.against, args.tolerance, args.none_tolerance)
    except VerifyInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(result)
    md, js = write(result, Path(args.results) / "tables")
    print(text)
    print(f"written: {md}, {js}")
    return 0 if result.passed else 1


def manifest_commands(published: Path) -> list[list[str]]:
    """The ``python -m bench`` commands of ``published/manifest.json`` that make records, as
    argument lists (``reproduce a|b`` -> one command per table); commands that only read
    records (``calibrate``, ``table``) are left out."""
    import shlex

    path = Path(published) / "manifest.json"
    if not path.is_file():
        raise VerifyInputError(f"--run: {path} does not exist")
    out: list[list[str]] = []
    for line in json.loads(path.read_text(encoding="utf-8")).get("commands", []):
        words = shlex.split(line)
        if words[:3] == ["python", "-m", "bench"]:
            words = words[3:]
        if not words or words[0] not in RUNNING:
            continue
        expanded = [[]]
        for w in words:
            alts = w.split("|") if "|" in w else [w]
            expanded = [e + [a] for e in expanded for a in alts]
        out += expanded
    return out
