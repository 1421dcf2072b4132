"""prepare: extract, crop and cache the faces of a dataset."""

from __future__ import annotations

import argparse

from bench.cli.options import add_axes, add_common, context
from bench.core.registry import COMPRESSIONS, load_plugins, resolve

ORDER = 5
HELP = "Extract, crop and cache the faces of a dataset for a profile."
EXAMPLES = "python -m bench prepare --dataset ffpp --root /data/FaceForensics++ --profile paper"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compressions", default=None, help="comma list (default: the profile's HQ and LQ)")
    add_axes(p)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Build the face caches that ``run`` with the same options will read, through the engine's
    own path (the same keys: per manipulation or one ``all`` cache, skip-first, sizes)."""
    from bench.run.checks import check_compression
    from bench.run.engine import Engine

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
