"""Hugging Face's ``datasets`` and bleachbench live in one environment (issue 9).

The project's folders are installed as ``bleachbench.datasets`` (and ``.detectors``,
``.methods``): a stand-in package named ``datasets`` placed on ``sys.path``, as Hugging
Face's would be, is what ``import datasets`` returns, and the harness still builds its own
datasets and runs the smoke profile end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CODE = """
import sys
import datasets
assert getattr(datasets, "HUGGING_FACE", False), datasets.__file__
from bench.cli import main
code = main(["run", "--profile", "smoke", "--detector", "tiny", "--manipulation", "FaceSwap",
             "--method", "none", "--quiet", "--results", sys.argv[1]])
import datasets as again
assert again is datasets and getattr(again, "HUGGING_FACE", False)
assert "bleachbench.datasets.synthetic" in sys.modules
print("ok", code)
sys.exit(code)
"""


@pytest.mark.slow
def test_a_package_named_datasets_does_not_clash(tmp_path: Path) -> None:
    hf = tmp_path / "site" / "datasets"
    hf.mkdir(parents=True)
    (hf / "__init__.py").write_text("HUGGING_FACE = True\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "results")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok 0" in done.stdout
    assert list((tmp_path / "results" / "runs").glob("*.json"))


UNINSTALLED = """
import sys
# As on a machine where the project was never pip-installed (the GPU image's own python3):
# drop the editable install's finder, so only the checkout on sys.path can be found.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
assert not any(m.startswith("bleachbench") for m in sys.modules)
import bleachbench.datasets.ffpp as ffpp
import bleachbench.detectors, bleachbench.methods
print(ffpp.__file__)
"""


def test_a_checkout_that_was_never_installed_imports_its_folders() -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", UNINSTALLED], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.strip()) == root / "datasets" / "ffpp.py"
