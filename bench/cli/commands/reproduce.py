"""reproduce: run what a table needs, then render it."""

from __future__ import annotations

import argparse
import time

from bench.cli.options import (
    add_axes,
    add_common,
    add_executor,
    context,
    execute,
    exit_code,
    figures_and_report,
    named_tables,
    print_summary,
    write_tables,
)
from bench.core.registry import load_plugins

ORDER = 3
HELP = "Run what a table needs (skipping finished runs), then render it."
EXAMPLES = ("python -m bench reproduce main\n  python -m bench reproduce offset_m --detector xception\n"
            "  python -m bench reproduce all --jobs auto")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a table name (see `list tables`) or all")
    add_axes(p)
    add_common(p)
    p.add_argument("--force", action="store_true")
    add_executor(p)


def run(args: argparse.Namespace) -> int:
    from bench.report.experiments import TablesExperiment

    started = time.perf_counter()
    load_plugins(args.plugin)
    ctx, profile = context(args)
    tables = named_tables(args.name)
    experiment = TablesExperiment([t.name for t in tables])
    summary, store = execute(args, profile, experiment.specs(ctx))
    written = write_tables(experiment.tables(), ctx, store, args.results / "tables")
    if args.name == "all":  # and what a reader looks at: the figures and the results page
        written += figures_and_report(args, ctx, tables)
    print_summary(summary, written, started)
    return exit_code(summary)
