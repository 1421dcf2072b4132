"""The command line: ``python -m bench run|list|table|reproduce|prepare|calibrate``.

``run`` evaluates a method against the detectors on the LQ test set (and the
``none`` baseline on HQ and LQ), writes one record per run and renders the
main and cross-compression tables. ``table`` renders from records alone;
``reproduce`` runs what a table needs, then renders it. ``calibrate`` reports,
from records alone, how the testbed compares with FaceForensics++'s pattern.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.profiles import PROFILES, get_profile
from bench.registry import (
    COMPRESSIONS,
    DATASETS,
    DETECTORS,
    METHODS,
    REGISTRIES,
    TABLES,
    PluginError,
    UnknownNameError,
    attribute,
    describe,
    known_names,
    load_plugins,
    registered_names,
    resolve,
)
from bench.spec import canonical_json
from bench.store import CorruptRecordError, ResultsStore
from bench.tables import GridContext, RecordSet, Table, get_table, render

EXAMPLES = {
    "run": "python -m bench run --method pixel_bleach --detector all\n"
           "  python -m bench run --method threshold --detector xception --manipulation FaceSwap\n"
           "  python -m bench run --method pixel_bleach --detector resnet50 --cfg-options method.m=0 faces.size=96\n"
           "  python -m bench run --method pixel_bleach --detector all --jobs auto   # detectors side by side on a CPU",
    "list": "python -m bench list\n  python -m bench list compressions",
    "table": "python -m bench table main --format latex\n  python -m bench table all --out paper_tables/\n"
             "  python -m bench table main --method none,threshold",
    "reproduce": "python -m bench reproduce main\n  python -m bench reproduce offset_m --detector xception\n"
                 "  python -m bench reproduce all --jobs auto",
    "prepare": "python -m bench prepare --dataset ffpp --root /data/FaceForensics++ --profile paper",
    "calibrate": "python -m bench calibrate\n  python -m bench calibrate --seeds 0,1,2 --detector xception\n"
                 "  python -m bench calibrate --cues 20   # plus the renderer's cue survival C23 -> C40",
    "sweep": "python -m bench sweep --detector xception --method none,threshold,pixel_bleach "
             "--compression h264_crf18:45:3,jpeg_q10:95:10,deeperforensics\n"
             "  python -m bench sweep --detector xception --compression c40,jpeg_q50 --dry-run",
    "figures": "python -m bench figures\n  python -m bench figures --run RUN_ID --out paper_figures/",
    "report": "python -m bench report\n  python -m bench report --profile smoke --detector tiny",
    "diagnose": "python -m bench diagnose --run pixel_bleach-xception-FaceSwap-c40-0123456789ab",
}


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_cfg_options(items: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``key=value`` pairs -> (method params from ``method.*``, other profile overrides)."""
    method, other = {}, {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--cfg-options: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        (method if key.startswith("method.") else other)[key.removeprefix("method.")] = _parse_value(value)
    return method, other


def default_results() -> Path:
    """Where results go without ``--results``: ``$BLEACHBENCH_RESULTS``, else the project's own
    ``results/`` (beside ``pyproject.toml`` in a checkout), else ``./results`` (installed
    elsewhere): never a folder that depends on where the command was started from a checkout."""
    import os

    if os.environ.get("BLEACHBENCH_RESULTS"):
        return Path(os.environ["BLEACHBENCH_RESULTS"])
    root = Path(__file__).resolve().parents[1]
    return root / "results" if (root / "pyproject.toml").is_file() else Path("results")


RESULTS_HELP = ("results folder: runs/, tables/, cache/, checkpoints/ (default: $BLEACHBENCH_RESULTS, "
                "else the project's results/)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                   help="sizes and schedules (default: quick, the embedded synthetic dataset on CPU)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--results", default=default_results(), type=Path, help=RESULTS_HELP)
    p.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE",
                   help="override profile keys (faces.size=96, train.epochs=5) or method parameters "
                        "(method.s=0.01, method.use_rem=False)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                   help="import a module or a .py file that registers extra "
                        "detectors/methods/compressions/datasets (repeatable)")
    p.add_argument("--dataset", default=None,
                   help="dataset source (default: the profile's; its options are kept when it is "
                        "the same dataset; see `list datasets`)")
    p.add_argument("--root", type=Path, default=None,
                   help="dataset root folder (ffpp, folder, deepfakebench); same as "
                        "--cfg-options dataset.root=DIR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default=None, metavar="0,1,2",
                   help="several seeds (a comma list; overrides --seed): the grid runs once per seed, "
                        "one detector per seed, and tables show mean ± sd across seeds")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _axes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", default="all", help="a detector name, a comma list, or all")
    p.add_argument("--manipulation", default="all", help="a manipulation name, a comma list, or all")
    p.add_argument("--train-compression", default=None, help="HQ compression the detector trains on")
    p.add_argument("--test-compression", default=None, help="LQ compression to test (and fit the method) on")


def _executor(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("jobs (bench/executor.py)")
    g.add_argument("--executor", default="inline", choices=["inline", "local", "slurm"],
                   help="inline: in this process (default); local: one subprocess job per detector "
                        "group through submitit; slurm: one Slurm job per detector group")
    g.add_argument("--jobs", default="1", metavar="N|auto", type=_jobs_arg,
                   help="inline: run N tasks at once in worker processes (a task: one detector's "
                        "training and its none cells, or one method fit and its cells), the CPU "
                        "threads shared out (default: 1, one after the other in this process); "
                        "auto: one per CPU core on a CPU, 1 on a GPU. "
                        "Small CPU trainings do not scale with threads, so on a CPU this is the "
                        "faster way to train several detectors")
    g.add_argument("--slurm-partition", default=None, help="Slurm partition (--executor slurm)")
    g.add_argument("--gpus-per-job", type=int, default=0, help="GPUs per job (default: 0)")
    g.add_argument("--cpus-per-job", type=int, default=None, help="CPUs per job (default: the cluster's)")
    g.add_argument("--timeout", type=int, default=240, metavar="MIN",
                   help="minutes per job; on Slurm a job at its limit is requeued (default: 240)")


def resolve_jobs(value: str | int, device: Any = "cpu") -> int:
    """``--jobs``: a positive int, or ``auto`` (the CPU cores on a CPU, 1 on an accelerator)."""
    text = str(value).strip().lower()
    if text == "auto":
        return (os.cpu_count() or 1) if str(device).startswith("cpu") else 1
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or auto, got {value!r}")
    return jobs


def _jobs_arg(text: str) -> str:
    resolve_jobs(text)  # checked when parsed; resolved against the device later
    return text


def _execute(args: argparse.Namespace, profile: dict[str, Any], specs: list) -> tuple[Any, ResultsStore]:
    """Run ``specs`` in this process, or as submitit jobs (one per detector group) and wait."""
    from types import SimpleNamespace

    if args.executor == "inline":
        from bench.engine import Engine

        engine = Engine(profile, args.results, args.device, progress=not args.quiet)
        jobs = resolve_jobs(getattr(args, "jobs", "1"), engine.device)
        if jobs <= 1:
            return engine.run(specs, force=args.force), engine.store
        from bench.executor import run_pool

        engine.check(specs)  # a bad name or key fails here, before any worker starts
        merged = run_pool(specs, profile, args.results, jobs, device=args.device, force=args.force,
                          plugins=args.plugin, progress=not args.quiet)
    else:
        from bench.executor import submit_grid, wait

        submitted = submit_grid(specs, profile, args.results, executor=args.executor,
                                device=args.device, force=args.force,
                                partition=args.slurm_partition, gpus_per_job=args.gpus_per_job,
                                timeout_min=args.timeout, cpus_per_job=args.cpus_per_job)
        print(f"submitted {len(submitted)} job(s) ({args.executor}): "
              f"{', '.join(str(j.job_id) for j in submitted)}; logs in {args.results / 'jobs'}")
        merged = wait(submitted, progress=not args.quiet)
    for failed in merged["failed"]:
        print(f"job {failed['job']} failed: {failed['error']} (log: {failed['log']}); "
              f"run the same command again to finish its runs", file=sys.stderr)
    return SimpleNamespace(**merged), ResultsStore(args.results)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="bleachbench: deepfake detectors under compression, and remedies such as "
                    "Pixel Bleach (Li, Zheng et al., IEEE TMM 2023).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  " + "\n  ".join(e.splitlines()[0] for e in EXAMPLES.values()))
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="examples:\n  " + EXAMPLES[name])

    p = add("run", "Evaluate a method (and the 'none' baseline) on HQ and LQ test; write records and tables.")
    p.add_argument("--method", default="pixel_bleach", help="a registered method (see `list methods`)")
    _axes(p)
    _common(p)
    p.add_argument("--force", action="store_true", help="re-run runs whose record exists")
    _executor(p)

    p = add("list", "List what is registered: detectors, methods, compressions, datasets, tables.")
    p.add_argument("what", nargs="?", choices=sorted(REGISTRIES), help="one registry (default: all)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")

    p = add("table", "Render a table from the run records alone (nothing is run).")
    p.add_argument("name", help="a table name (see `list tables`) or all")
    p.add_argument("--method", default=None, metavar="M1,M2",
                   help="the methods of a table with a method axis (main, sota, remedies), "
                        "e.g. --method none,flip_tta; written as <table>-<methods>.md")
    p.add_argument("--format", default="md", choices=["md", "latex"])
    p.add_argument("--out", type=Path, default=None, help="folder for the files (default: RESULTS/tables)")
    _axes(p)
    _common(p)

    p = add("reproduce", "Run what a table needs (skipping finished runs), then render it.")
    p.add_argument("name", help="a table name (see `list tables`) or all")
    _axes(p)
    _common(p)
    p.add_argument("--force", action="store_true")
    _executor(p)

    p = add("calibrate", "Report, from the 'none' records alone, where the testbed stands against "
                         "FaceForensics++'s compression pattern (issue 10's targets).")
    _axes(p)
    _common(p)
    p.add_argument("--strict", action="store_true", help="exit 1 if any judged target fails")
    p.add_argument("--cues", type=int, default=0, metavar="N",
                   help="also measure, on N fake/real test pairs of the dataset (no detector: "
                        "datasets/cue_survival.py), how much of each manipulation's HQ cue "
                        "survives the LQ compression")

    p = add("prepare", "Extract, crop and cache the faces of a dataset for a profile.")
    p.add_argument("--compressions", default=None, help="comma list (default: the profile's HQ and LQ)")
    _axes(p)
    _common(p)

    p = add("sweep", "Evaluate a frozen detector and remedies (fitted once, on the LQ compression) "
                     "across compression levels; write a CSV and acc/AUC-vs-severity figures.")
    p.add_argument("--method", default="none,threshold,pixel_bleach", help="comma list of methods")
    p.add_argument("--compression", default="h264_crf18:45:3,jpeg_q10:95:10,deeperforensics",
                   help="comma list of levels: NAME<start>:<stop>:<step> (stop included), a bare "
                        "name, or the group deeperforensics (see bench/sweep.py)")
    p.add_argument("--out", type=Path, default=None, help="folder of sweep.csv (default: RESULTS/sweep)")
    p.add_argument("--dry-run", action="store_true", help="print the levels and the run count only")
    p.add_argument("--force", action="store_true")
    _axes(p)
    _common(p)
    p.set_defaults(detector="xception")

    p = add("figures", "Draw Figs. 4-7 from saved run arrays (nothing is trained or run).")
    p.add_argument("--run", default=None, help="the run id to draw (default: a Pixel Bleach run "
                                               "with default parameters, else the newest with arrays)")
    p.add_argument("--out", type=Path, default=None, help="folder (default: RESULTS/figures)")
    p.add_argument("--results", default=default_results(), type=Path, help=RESULTS_HELP)
    p.add_argument("--seed", type=int, default=0, help="t-SNE seed")

    p = add("report", "Write RESULTS/report.html: every table, the figures and each run's metadata.")
    p.add_argument("--out", type=Path, default=None, help="the HTML file (default: RESULTS/report.html)")
    p.add_argument("--no-draw", action="store_true",
                   help="embed the figures already under RESULTS/figures without redrawing Figs. 4-7")
    _axes(p)
    _common(p)

    p = add("diagnose", "How a fitted Pixel Bleach acts: feature norms, margins, rank order, "
                        "bleach similarity, the offset sample's I (inference only).")
    p.add_argument("--run", required=True, metavar="RUN_ID", help="a pixel_bleach run id (results/runs/RUN_ID.json)")
    p.add_argument("--results", default=default_results(), type=Path, help=RESULTS_HELP)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    return parser


