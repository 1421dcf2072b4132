"""run: evaluate a method and the none baseline; write records and tables."""

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
    print_summary,
    write_tables,
)
from bench.core.registry import METHODS, load_plugins, resolve

ORDER = 0
HELP = "Evaluate a method (and the 'none' baseline) on HQ and LQ test; write records and tables."
EXAMPLES = ("python -m bench run --method pixel_bleach --detector all\n"
            "  python -m bench run --method threshold --detector xception --manipulation FaceSwap\n"
            "  python -m bench run --method pixel_bleach --detector resnet50 --cfg-options method.m=0 faces.size=96\n"
            "  python -m bench run --method pixel_bleach --detector all --jobs auto   # detectors side by side on a CPU")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="pixel_bleach", help="a registered method (see `list methods`)")
    add_axes(p)
    add_common(p)
    p.add_argument("--force", action="store_true", help="re-run runs whose record exists")
    add_executor(p)


def run(args: argparse.Namespace) -> int:
    from bench.report.experiments import MethodVsNone

    started = time.perf_counter()
    load_plugins(args.plugin)
    resolve(METHODS, args.method)
    ctx, profile = context(args)
    experiment = MethodVsNone(args.method)
    summary, store = execute(args, profile, experiment.specs(ctx))
    written = write_tables(experiment.tables(), ctx, store, args.results / "tables")
    print_summary(summary, written, started)
    return exit_code(summary)
