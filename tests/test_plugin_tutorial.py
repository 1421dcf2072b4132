"""The README tutorial, step by step: a remedy in one file outside the repository, run with ``--plugin``.

The file is ``examples/blur_select.py`` (the README shows it); the test copies it
into an empty temporary folder and runs, from that folder, exactly the
tutorial's commands in a subprocess (the tutorial's smoke profile and tiny
detector).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIAL_COMMANDS = [
    "python -m bench list methods --plugin blur_select.py",
    "python -m bench run --method blur_select --plugin blur_select.py "
    "--detector tiny --manipulation FaceSwap --profile smoke --results results",
]


@pytest.mark.slow
def test_tutorial_plugin_file_runs_from_a_temporary_folder(tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "blur_select.py", tmp_path / "blur_select.py")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the code under test, not another install
    outputs = []
    for command in TUTORIAL_COMMANDS:
        argv = [sys.executable, *command.split()[1:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout)
    assert "blur_select" in outputs[0]
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "runs").glob("*.json")]
    mine = [r for r in records if r["spec"]["method"] == "blur_select"]
    assert len(mine) == 1
    facts = mine[0]["facts"]
    assert facts["sigma"] in (0.0, 0.5, 1.0, 1.5)
    assert facts["declares"]["needs_labels"] and not facts["declares"]["retrains_detector"]
    table = (tmp_path / "results" / "tables" / "main-none-blur_select.md").read_text()
    assert "blur_select" in table and "Pixel Bleach" not in table  # rows and title say what ran
