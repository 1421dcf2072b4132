"""The house's rooms: imports point only downward (cli -> report -> run -> plug-ins -> core).

The core imports nothing else of the project; plug-in folders import only the core (the
registries are the seams); the run machinery never imports reporting or the command line.
Every import is read from source (``ast``), lazy ones inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# room -> the project packages it must not import
FORBIDDEN = {
    "bench/core": ("bench.run", "bench.report", "bench.cli", "bleachbench"),
    "detectors": ("bench.run", "bench.report", "bench.cli"),
    "methods": ("bench.run", "bench.report", "bench.cli"),
    "datasets": ("bench.run", "bench.report", "bench.cli"),
    "bench/run": ("bench.report", "bench.cli"),
    "bench/report": ("bench.cli",),
}


def imported(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_imports_point_only_downward(room: str) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sorted((ROOT / room).rglob("*.py"))
             for line, name in imported(path)
             if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[room])]
    assert not wrong, "\n".join(wrong)
