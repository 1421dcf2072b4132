"""figures: draw the paper's figures from saved run arrays."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.options import RESULTS_HELP, default_results

ORDER = 7
HELP = "Draw Figs. 4-7 from saved run arrays (nothing is trained or run)."
EXAMPLES = "python -m bench figures\n  python -m bench figures --run RUN_ID --out paper_figures/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", default=None, help="the run id to draw (default: a Pixel Bleach run "
                                               "with default parameters, else the newest with arrays)")
    p.add_argument("--out", type=Path, default=None, help="folder (default: RESULTS/figures)")
    p.add_argument("--results", default=default_results(), type=Path, help=RESULTS_HELP)
    p.add_argument("--seed", type=int, default=0, help="t-SNE seed")


def run(args: argparse.Namespace) -> int:
    from bench.report.figures import draw_all

    drawn, skipped = draw_all(args.results, run=args.run, out=args.out, seed=args.seed)
    for d in drawn:
        print(" ".join(str(p) for p in d.paths))
    for why in skipped:
        print(f"skipped {why}", file=sys.stderr)
    return 0 if drawn else 1
