"""config: show the resolved configuration a run would use and record."""

from __future__ import annotations

import argparse

from bench.cli.options import add_common, context

ORDER = 10
HELP = ("Print the resolved configuration (profile or --config file, then --cfg-options) as a "
        "config file that --config reads back.")
EXAMPLES = ("python -m bench config show\n"
            "  python -m bench config show --profile smoke --cfg-options train.epochs=2 > mine.py\n"
            "  python -m bench run --method pixel_bleach --detector all --config mine.py")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"], help="show: print the resolved configuration")
    p.add_argument("--detector", default="all", help="a detector name, a comma list, or all")
    p.add_argument("--manipulation", default="all", help=argparse.SUPPRESS)
    p.add_argument("--train-compression", default=None, help=argparse.SUPPRESS)
    p.add_argument("--test-compression", default=None, help=argparse.SUPPRESS)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    from mmengine.config import Config

    _, profile = context(args)
    text = Config({k: v for k, v in profile.items() if k != "name"}).pretty_text
    print(f"# the resolved configuration of profile {profile['name']!r}\n" + text)
    return 0
