"""What the commands share: common options, the grid's context from the command line,
running a grid (in this process, a pool or submitit jobs) and writing tables."""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.core.profiles import PROFILES, get_profile
from bench.core.registry import (
    COMPRESSIONS,
    DATASETS,
    DETECTORS,
    METHODS,
    REGISTRIES,
    TABLES,
    attribute,
    known_names,
    registered_names,
    resolve,
)
from bench.core.spec import canonical_json
from bench.core.store import ResultsStore
from bench.report.tables import GridContext, RecordSet, Table, get_table, render


def _parse_value(text: str) -> Any:
    """A Python literal (``5``, ``'a,b'``, ``{'k': 1}``, ``['x', 'y']``) as written; otherwise as
    mmengine's ``DictAction`` reads it: ``a,b`` and ``[a,b]`` are lists, brackets nest
    (``[a,(b,c)]``), ``true``/``false``/``none`` and numbers are converted, a bare word is a
    string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    from mmengine.config import DictAction

    try:
        return DictAction._parse_iterable(text)
    except Exception:  # unbalanced brackets: keep the text, the key's check names it
        return text


def parse_cfg_options(items: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``key=value`` pairs -> (method params from ``method.*``, other profile overrides)."""
    method, other = {}, {}
    for item in items or []:
        if "=" not in item:
            from bench.core.config import ConfigError

            raise ConfigError(f"--cfg-options: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        (method if key.startswith("method.") else other)[key.removeprefix("method.")] = _parse_value(value)
    return method, other


def default_results() -> Path:
    """Where a run works without ``--results``: ``$BLEACHBENCH_RESULTS``, else the project's own
    ``work_dirs/`` (beside ``pyproject.toml`` in a checkout; mmengine's convention), else
    ``./work_dirs`` (installed elsewhere). Never ``results/``, which holds the published sets
    only, so a user's run cannot dirty the checkout or mix with a published record."""
    import os

    if os.environ.get("BLEACHBENCH_RESULTS"):
        return Path(os.environ["BLEACHBENCH_RESULTS"])
    root = Path(__file__).resolve().parents[2]
    return root / "work_dirs" if (root / "pyproject.toml").is_file() else Path("work_dirs")


RESULTS_HELP = ("work folder: runs/, tables/, cache/, checkpoints/ (default: $BLEACHBENCH_RESULTS, "
                "else the project's work_dirs/); a published set such as results/quick to render "
                "its tables")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                   help="sizes and schedules (default: quick, the embedded synthetic dataset on CPU)")
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="a configuration file (mmengine Config, may inherit a profile with "
                        "_base_; see `config show`); replaces --profile")
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
    p.add_argument("--seed", type=int_at_least(0, 2**32 - 1), default=0)
    p.add_argument("--seeds", default=None, metavar="0,1,2",
                   help="several seeds (a comma list; overrides --seed): the grid runs once per seed, "
                        "one detector per seed, and tables show mean ± sd across seeds")
    p.add_argument("--fit-seeds", default=None, metavar="0,1,2",
                   help="fit each remedy once per fit seed on the same trained detector (a comma "
                        "list; default: the profile's fit_seeds, quick 0,1,2, else one fit); "
                        "stars test remedy minus none over fits and test videos. Fit seed 0 is "
                        "the historical fit (same run ids); `none` runs once per detector seed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_axes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", default="all", help="a detector name, a comma list, or all")
    p.add_argument("--manipulation", default="all", help="a manipulation name, a comma list, or all")
    p.add_argument("--train-compression", default=None, help="HQ compression the detector trains on")
    p.add_argument("--test-compression", default=None, help="LQ compression to test (and fit the method) on")


