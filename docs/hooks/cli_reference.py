"""MkDocs hook: the command-line reference, generated from the argparse parser.

``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; on every build this hook
replaces it with the ``--help`` of ``python -m bench`` and of each subcommand (and of
their own subcommands, such as ``config show``), taken from ``bench.cli.build_parser()``.
The page cannot drift from the code: the text is the parser's own.

What it imports from the project: ``bench.cli.build_parser`` (a function that returns the
``argparse.ArgumentParser`` that ``bench.cli.main`` parses with). Building the parser
imports no torch (``python -m bench --help`` does not), so the docs build stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
WIDTH = "100"  # columns argparse wraps the help at (fixed, so the page does not follow a terminal)


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``(name, parser)`` of each subcommand, in the order they were added, aliases skipped."""
    seen: set[int] = set()
    for action in parser._actions:  # argparse keeps no public list of subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield name, sub


def _sections(parser: argparse.ArgumentParser, words: list[str], level: int) -> list[str]:
    """A heading and the help text of ``parser``, then the same for each of its subcommands."""
    title = " ".join(words)
    out = [f"{'#' * level} `{title}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subcommands(parser):
        out += _sections(sub, [*words, name], min(level + 1, 4))
    return out


def reference() -> str:
    """The whole generated reference, as markdown."""
    root = str(Path(__file__).resolve().parents[2])  # the repository, for a checkout not installed
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.cli import build_parser

    saved = {key: os.environ.get(key) for key in ("COLUMNS", "NO_COLOR")}
    os.environ["COLUMNS"], os.environ["NO_COLOR"] = WIDTH, "1"
    try:
        parser = build_parser()
        return "\n".join(_sections(parser, [parser.prog], 2))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs' signature)
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its marker {MARKER}: the CLI reference has nowhere to go")
    return markdown.replace(MARKER, reference())
