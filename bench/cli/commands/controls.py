"""controls: positive controls, a planted degradation each remedy must undo (bench/run/controls.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.cli.options import add_common, context, names
from bench.core.registry import load_plugins

ORDER = 11
HELP = ("Positive controls: plant the degradation each remedy is built to undo on a trained "
        "detector's LQ faces, fit the remedy, report the share of the loss it recovers.")
EXAMPLES = ("python -m bench controls --detector xception --seeds 0\n"
            "  python -m bench controls --detector xception,resnet50 --seeds 0,1,2 --remedies all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--detector", default="xception", help="a detector name or a comma list")
    p.add_argument("--remedies", default="default", metavar="R1,R2|default|all",
                   help="control labels or method names (a comma list); default: every control "
                        "except the ones that retrain a network (bench.run.controls.HEAVY); all: every one")
    p.add_argument("--train-compression", default=None, help="HQ compression the detector trains on")
    p.add_argument("--test-compression", default=None, help="the LQ compression whose faces are planted")
    p.add_argument("--out", default=None, help="markdown table (default: RESULTS/tables/controls.md)")


def chosen_controls(text: str) -> list:
    from bench.run.controls import CONTROLS, HEAVY

    if text == "all":
        return list(CONTROLS)
    if text == "default":
        return [c for c in CONTROLS if c.method not in HEAVY]
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    picked = [c for c in CONTROLS if c.label in wanted or c.method in wanted]
    unknown = [w for w in wanted if not any(w in (c.label, c.method) for c in CONTROLS)]
    if unknown:
        raise ValueError(f"no control for {unknown}; controls: {[c.label for c in CONTROLS]}")
    return picked


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from bench.core import config as C
    from bench.core.registry import METHODS, build, resolve
    from bench.core.spec import RunSpec
    from bench.core.store import atomic_write_text
    from bench.run import controls as K
    from bench.run.engine import Engine, balance_classes
    from bench.run.training import train_detector

    load_plugins(args.plugin)
    args.manipulation, args.command = "all", "controls"
    try:
        picked = chosen_controls(args.remedies)
        ctx, profile = context(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    detectors = names(args.detector, ctx.detectors, "detector")
    seeds = ctx.seeds or (ctx.seed,)
    engine = Engine(profile, args.results, device=args.device, progress=not args.quiet)
    rows: list[dict] = []
    started = time.perf_counter()
    out = Path(args.out) if args.out else Path(args.results) / "tables" / "controls.md"
    head = (f"Positive controls (`python -m bench controls`), profile {ctx.profile}, "
            f"detectors {','.join(detectors)}, seeds {','.join(map(str, seeds))}, "
            f"LQ {ctx.test_compression}; pass = recovers >= {100 * K.PASS_FRACTION:.0f} %."
            + "".join(f" {m} with {', '.join(f'{k}={v}' for k, v in p.items())}."
                      for m, p in ctx.method_params.items()
                      if p and any(c.method == m for c in picked))
            + "\n\n")

    def write(rows: list[dict]) -> None:
        """The table so far: a finished control survives an interrupted run."""
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, head + K.markdown(rows))
        atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=1, default=str) + "\n")

    for det_name in detectors:
        for seed in seeds:
            spec = RunSpec(dataset=ctx.dataset, manipulation="all", detector=det_name,
                           method="none", train_compression=ctx.train_compression,
                           test_compression=ctx.test_compression, profile=ctx.profile,
                           options=ctx.options, seed=seed)
            detector, _ = engine.detector(spec)
            size = engine.image_size(det_name)
            clean = {split: balance_classes(engine.faces(ctx.dataset, "all", ctx.test_compression,
                                                         split, size), seed)
                     for split in ("train", "val", "test")}

            def make(name: str, options: dict, spec: RunSpec = spec) -> object:
                cfg = engine.method_cfg(replace(spec, method=name))
                if "progress" in C.signature_names(resolve(METHODS, name)):
                    cfg["progress"] = not args.quiet
                # --cfg-options method.*: the method's own keys, then the control's (its reading)
                return build(METHODS, {**cfg, **ctx.method_params.get(name, {}), **options})

            got = K.run_controls(picked, make, detector, clean, engine.device, seed=seed,
                                 detector_training=lambda s=spec: engine.detector_training_set(
                                     s, ctx.test_compression),
                                 trainer=train_detector, log=lambda m: print(m, flush=True),
                                 on_row=lambda r, d=det_name, s=seed: (
                                     rows.append({**r, "detector": d, "seed": s}), write(rows)))
            del got  # every row is in ``rows`` already (on_row)
    rows += [{"remedy": m, "no_control": why} for m, why in K.NO_CONTROL.items()]
    write(rows)
    print(K.markdown(rows))
    print(f"wrote {out} ({time.perf_counter() - started:.0f} s)")
    failed = [r for r in rows if not r.get("no_control") and not r["pass"]]
    return 1 if failed else 0
