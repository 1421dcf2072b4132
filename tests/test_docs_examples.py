"""The plug-in examples of README.md and docs/extending.md run as written (issue 33 item 5).

Every fenced ``python`` block that starts with ``# <file>.py:`` is a complete plug-in file:
the test writes it to that file in an empty folder and runs it with ``--plugin`` (smoke
profile, tiny detector) in a subprocess. A block included from a file (``--8<--``) is that
file, run by its own test (examples/blur_select.py: tests/test_plugin_tutorial.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def plugin_blocks(path: Path) -> list[tuple[str, str]]:
    out = []
    for body in BLOCK.findall(path.read_text(encoding="utf-8")):
        head = re.match(r"# (\w+\.py):", body)
        if head:
            out.append((head.group(1), body))
    return out


BLOCKS = [(doc, name, body) for doc in ("README.md", "docs/extending.md")
          for name, body in plugin_blocks(REPO / doc)]

# A block that two pages show word for word (README.md's my_codec.py is docs/extending.md's) is
# one file: it runs once, and its test names every page that shows it.
_PAGES: dict[tuple[str, str], list[str]] = {}
for _doc, _name, _body in BLOCKS:
    _PAGES.setdefault((_name, _body), []).append(_doc)
FILES = [("+".join(docs), name, body) for (name, body), docs in _PAGES.items()]


def test_each_plugin_example_is_a_complete_file() -> None:
    assert {(d, n) for d, n, _ in BLOCKS} >= {("README.md", "my_codec.py"),
                                              ("README.md", "my_detector.py"),
                                              ("docs/extending.md", "my_codec.py")}


@pytest.mark.slow
@pytest.mark.parametrize("doc,name,body", FILES, ids=[f"{d}:{n}" for d, n, _ in FILES])
def test_docs_plugin_runs_as_written(tmp_path: Path, doc: str, name: str, body: str) -> None:
    (tmp_path / name).write_text(body, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    level = re.search(r'r"(\w+?)\(\?P<level>', body)
    argv = [sys.executable, "-m", "bench", "run", "--plugin", name, "--profile", "smoke",
            "--detector", "tiny", "--manipulation", "FaceSwap", "--method", "none",
            "--results", "results"]
    detector = re.search(r'DETECTORS\.register_module\(name="(\w+)"\)', body)
    if detector:  # a detector: run it (at the profile's face size)
        argv[argv.index("tiny")] = detector.group(1)
    if level:  # a compression family: test on one of its levels
        argv += ["--test-compression", f"{level.group(1)}30"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, f"{doc} {name}:\n{done.stderr[-3000:]}"
    assert list((tmp_path / "results" / "runs").glob("*.json"))
