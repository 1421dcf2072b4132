"""The documentation builds, and the README stays a README.

- ``mkdocs build --strict`` (``mkdocs.yml`` at the root, pages in ``docs/``) must succeed: a
  broken link, a page missing from the nav, a snippet whose file moved
  (``--8<-- "examples/blur_select.py"``) or a CLI parser the reference hook
  (``docs/hooks/cli_reference.py``) can no longer import all fail the build. Skipped, with the
  reason, only where MkDocs or its Material theme is not installed.
- README.md stays short (at most 200 lines) and holds no history: at most three lines that look
  like a commit hash or a date (the paper's DOI is one). Timings and history belong in
  docs/performance.md and docs/changelog.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HISTORY = re.compile(r"\b[0-9a-f]{7,40}\b|20[0-9]{2}-[01][0-9]-[0-3][0-9]")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not (_has("mkdocs") and _has("material")),
                    reason="mkdocs or mkdocs-material is not installed (pip install mkdocs mkdocs-material)")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    assert "python -m bench run" in cli and "--cfg-options" in cli, "the CLI reference was not generated"


def test_readme_is_short_and_holds_no_history() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail to docs/"
    dated = [line for line in lines if HISTORY.search(line)]
    assert len(dated) <= 3, "README.md lines with a commit hash or a date (history goes in " \
                            "docs/changelog.md, timings in docs/performance.md):\n" + "\n".join(dated)
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text
