"""Positive controls (bench/run/controls.py) on a toy detector: each remedy undoes the degradation
it is built to undo; and Pixel Bleach's ``select_untrained`` (the untrained state is a candidate)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from _toy import TwoConvDetector, checkerboard_faces, train_toy

import bleachbench.methods.pixel_bleach  # noqa: F401  (registers the methods)
from bench.core.registry import METHODS, build
from bench.run.controls import (
    CONTROLS,
    MIN_DROP,
    add_pattern,
    affine_shift,
    markdown,
    run_controls,
    search_plant,
    shift_to_drop,
)
from bleachbench.methods.pixel_bleach import PixelBleach

# a small generator and a higher lr: the toy offset set is a few dozen faces, a step or two per epoch
OPTIONS = {"pixel_bleach": {"epochs": 4, "batch_size": 16, "base_channels": 16, "lr": 1e-3,
                            "progress": False}}


@pytest.fixture(scope="module")
def toy() -> tuple[TwoConvDetector, dict]:
    torch.manual_seed(0)
    det = train_toy(TwoConvDetector(), checkerboard_faces(256, 0, 0.04), epochs=4)
    for p in det.parameters():
        p.requires_grad_(False)
    clean = {"train": checkerboard_faces(160, 1, 0.04), "val": checkerboard_faces(64, 2, 0.04),
             "test": checkerboard_faces(128, 3, 0.04)}
    return det, clean


def make(name: str, options: dict) -> object:
    return build(METHODS, {"type": name, **OPTIONS.get(name, {}), **options})


def test_plants_are_clipped_uint8_and_shift_the_scores(toy) -> None:
    det, clean = toy
    faces = clean["val"]
    assert add_pattern(faces, np.full((32, 32, 3), 300)).images.max() == 255
    assert affine_shift(faces, 1.0, -300).images.max() == 0
    cast = affine_shift(faces, (1.0, 1.0, 1.0), (0, 0, -300)).images  # per channel: a colour cast
    assert cast[..., 2].max() == 0 and np.array_equal(cast[..., :2], faces.images[..., :2])
    plant = search_plant("pattern", det, faces, torch.device("cpu"))
    assert plant.meets_target and plant.val_drop >= MIN_DROP and plant.val_auc_move <= 0.015


def test_shift_to_drop_is_the_smallest_shift_that_costs_the_drop() -> None:
    """The pattern's target: the signed margin shift, nearest first, that costs ``drop``."""
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    margin = np.array([-3.0, -2.0, -0.5, 1.0, 0.2, 2.0, 3.0, 4.0])  # 7 of 8 right
    # two more wrong: up by 2 (-0.5 and -2.0 turn fake), down by 3 (0.2 wrong, 1.0 right, 2, 3 wrong)
    assert shift_to_drop(labels, margin, 0.25) == pytest.approx(2.001)
    assert shift_to_drop(labels, margin, 0.125) == pytest.approx(-0.201)  # 0.2 turns real
    assert shift_to_drop(labels, margin, 0.9) == float("inf")  # no shift costs 90 points


def test_controls_pass_for_pixel_bleach_threshold_and_bn_adapt(toy, tmp_path) -> None:
    det, clean = toy
    picked = [c for c in CONTROLS if c.method in ("pixel_bleach", "threshold", "bn_adapt")]
    assert len(picked) == 4  # both bleach readings
    rows = run_controls(picked, make, det, clean, torch.device("cpu"), tmp_path)
    table = markdown(rows)
    for row in rows:
        assert row["plant_meets_target"], row
        assert row["pass"], table
        assert row["threshold_ceiling"] >= 0.7, table  # the planted loss is one a threshold undoes
    assert table.count("| yes |") == 4


# The remedies that retrain a network, at the toy's scale: a detector schedule like train_toy's,
# and restoration's U-Net long enough for 160 faces (at its default 5 epochs, 25 steps, it
# recovers 15 %; at 20 epochs 100 %).
TOY_TRAINING = {"epochs": 8, "batch_size": 32, "lr": 3e-3, "progress": False, "flip": False}
HEAVY_OPTIONS = {"restoration": {"epochs": 20}}


def test_controls_pass_for_every_other_remedy(toy, tmp_path) -> None:
    """head_refit, tent and the five remedies that retrain a network (``HEAVY``) each undo their
    plant on the toy detector; paired remedies get the clean faces as partners."""
    from bench.run.controls import HEAVY
    from bench.run.training import train_detector

    det, clean = toy
    clean = {k: replace(v, frame_index=np.zeros(len(v.images), np.int64)) for k, v in clean.items()}
    picked = [c for c in CONTROLS if c.method in ("head_refit", "tent") + HEAVY]
    assert len(picked) == 7

    def make_heavy(name: str, options: dict) -> object:
        return make(name, {**HEAVY_OPTIONS.get(name, {}), **options})

    rows = run_controls(picked, make_heavy, det, clean, torch.device("cpu"), tmp_path,
                        trainer=train_detector,
                        detector_training=lambda: (clean["train"], None, dict(TOY_TRAINING)))
    table = markdown(rows)
    assert [r["remedy"] for r in rows if not r["pass"]] == [], table


def test_select_untrained_keeps_no_bleach_when_nothing_is_wrong(toy, tmp_path) -> None:
    """Clean faces (nothing to undo): the untrained state (epoch -1, bleach 0) is a candidate and
    wins ties; at the default (False) the option is left out of params() (old run ids kept)."""
    det, clean = toy
    assert "select_untrained" not in PixelBleach().params()
    assert PixelBleach(select_untrained=True).params()["select_untrained"] is True
    method = PixelBleach(select_untrained=True, **OPTIONS["pixel_bleach"])
    facts = method.fit(det, clean["train"], clean["val"], tmp_path, torch.device("cpu"))
    assert facts["history"][0]["epoch"] == -1
    assert facts["best_epoch"] == -1
    x = clean["test"].tensors(slice(0, 16))[0]
    assert torch.equal(method.bleaches(x), torch.zeros_like(x))


def test_controls_command_fits_with_the_method_options(tmp_path) -> None:
    """``--cfg-options method.*`` reaches the control's fit (it was silently dropped), and the
    table says which options it ran with."""
    import json

    from bench.cli import main

    code = main(["controls", "--profile", "smoke", "--detector", "tiny",
                 "--remedies", "pixel_bleach (reread)", "--cfg-options", "method.epochs=3",
                 "--results", str(tmp_path), "--quiet"])
    assert code in (0, 1)  # the smoke detector is at chance on LQ: its controls may fail
    rows = json.loads((tmp_path / "tables" / "controls.json").read_text())
    row = next(r for r in rows if r.get("remedy") == "pixel_bleach (reread)")
    assert row["epochs_run"] == 3
    assert "pixel_bleach with epochs=3" in (tmp_path / "tables" / "controls.md").read_text()
