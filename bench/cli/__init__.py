"""The command line: ``python -m bench COMMAND``; ``python -m bench --help`` lists the commands.

Each command is one module of :mod:`bench.cli.commands` (its options and what it does); what they
share (common options, the grid from the command line, running it, writing tables) is in
:mod:`bench.cli.options`. A user's error is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType
from typing import NoReturn

from bench.cli import commands as _commands
from bench.cli.options import context, default_results, parse_cfg_options, resolve_jobs
from bench.cli.options import per_method_params as _method_params
from bench.core.errors import input_errors


def command_modules() -> dict[str, ModuleType]:
    """Every command module, by command name (the module's name), in help order."""
    mods = [importlib.import_module(f"{_commands.__name__}.{m.name}")
            for m in pkgutil.iter_modules(_commands.__path__) if not m.name.startswith("_")]
    return {m.__name__.rsplit(".", 1)[-1].replace("_", "-"): m
            for m in sorted(mods, key=lambda m: (getattr(m, "ORDER", 99), m.__name__))}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit 2 (the usage is in
    ``--help``), like every other user's error of the command line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole parser: one sub-command per module of :mod:`bench.cli.commands`."""
    mods = command_modules()
    parser = OneLineParser(
        prog="python -m bench",
        description="bleachbench: deepfake detectors under compression, and remedies such as "
                    "Pixel Bleach (Li, Zheng et al., IEEE TMM 2023).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  " + "\n  ".join(m.EXAMPLES.splitlines()[0] for m in mods.values()))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, mod in mods.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="examples:\n  " + mod.EXAMPLES)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; its exit code (2 for a user's error)."""
    args = build_parser().parse_args(argv)
    try:
        return args._run(args)
    except input_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)  # a user's error: one line, exit 2
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are saved; run the same command again to continue",
              file=sys.stderr)
        return 130


__all__ = ["_method_params", "build_parser", "context", "default_results", "main",
           "parse_cfg_options", "resolve_jobs"]
