"""diagnose: how a fitted Pixel Bleach acts (inference only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.options import RESULTS_HELP, default_results

ORDER = 9
HELP = ("How a fitted Pixel Bleach acts: feature norms, margins, rank order, "
        "bleach similarity, the offset sample's I (inference only).")
EXAMPLES = "python -m bench diagnose --run pixel_bleach-xception-FaceSwap-c40-0123456789ab"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, metavar="RUN_ID", help="a pixel_bleach run id (RESULTS/runs/RUN_ID.json)")
    p.add_argument("--results", default=default_results(), type=Path, help=RESULTS_HELP)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="the configuration file the run was made with (`run --config FILE`), "
                        "needed where its profile is not a packaged one (smoke, quick, paper)")


def run(args: argparse.Namespace) -> int:
    import json

    from bench.report.diagnose import diagnose, format_report

    try:
        report = diagnose(args.results, args.run, args.device, args.config)
    except ValueError as exc:  # not a pixel_bleach run
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0
