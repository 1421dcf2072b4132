"""list: what is registered (detectors, methods, compressions, datasets, tables)."""

from __future__ import annotations

import argparse

from bench.core.registry import REGISTRIES, describe, load_plugins

ORDER = 1
HELP = "List what is registered: detectors, methods, compressions, datasets, tables."
EXAMPLES = "python -m bench list\n  python -m bench list compressions"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", choices=sorted(REGISTRIES), help="one registry (default: all)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    for key in [args.what] if args.what else list(REGISTRIES):
        print(f"{key}:")
        for name, doc in describe(REGISTRIES[key]):
            print(f"  {name:<24} {doc}")
    return 0
