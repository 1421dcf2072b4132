"""calibrate: where the testbed stands against FaceForensics++'s compression pattern."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.options import add_axes, add_common, context, warn_if_empty
from bench.core.config import detector_per_manipulation
from bench.core.registry import load_plugins
from bench.core.store import ResultsStore
from bench.report.tables import RecordSet

ORDER = 4
HELP = ("Report, from the 'none' records alone, where the testbed stands against "
        "FaceForensics++'s compression pattern (issue 10's targets).")
EXAMPLES = ("python -m bench calibrate\n  python -m bench calibrate --seeds 0,1,2 --detector xception\n"
            "  python -m bench calibrate --cues 20   # plus the renderer's cue survival C23 -> C40\n"
            "  python -m bench calibrate --seeds 0,1,2 --against work_dirs/cross_host/host_b")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_axes(p)
    add_common(p)
    p.add_argument("--strict", action="store_true", help="exit 1 if any judged target fails")
    p.add_argument("--against", action="append", type=Path, default=[], metavar="DIR",
                   help="another results folder (an emulated host's, another machine's; "
                        "repeatable): also report, per target, whether it holds in every seed "
                        "of this folder and of each DIR (holds everywhere / fails in: ...)")
    p.add_argument("--cues", type=int, default=0, metavar="N",
                   help="also measure, on N fake/real test pairs of the dataset (no detector: "
                        "datasets/cue_survival.py), how much of each manipulation's HQ cue "
                        "survives the LQ compression")


def run(args: argparse.Namespace) -> int:
    from bench.report.calibration import Check, report

    load_plugins(args.plugin)
    ctx, profile = context(args)
    store = ResultsStore(args.results)
    warn_if_empty(store)
    pooled = not detector_per_manipulation(profile)
    text, checks = report(RecordSet(store.index(), store), ctx, pooled=pooled)
    if args.cues:
        from bench.run.engine import Engine
        from bleachbench.datasets.cue_survival import cue_survival, markdown

        source = Engine(profile, args.results, "cpu", progress=False).source(ctx.dataset)
        rows = cue_survival(source, ctx.manipulations, ctx.train_compression, ctx.test_compression,
                            n_pairs=args.cues)
        text += ("\n## Cue survival (dataset only, no detector)\n\n"
                 f"How much of each manipulation's {ctx.train_compression} trace (fake minus its "
                 f"real target) is left at {ctx.test_compression}: 1 = all, 0 = none "
                 "(`datasets/cue_survival.py`; first test pairs; 95 % bootstrap over pairs).\n\n"
                 + markdown(rows, ctx.train_compression, ctx.test_compression))
    if args.against:
        from bench.report.calibration import across, across_markdown

        sets = [(str(args.results), RecordSet(store.index(), store))]
        for folder in args.against:
            if not folder.is_dir():
                print(f"error: --against: {folder} is not a folder", file=sys.stderr)
                return 2
            other = ResultsStore(folder)
            warn_if_empty(other)
            sets.append((str(folder), RecordSet(other.index(), other)))
        rows = across(sets, ctx, pooled=pooled)
        text += across_markdown(rows, [n for n, _ in sets], ctx.seed_list())
        if args.strict and any(r.holds is False for r in rows):
            checks = checks + [Check(r.detector, r.target, r.line, False)
                               for r in rows if r.holds is False]
    out = args.results / "tables" / "calibration.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out}")
    return 1 if args.strict and any(c.holds is False for c in checks) else 0
