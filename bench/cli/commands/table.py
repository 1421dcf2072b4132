"""table: render a table from run records alone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.options import (
    add_axes,
    add_common,
    context,
    named_tables,
    warn_if_empty,
    write_tables,
)
from bench.core.registry import load_plugins
from bench.core.store import ResultsStore

ORDER = 2
HELP = "Render a table from the run records alone (nothing is run)."
EXAMPLES = ("python -m bench table main --format latex\n  python -m bench table all --out paper_tables/\n"
            "  python -m bench table main --method none,threshold")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a table name (see `list tables`) or all")
    p.add_argument("--method", default=None, metavar="M1,M2",
                   help="the methods of a table with a method axis (main, sota, remedies), "
                        "e.g. --method none,flip_tta; written as <table>-<methods>.md")
    p.add_argument("--format", default="md", choices=["md", "latex"])
    p.add_argument("--out", type=Path, default=None, help="folder for the files (default: RESULTS/tables)")
    add_axes(p)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    ctx, _ = context(args)
    out = args.out or args.results / "tables"
    try:
        tables = named_tables(args.name, args.method)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = ResultsStore(args.results)
    warn_if_empty(store)
    write_tables(tables, ctx, store, out, formats=(args.format,))
    return 0
