"""make-ffpp-sample: a small FaceForensics++-shaped tree of rendered faces, to try the ffpp path."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 20
HELP = ("Write a small FaceForensics++-shaped tree (rendered faces, FF++'s folders and split "
        "files) to try --dataset ffpp without the real data.")
EXAMPLES = ("python -m bench make-ffpp-sample ffpp_sample\n"
            "  python -m bench run --dataset ffpp --root ffpp_sample --profile smoke --detector tiny")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="the folder to write (FF++'s layout under it)")
    p.add_argument("--c40", action="store_true",
                   help="also store c40 copies (default: c23 only; a run then simulates c40 "
                        "from c23, compressed twice)")
    p.add_argument("--split-sizes", default="6,4,4", metavar="TRAIN,VAL,TEST",
                   help="real videos per split, even numbers (default: 6,4,4)")
    p.add_argument("--manipulations", default="FaceSwap,Face2Face,Deepfakes,NeuralTextures",
                   help="a comma list of FF++ manipulations (default: all four)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import sys

    from bleachbench.datasets.ffpp_sample import make_ffpp_sample

    try:
        sizes = tuple(int(v) for v in args.split_sizes.split(","))
        if len(sizes) != 3:
            raise ValueError
    except ValueError:
        print(f"error: --split-sizes takes three numbers like 6,4,4, got {args.split_sizes!r}",
              file=sys.stderr)
        return 2
    manips = [m.strip() for m in args.manipulations.split(",") if m.strip()]
    try:
        counts = make_ffpp_sample(args.dir, sizes, manips, c40=args.c40, seed=args.seed)  # type: ignore[arg-type]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {sum(counts.values())} videos ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
          f"under {args.dir} ({'c23 and c40' if args.c40 else 'c23; c40 is simulated from c23'})")
    extra = "" if set(manips) == {"FaceSwap", "Face2Face", "Deepfakes", "NeuralTextures"} else \
        f" --cfg-options 'dataset.manipulations=[{','.join(manips)}]'"
    print(f"try: python -m bench run --dataset ffpp --root {args.dir} --profile smoke "
          f"--detector tiny{extra}")
    return 0
