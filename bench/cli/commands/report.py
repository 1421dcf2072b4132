"""report: the results page (every table, the figures, each run's metadata)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.options import add_axes, add_common, context, figures_and_report, named_tables
from bench.core.registry import load_plugins

ORDER = 8
HELP = "Write RESULTS/report.html: every table, the figures and each run's metadata."
EXAMPLES = "python -m bench report\n  python -m bench report --profile smoke --detector tiny"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="the HTML file (default: RESULTS/report.html)")
    p.add_argument("--no-draw", action="store_true",
                   help="embed the figures already under RESULTS/figures without redrawing Figs. 4-7")
    add_axes(p)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    ctx, _ = context(args)
    tables = named_tables("all")
    for path in figures_and_report(args, ctx, tables, draw=not args.no_draw):
        print(path)
    return 0