def add_executor(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("jobs (bench/run/executor.py)")
    g.add_argument("--executor", default="inline", choices=["inline", "local", "slurm"],
                   help="inline: in this process (default); local: one subprocess job per detector "
                        "group through submitit; slurm: one Slurm job per detector group")
    g.add_argument("--jobs", default="1", metavar="N|auto", type=jobs_arg,
                   help="inline: run N tasks at once in worker processes (a task: one detector's "
                        "training and its none cells, or one method fit and its cells), the CPU "
                        "threads shared out (default: 1, one after the other in this process); "
                        "auto: one per CPU core on a CPU, 1 on a GPU. "
                        "Small CPU trainings do not scale with threads, so on a CPU this is the "
                        "faster way to train several detectors")
    g.add_argument("--slurm-partition", default=None, help="Slurm partition (--executor slurm)")
    g.add_argument("--gpus-per-job", type=int_at_least(0), default=0, help="GPUs per job (default: 0)")
    g.add_argument("--cpus-per-job", type=int_at_least(1), default=None, help="CPUs per job (default: the cluster's)")
    g.add_argument("--timeout", type=int_at_least(1), default=240, metavar="MIN",
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


def int_at_least(lo: int, hi: int | None = None) -> Any:
    """An argparse ``type``: an integer ``>= lo`` (and ``<= hi``), else a one-line error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {lo}{f' and <= {hi}' if hi is not None else ''}, "
                f"got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def jobs_arg(text: str) -> str:
    resolve_jobs(text)  # checked when parsed; resolved against the device later
    return text


def execute(args: argparse.Namespace, profile: dict[str, Any], specs: list) -> tuple[Any, ResultsStore]:
    """Run ``specs`` in this process, or as submitit jobs (one per detector group) and wait."""
    from types import SimpleNamespace

    if args.executor == "inline":
        from bench.run.engine import Engine

        engine = Engine(profile, args.results, args.device, progress=not args.quiet)
        jobs = resolve_jobs(getattr(args, "jobs", "1"), engine.device)
        if jobs <= 1:
            return engine.run(specs, force=args.force), engine.store
        from bench.run.executor import run_pool

        engine.check(specs)  # a bad name or key fails here, before any worker starts
        merged = run_pool(specs, profile, args.results, jobs, device=args.device, force=args.force,
                          plugins=args.plugin, progress=not args.quiet)
    else:
        from bench.run.executor import submit_grid, wait

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


def exit_code(summary: Any) -> int:
    """0: every run finished; 2: a job failed on bad input (a corrupt file, a bad value: as the
    same error exits without ``--jobs``); 1: a job crashed."""
    failed = getattr(summary, "failed", None) or []
    if any(f.get("kind") == "input" for f in failed):
        return 2
    return 1 if failed else 0


def names(arg: str, registry_all: list[str], what: str) -> tuple[str, ...]:
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
                          root=str(root) if root is not None else None,
                          config=getattr(args, "config", None))
    running = getattr(args, "command", None) in RUNNING
    if running:
        from bench.core.config import check_components

        check_components(profile, " (from --cfg-options)" if overrides else "",
                         detectors=names(args.detector, default_detectors(), "detector"))
    dataset = profile["dataset"]["type"]
    manips = dataset_manipulations(profile, args.results, strict=running)
    chosen = names(args.manipulation, manips, "manipulation")
    from bench.run.checks import check_manipulation

    for m in chosen:
        check_manipulation(m, manips, dataset)
    seeds = parse_seeds(args.seeds) if getattr(args, "seeds", None) is not None else (args.seed,)
    from bench.core.config import profile_fit_seeds

    fit_seeds = (parse_seeds(args.fit_seeds, "--fit-seeds")
                 if getattr(args, "fit_seeds", None) is not None else profile_fit_seeds(profile))
    ctx = GridContext(
        dataset=dataset, profile=profile["name"], seed=seeds[0], seeds=seeds if len(seeds) > 1 else (),
        detectors=names(args.detector, default_detectors(), "detector"),
        manipulations=chosen,
        fit_seeds=fit_seeds if fit_seeds != (0,) else (),
        train_compression=args.train_compression or profile["train_compression"],
        test_compression=args.test_compression or profile["test_compression"],
        options=canonical_json(overrides),
        method_params=per_method_params(method_params),
    )
    if running:  # every compression is checked before anything is rendered or trained
        from bench.run.checks import check_compression

        for c in (ctx.train_compression, ctx.test_compression):
            resolve(COMPRESSIONS, c)
            check_compression(c)
    return ctx, profile


def dataset_manipulations(profile: dict[str, Any], results: Path, strict: bool) -> list[str]:
    """The manipulations of the profile's dataset, read from the data (a ``folder`` tree's
    ``fake/<name>`` folders, a DeepfakeBench JSON). Where the source cannot be opened (no root
    here, e.g. rendering a table of another machine's records), the class's list is used unless
    ``strict``, where the error stands."""
    from bench.core.registry import build

    dataset = profile["dataset"]["type"]
    factory = resolve(DATASETS, dataset)
    cfg = dict(profile["dataset"])
    from bench.core.config import accepted

    cfg.update(accepted(factory, {"cache_dir": str(Path(results) / "cache" / dataset)}))
    try:
        return list(build(DATASETS, cfg).manipulations)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        if strict:
            raise FileNotFoundError(f"dataset {dataset!r} cannot be opened: {exc}") from exc
        return list(attribute(DATASETS, dataset, "manipulations", ()))


def parse_seeds(text: str, option: str = "--seeds") -> tuple[int, ...]:
    """``--seeds 0,1,2`` -> (0, 1, 2); anything else (an empty item, a non-integer, a negative
    seed, nothing at all) is a :class:`UserError` naming the option (one line, exit 2)."""
    expected = f"{option}: expected a comma list of integers 0 to {2**32 - 1} like 0,1,2, got {text!r}"
    items = [t.strip() for t in str(text).split(",")]
    if not str(text).strip():
        raise UserError(f"{option}: no seed given ({expected.partition(': ')[2]})")
    try:
        seeds = tuple(dict.fromkeys(int(t) for t in items))
    except ValueError:
        raise UserError(expected) from None
    if min(seeds) < 0 or max(seeds) >= 2**32:
        raise UserError(expected)
    return seeds


def per_method_params(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``method.*`` options, given to each method that declares the key (others run as they are)."""
    if not params:  # nothing to hand out: no method module (torch) needs importing
        return {}
    from bench.core.config import ConfigError, accepted, parameters, suggest

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
    from bench.core.schema import check_method_params

    check_method_params(own, "method.per_method.{name}")  # types and ranges, each method's
    check_method_params(out)  # own too (bench/core/schema.py)
    return {name: taken for name, taken in out.items() if taken}


def named_tables(name: str, methods: str | None = None) -> list[Table]:
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


def print_summary(summary: Any, written: list[Path], started: float) -> None:
    print(f"\nran {len(summary.ran)} run(s), skipped {len(summary.skipped)} with existing records "
          f"(--force re-runs them)")
    if summary.stages:
        print("stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.stages.items()))
    if summary.cached:
        print("cached: " + ", ".join(f"{k} {v}" for k, v in summary.cached.items()))
    print("tables: " + ", ".join(str(p) for p in written))
    print(f"total {time.perf_counter() - started:.1f}s")

def warn_if_empty(store: ResultsStore) -> None:
    """Say so when a command that only reads records finds none (a mistyped ``--results``)."""
    if not store.record_paths():
        print(f"note: no run records in {store.runs_dir} (a results folder holds them under runs/ "
              "or records/); every cell will be empty", file=sys.stderr)


def figures_and_report(args: argparse.Namespace, ctx: GridContext, tables: list[Table],
                        draw: bool = True) -> list[Path]:
    from bench.report.figures import draw_all
    from bench.report.page import write_report

    written: list[Path] = []
    if draw:
        drawn, skipped = draw_all(args.results, seed=args.seed)
        written += [d.paths[0] for d in drawn]
        for why in skipped:
            print(f"figure skipped: {why}")
    written.append(write_report(args.results, ctx, tables, getattr(args, "out", None)))
    return written
