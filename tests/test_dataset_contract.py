"""Every registered dataset runs end to end through the command line (issue 9).

For each ``DATASETS`` entry the test writes a tiny tree of its own layout, then runs
``python -m bench run`` on the smoke profile with ``--dataset NAME --root DIR``:
records must be written for every manipulation the *data* has (a ``folder`` tree's
``fake/<name>`` folders, not FaceForensics++'s four), and ``prepare`` must build
exactly the caches that ``run`` then reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from test_ffpp import face_clip, make_ffpp_tree

from bench.cli import main
from bench.core.registry import DATASETS, known_names
from bench.core.store import ResultsStore


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(face_clip(seed)[0], cv2.COLOR_RGB2BGR))


def folder_tree(root: Path) -> tuple[list[str], list[str]]:
    """train/val/test with real/ and two fakes of the user's own names, fake/blend and fake/swapx."""
    k = 0
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for cls in ("real", "fake/blend", "fake/swapx"):
            for i in range(n):
                _png(root / split / cls / f"{i}.png", k)
                k += 1
    return ["--cfg-options", "dataset.face_detector=whole"], ["blend", "swapx"]


def ffpp_tree(root: Path) -> tuple[list[str], list[str]]:
    make_ffpp_tree(root, manipulations=("Deepfakes", "FaceSwap"), stored_real=("raw",))
    return ["--cfg-options", "dataset.face_detector=whole",
            "dataset.manipulations=('Deepfakes','FaceSwap')"], ["Deepfakes", "FaceSwap"]


def deepfakebench_tree(root: Path) -> tuple[list[str], list[str]]:
    data: dict = {"FF-real": {}, "FF-DF": {}, "FF-FS": {}}
    k = 0
    for label, cat in (("FF-real", "original_sequences/youtube"),
                       ("FF-DF", "manipulated_sequences/Deepfakes"),
                       ("FF-FS", "manipulated_sequences/FaceSwap")):
        for split, n in (("train", 3), ("val", 2), ("test", 2)):
            vids = {}
            for i in range(n):
                frames = []
                for t in range(3):
                    rel = f"FaceForensics++/{cat}/c23/frames/{split}{i}/{t:03d}.png"
                    _png(root / "rgb" / rel, k)
                    frames.append(f"./datasets/rgb/{rel}")
                k += 1
                vids[f"{split}{i}"] = {"label": label, "frames": frames}
            data[label][split] = {"c23": vids}
    (root / "FaceForensics++.json").write_text(json.dumps({"FaceForensics++": data}))
    return ["--cfg-options", f"dataset.json_path={root / 'FaceForensics++.json'}"], \
        ["Deepfakes", "FaceSwap"]


def synthetic_tree(root: Path) -> tuple[list[str], list[str]]:
    return [], ["FaceSwap", "Face2Face", "Deepfakes", "NeuralTextures"]


TREES = {"synthetic": synthetic_tree, "folder": folder_tree, "ffpp": ffpp_tree,
         "deepfakebench": deepfakebench_tree}


def test_every_registered_dataset_has_a_contract_case():
    assert set(known_names(DATASETS)) == set(TREES)


@pytest.mark.parametrize("name", sorted(TREES))
def test_dataset_runs_through_the_cli(name: str, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    options, manipulations = TREES[name](data)
    root = data / "rgb" if name == "deepfakebench" else data
    root_args = [] if name == "synthetic" else ["--dataset", name, "--root", str(root)]
    results = tmp_path / "results"
    common = ["--profile", "smoke", "--detector", "tiny", "--results", str(results), "--quiet",
              *root_args, *options]
    assert main(["prepare", *common]) == 0, capsys.readouterr().err
    caches = {p.name for p in (results / "cache" / "faces").glob("*/*") if p.is_dir()}
    assert main(["run", *common, "--method", "threshold"]) == 0, capsys.readouterr().err
    after = {p.name for p in (results / "cache" / "faces").glob("*/*") if p.is_dir()}
    assert after == caches  # prepare built exactly what run reads
    records = list(ResultsStore(results).records())
    assert {r["spec"]["manipulation"] for r in records} == set(manipulations)
    assert {r["spec"]["dataset"] for r in records} == {name}
    assert all(r["config"]["dataset"]["type"] == name for r in records)
    table = (results / "tables" / "main-none-threshold.md").read_text()
    assert all(m in table for m in manipulations) and "threshold" in table