# ------------------------------------------------------------------------------------------ helpers


def _names(arg: str, registry_all: list[str], what: str) -> tuple[str, ...]:
    if arg == "all":
        return tuple(registry_all)
    names = tuple(n.strip() for n in arg.split(",") if n.strip())
    for n in names:
        if n not in registry_all and what != "manipulation":
            resolve(REGISTRIES[what + "s"], n)  # raises with a did-you-mean
    return names


def default_detectors() -> list[str]:
    """``--detector all``: every registered detector not marked ``hidden`` (test-only models)."""
    return [n for n in registered_names(DETECTORS) if not attribute(DETECTORS, n, "hidden", False)]


RUNNING = ("run", "reproduce", "prepare", "sweep")  # commands that build, train or evaluate


def context(args: argparse.Namespace) -> tuple[GridContext, dict[str, Any]]:
    """The grid's axes and the checked profile from the command line (nothing is run)."""
    method_params, overrides = parse_cfg_options(getattr(args, "cfg_options", None))
    root = getattr(args, "root", None)
    profile = get_profile(args.profile, overrides, dataset=args.dataset,
                          root=str(root) if root is not None else None)
    running = getattr(args, "command", None) in RUNNING
    if running:
        from bench.config import check_components

        check_components(profile, " (from --cfg-options)" if overrides else "",
                         detectors=_names(args.detector, default_detectors(), "detector"))
    dataset = profile["dataset"]["type"]
    manips = dataset_manipulations(profile, args.results, strict=running)
    chosen = _names(args.manipulation, manips, "manipulation")
    from bench.checks import check_manipulation

    for m in chosen:
        check_manipulation(m, manips, dataset)
    seeds = parse_seeds(args.seeds) if getattr(args, "seeds", None) else (args.seed,)
    ctx = GridContext(
        dataset=dataset, profile=args.profile, seed=seeds[0], seeds=seeds if len(seeds) > 1 else (),
        detectors=_names(args.detector, default_detectors(), "detector"),
        manipulations=chosen,
        train_compression=args.train_compression or profile["train_compression"],
        test_compression=args.test_compression or profile["test_compression"],
        options=canonical_json(overrides),
        method_params=_method_params(method_params),
    )
    if running:  # every compression is checked before anything is rendered or trained
        from bench.checks import check_compression

        for c in (ctx.train_compression, ctx.test_compression):
            resolve(COMPRESSIONS, c)
            check_compression(c)
    return ctx, profile


