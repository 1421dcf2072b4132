"""sweep: a frozen detector and remedies across compression levels."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.cli.options import add_axes, add_common, context
from bench.core.registry import METHODS, known_names, load_plugins

ORDER = 6
HELP = ("Evaluate a frozen detector and remedies (fitted once, on the LQ compression) "
        "across compression levels; write a CSV and acc/AUC-vs-severity figures.")
EXAMPLES = ("python -m bench sweep --detector xception --method none,threshold,pixel_bleach "
            "--compression h264_crf18:45:3,jpeg_q10:95:10,deeperforensics\n"
            "  python -m bench sweep --detector xception --compression c40,jpeg_q50 --dry-run")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="none,threshold,pixel_bleach", help="comma list of methods")
    p.add_argument("--compression", default="h264_crf18:45:3,jpeg_q10:95:10,deeperforensics",
                   help="comma list of levels: NAME<start>:<stop>:<step> (stop included), a bare "
                        "name, or the group deeperforensics (see bench/report/sweep.py)")
    p.add_argument("--out", type=Path, default=None, help="folder of sweep.csv (default: RESULTS/sweep)")
    p.add_argument("--dry-run", action="store_true", help="print the levels and the run count only")
    p.add_argument("--force", action="store_true")
    add_axes(p)
    add_common(p)
    p.set_defaults(detector="xception")


def run(args: argparse.Namespace) -> int:
    from bench.report import sweep
    from bench.run.engine import Engine

    started = time.perf_counter()
    load_plugins(args.plugin)
    ctx, profile = context(args)
    try:
        levels = sweep.parse_levels(args.compression)
        methods = sweep.methods_list(args.method, known_names(METHODS))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    specs = sweep.sweep_specs(ctx, methods, levels)
    print(f"sweep: {len(ctx.detectors)} detector(s) x {len(methods)} method(s) x {len(levels)} "
          f"level(s) x {len(ctx.manipulations)} manipulation(s) = {len(specs)} runs; remedies fitted "
          f"on {ctx.test_compression}\nlevels: " + ", ".join(lv.name for lv in levels))
    if args.dry_run:
        return 0
    engine = Engine(profile, args.results, args.device, progress=not args.quiet)
    summary = engine.run(specs, force=args.force)
    df = sweep.sweep_rows(engine.store.index(), ctx, methods, levels)
    csv = sweep.write_csv(df, (args.out or args.results / "sweep") / "sweep.csv")
    drawn = sweep.plot_all(df, args.results / "figures")
    print(f"ran {len(summary.ran)} run(s), skipped {len(summary.skipped)} with existing records")
    print("csv: " + str(csv))
    print("figures: " + ", ".join(str(d.paths[0]) for d in drawn))
    print(f"total {time.perf_counter() - started:.1f}s")
    return 0
