"""table: render a table from run records alone.

Without options selecting one, the grid is the one the records in ``--results`` cover
(:func:`bench.report.tables.records_grid`): their dataset, profile, ``--cfg-options``,
detectors, manipulations, compressions, seeds and fit seeds (and any remedy a table with a
method axis does not list by default). An option left at its default value is read from the
records; one given selects (records of several datasets or profiles: the group with the most
records, and a note names the others). A results folder without records renders the default
grid (every cell a dash).

A table file is never replaced by one with fewer measured runs: the new rendering is then
written beside it as ``<name>.new.md`` (``.new.tex``) with a note on stderr, and the old file
is kept (``--overwrite`` replaces it anyway).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bench.cli.options import (
    add_axes,
    add_common,
    context,
    named_tables,
    warn_if_empty,
)
from bench.core.profiles import PROFILES
from bench.core.registry import load_plugins
from bench.core.store import ResultsStore
from bench.report.tables import RecordSet, measured_runs, records_grid, render

ORDER = 2
HELP = "Render a table from the run records alone (nothing is run)."
EXAMPLES = ("python -m bench table main --results results/ffpp_smoke\n"
            "  python -m bench table main --format latex\n"
            "  python -m bench table all --out paper_tables/\n"
            "  python -m bench table main --method none,threshold")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a table name (see `list tables`) or all")
    p.add_argument("--method", default=None, metavar="M1,M2",
                   help="the methods of a table with a method axis (main, sota, remedies), "
                        "e.g. --method none,flip_tta; written as <table>-<methods>.md")
    p.add_argument("--format", default="md", choices=["md", "latex"])
    p.add_argument("--out", type=Path, default=None, help="folder for the files (default: RESULTS/tables)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing table file even when the new one has fewer measured "
                        "runs (default: write it beside as <name>.new.md and say so)")
    add_axes(p)
    add_common(p)


def from_records(args: argparse.Namespace, store: ResultsStore) -> tuple[argparse.Namespace, object]:
    """``args`` with every axis left at its default filled from the records' grid (or as given
    where there is no record); also the grid found (None without records)."""
    explicit_profile = args.profile != "quick" or args.config is not None
    grid = records_grid(list(store.index()), dataset=args.dataset,
                        profile=args.profile if explicit_profile else None)
    if grid is None:
        return args, None
    args = argparse.Namespace(**vars(args))
    if args.dataset is None:
        args.dataset = grid.dataset
    if not explicit_profile and grid.profile in PROFILES:
        args.profile = grid.profile
    if args.detector == "all":
        args.detector = ",".join(grid.detectors)
    if args.manipulation == "all":
        args.manipulation = ",".join(grid.manipulations)
    if args.train_compression is None:
        args.train_compression = grid.train_compression
    if args.test_compression is None:
        args.test_compression = grid.test_compression
    if args.seeds is None and args.seed == 0:
        args.seeds = ",".join(map(str, grid.seeds))
    if args.fit_seeds is None:
        args.fit_seeds = ",".join(map(str, grid.fit_seeds))
    if grid.others:
        print("note: the records hold other groups; rendering "
              f"dataset {grid.dataset}, profile {grid.profile} ({grid.n_records} runs); others: "
              + "; ".join(f"dataset {d}, profile {p}"
                          + (f", options {o}" if o != "{}" else "") + f" ({k} runs)"
                          for d, p, o, k in grid.others)
              + " (select with --dataset / --profile / --cfg-options)", file=sys.stderr)
    return args, grid


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    store = ResultsStore(args.results)
    warn_if_empty(store)
    args, grid = from_records(args, store)
    ctx, _ = context(args)
    if grid is not None and not args.cfg_options:
        ctx = replace(ctx, options=grid.options,
                      method_params={**grid.method_params, **ctx.method_params})
    out = args.out or args.results / "tables"
    try:
        tables = named_tables(args.name, args.method)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if grid is not None and args.method is None:  # remedies run but not in a table's own list
        tables = [t.with_methods([*t.methods, *extra])
                  if hasattr(t, "methods")
                  and (extra := [m for m in grid.methods if m not in t.methods]) else t
                  for t in tables]
    records = RecordSet(store.index(), store)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "md" if args.format == "md" else "tex"
    for table in tables:
        rendered = render(table, records, ctx, args.format, store=store)
        path = out / f"{table.file_stem}.{suffix}"
        new = rendered.n_runs - rendered.n_missing
        old = measured_runs(path.read_text(encoding="utf-8")) if path.is_file() else None
        if old is not None and new < old and not args.overwrite:
            beside = path.with_name(f"{table.file_stem}.new.{suffix}")
            beside.write_text(rendered.text, encoding="utf-8")
            print(f"note: kept {path} ({old} runs measured); this rendering has {new}, written "
                  f"to {beside} (--overwrite replaces it)", file=sys.stderr)
        else:
            path.write_text(rendered.text, encoding="utf-8")
        print(rendered.text)
    return 0