def dataset_manipulations(profile: dict[str, Any], results: Path, strict: bool) -> list[str]:
    """The manipulations of the profile's dataset, read from the data (a ``folder`` tree's
    ``fake/<name>`` folders, a DeepfakeBench JSON). Where the source cannot be opened (no root
    here, e.g. rendering a table of another machine's records), the class's list is used unless
    ``strict``, where the error stands."""
    from bench.registry import build

    dataset = profile["dataset"]["type"]
    factory = resolve(DATASETS, dataset)
    cfg = dict(profile["dataset"])
    from bench.config import accepted

    cfg.update(accepted(factory, {"cache_dir": str(Path(results) / "cache" / dataset)}))
    try:
        return list(build(DATASETS, cfg).manipulations)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        if strict:
            raise FileNotFoundError(f"dataset {dataset!r} cannot be opened: {exc}") from exc
        return list(attribute(DATASETS, dataset, "manipulations", ()))


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` -> (0, 1, 2); a clear error on anything else."""
    try:
        seeds = tuple(dict.fromkeys(int(t) for t in text.split(",") if t.strip()))
    except ValueError:
        raise SystemExit(f"--seeds: expected a comma list of integers like 0,1,2, got {text!r}") from None
    if not seeds:
        raise SystemExit("--seeds: no seed given")
    return seeds


def _method_params(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``method.*`` options, given to each method that declares the key (others run as they are)."""
    if not params:  # nothing to hand out: no method module (torch) needs importing
        return {}
    from bench.config import ConfigError, accepted, parameters, suggest

    params = dict(params)
    own: dict[str, dict[str, Any]] = {}  # method.per_method.<name>.<key>: that method only
    for key in [k for k in params if k.startswith("per_method.")]:
        name, _, leaf = key.removeprefix("per_method.").partition(".")
        if not leaf:
            raise ConfigError(f"--cfg-options method.{key}: expected "
                              "method.per_method.<method>.<key>=VALUE")
        factory = resolve(METHODS, name)  # an unknown method: the known ones, did you mean
        if leaf not in parameters(factory):
            raise ConfigError(f"unknown configuration key 'method.{key}' (from --cfg-options): "
                              f"{name} does not take {leaf!r}"
                              f"{suggest(leaf, parameters(factory))}")
        own.setdefault(name, {})[leaf] = params.pop(key)
    out = {name: {**accepted(resolve(METHODS, name), params), **own.get(name, {})}
           for name in registered_names(METHODS)}
    unused = sorted(set(params) - {k for taken in out.values() for k in taken})
    if unused:
        valid = {k for name in registered_names(METHODS) for k in parameters(resolve(METHODS, name))}
        hint = suggest(unused[0], valid).replace("mean '", "mean 'method.")
        raise ConfigError(f"unknown configuration key 'method.{unused[0]}' (from --cfg-options): "
                          f"no method takes it{hint}")
    return {name: taken for name, taken in out.items() if taken}


def _tables(name: str, methods: str | None = None) -> list[Table]:
    """The tables named (``all`` = every registered one), over ``methods`` (a comma list) where
    given: a table with a method axis (main, sota, remedies) then shows exactly those."""
    names = [n for n in known_names(TABLES)] if name == "all" else [name]
    tables = [get_table(n) for n in names]
    if methods:
        chosen = [m.strip() for m in methods.split(",") if m.strip()]
        for m in chosen:
            resolve(METHODS, m)
        tables = [t.with_methods(chosen) if hasattr(t, "methods") or name != "all" else t
                  for t in tables]
    return tables


def write_tables(tables: list[Table], ctx: GridContext, store: ResultsStore, out: Path,
                 formats: tuple[str, ...] = ("md", "latex"), echo: bool = True) -> list[Path]:
    records = RecordSet(store.index(), store)  # shared: arrays and paired tests computed once
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for table in tables:
        for fmt in formats:
            r = render(table, records, ctx, fmt, store=store)
            path = out / f"{table.file_stem}.{'md' if fmt == 'md' else 'tex'}"
            path.write_text(r.text, encoding="utf-8")
            written.append(path)
            if echo and fmt == formats[0]:
                print(r.text)
    return written


def _print_summary(summary: Any, written: list[Path], started: float) -> None:
    print(f"\nran {len(summary.ran)} run(s), skipped {len(summary.skipped)} with existing records "
          f"(--force re-runs them)")
    if summary.stages:
        print("stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.stages.items()))
    if summary.cached:
        print("cached: " + ", ".join(f"{k} {v}" for k, v in summary.cached.items()))
    print("tables: " + ", ".join(str(p) for p in written))
    print(f"total {time.perf_counter() - started:.1f}s")


# ----------------------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    for key in [args.what] if args.what else list(REGISTRIES):
        print(f"{key}:")
        for name, doc in describe(REGISTRIES[key]):
            print(f"  {name:<24} {doc}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bench.experiments import MethodVsNone

    started = time.perf_counter()
    load_plugins(args.plugin)
    resolve(METHODS, args.method)
    ctx, profile = context(args)
    experiment = MethodVsNone(args.method)
    summary, store = _execute(args, profile, experiment.specs(ctx))
    written = write_tables(experiment.tables(), ctx, store, args.results / "tables")
    _print_summary(summary, written, started)
    return 1 if getattr(summary, "failed", None) else 0


def cmd_table(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    ctx, _ = context(args)
    out = args.out or args.results / "tables"
    try:
        tables = _tables(args.name, args.method)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = ResultsStore(args.results)
    _warn_if_empty(store)
    write_tables(tables, ctx, store, out, formats=(args.format,))
    return 0


def _warn_if_empty(store: ResultsStore) -> None:
    """Say so when a command that only reads records finds none (a mistyped ``--results``)."""
    if next(iter(store.runs_dir.glob("*.json")), None) is None:
        print(f"note: no run records in {store.runs_dir} (a results folder holds them under runs/ "
              "or records/); every cell will be empty", file=sys.stderr)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from bench.experiments import TablesExperiment

    started = time.perf_counter()
    load_plugins(args.plugin)
    ctx, profile = context(args)
    tables = _tables(args.name)
    experiment = TablesExperiment([t.name for t in tables])
    summary, store = _execute(args, profile, experiment.specs(ctx))
    written = write_tables(experiment.tables(), ctx, store, args.results / "tables")
    if args.name == "all":  # and what a reader looks at: the figures and the results page
        written += _figures_and_report(args, ctx, tables)
    _print_summary(summary, written, started)
    return 1 if getattr(summary, "failed", None) else 0


def _figures_and_report(args: argparse.Namespace, ctx: GridContext, tables: list[Table],
                        draw: bool = True) -> list[Path]:
    from bench.figures import draw_all
    from bench.report import write_report

    written: list[Path] = []
    if draw:
        drawn, skipped = draw_all(args.results, seed=args.seed)
        written += [d.paths[0] for d in drawn]
        for why in skipped:
            print(f"figure skipped: {why}")
    written.append(write_report(args.results, ctx, tables, getattr(args, "out", None)))
    return written


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench import sweep
    from bench.engine import Engine

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


def cmd_figures(args: argparse.Namespace) -> int:
    from bench.figures import draw_all

    drawn, skipped = draw_all(args.results, run=args.run, out=args.out, seed=args.seed)
    for d in drawn:
        print(" ".join(str(p) for p in d.paths))
    for why in skipped:
        print(f"skipped {why}", file=sys.stderr)
    return 0 if drawn else 1


def cmd_report(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    ctx, _ = context(args)
    tables = _tables("all")
    for path in _figures_and_report(args, ctx, tables, draw=not args.no_draw):
        print(path)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Build the face caches that ``run`` with the same options will read, through the engine's
    own path (the same keys: per manipulation or one ``all`` cache, skip-first, sizes)."""
    from bench.checks import check_compression
    from bench.engine import Engine

    load_plugins(args.plugin)
    ctx, profile = context(args)
    engine = Engine(profile, args.results, args.device, progress=not args.quiet)
    compressions = (args.compressions.split(",") if args.compressions
                    else [ctx.train_compression, ctx.test_compression])
    for c in compressions:
        resolve(COMPRESSIONS, c)
        check_compression(c)
    manips = list(ctx.manipulations) if engine.per_manipulation else ["all"]
    sizes = sorted({engine.image_size(d) for d in ctx.detectors})
    for size in sizes:
        for split in ("train", "val", "test"):
            for c in compressions:
                for m in manips:
                    faces = engine.faces(ctx.dataset, m, c, split, size)
                    print(f"{getattr(faces, 'path', '')}  ({len(faces)} faces)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bench.calibration import report

    load_plugins(args.plugin)
    ctx, profile = context(args)
    store = ResultsStore(args.results)
    _warn_if_empty(store)
    text, checks = report(RecordSet(store.index(), store), ctx)
    if args.cues:
        from bench.engine import Engine
        from bleachbench.datasets.cue_survival import cue_survival, markdown

        source = Engine(profile, args.results, "cpu", progress=False).source(ctx.dataset)
        rows = cue_survival(source, ctx.manipulations, ctx.train_compression, ctx.test_compression,
                            n_pairs=args.cues)
        text += ("\n## Cue survival (dataset only, no detector)\n\n"
                 f"How much of each manipulation's {ctx.train_compression} trace (fake minus its "
                 f"real target) is left at {ctx.test_compression}: 1 = all, 0 = none "
                 "(`datasets/cue_survival.py`; first test pairs; 95 % bootstrap over pairs).\n\n"
                 + markdown(rows, ctx.train_compression, ctx.test_compression))
    out = args.results / "tables" / "calibration.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out}")
    return 1 if args.strict and any(c.holds is False for c in checks) else 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    import json

    from bench.diagnose import diagnose, format_report

    try:
        report = diagnose(args.results, args.run, args.device)
    except ValueError as exc:  # not a pixel_bleach run
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


COMMANDS = {"run": cmd_run, "list": cmd_list, "table": cmd_table, "reproduce": cmd_reproduce,
            "prepare": cmd_prepare, "calibrate": cmd_calibrate, "sweep": cmd_sweep,
            "figures": cmd_figures, "report": cmd_report, "diagnose": cmd_diagnose}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UserError, UnknownNameError, PluginError, CorruptRecordError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # a user's error: one line, exit 2
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are saved; run the same command again to continue",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main", "parse_cfg_options"]
