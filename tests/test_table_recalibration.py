"""The recalibration table (issue 32, item 4): each method's accuracy beside the best threshold's at
its own AUC and at none's, from records alone, and the paper's cells through the same model."""

from __future__ import annotations

import pytest

from bench.core.recalibration import best_threshold_accuracy
from bench.core.registry import TABLES, load_builtins
from bench.report.table_recalibration import Recalibration
from bench.report.tables import DASH, GridContext, render

load_builtins()
CTX = GridContext(detectors=("xception",), manipulations=("FaceSwap", "Deepfakes"), profile="smoke")
# (acc, auc) per method and manipulation: `threshold` only moves accuracy, `bleach` loses ranking
CELLS = {"none": {"FaceSwap": (65.0, 80.0), "Deepfakes": (70.0, 90.0)},
         "threshold": {"FaceSwap": (70.0, 80.0), "Deepfakes": (80.0, 90.0)},
         "pixel_bleach": {"FaceSwap": (60.0, 70.0), "Deepfakes": (60.0, 75.0)}}


def records() -> dict:
    return {CTX.spec(detector="xception", manipulation=m, method=k):
            {"metrics": {"frame": {"acc": acc, "auc": auc}}}
            for k, cells in CELLS.items() for m, (acc, auc) in cells.items()}


def best(auc: float) -> str:
    return f"{100 * best_threshold_accuracy(auc / 100):.1f}"


def test_a_threshold_gain_sits_under_the_best_at_the_same_auc():
    df = Recalibration().layout(records(), CTX)
    assert list(df.index) == [("Xception", k) for k in CELLS]
    row = df.loc[("Xception", "threshold")]
    assert row[("FaceSwap", "Acc")] == "70.0" and row[("FaceSwap", "AUC")] == "80.0"
    # AUC unchanged: the best threshold at its own AUC is the one at none's
    assert row[("FaceSwap", "Best@own")] == row[("FaceSwap", "Best@none")] == best(80.0)
    bleach = df.loc[("Xception", "pixel_bleach")]
    assert bleach[("Deepfakes", "Best@own")] == best(75.0)  # its lower AUC caps what it could reach
    assert bleach[("Deepfakes", "Best@none")] == best(90.0)


def test_missing_runs_are_dashes_and_the_caption_says_what_cells_are():
    recs = records()
    del recs[CTX.spec(detector="xception", manipulation="FaceSwap", method="pixel_bleach")]
    df = Recalibration().layout(recs, CTX)
    assert df.loc[("Xception", "pixel_bleach"), ("FaceSwap", "Acc")] == DASH
    text = render(Recalibration(), recs, CTX).text
    assert "no interval, no star" in text and "1 missing" in text


def test_paper_cells_through_the_same_model_and_other_methods():
    ref = Recalibration().reference(GridContext(detectors=("xception",), manipulations=("FaceSwap",)))
    assert ref.loc[("Xception", "none"), ("FaceSwap", "Best@own")] == "76.0"  # docs/recalibration.md
    assert ref.loc[("Xception", "pixel_bleach"), ("FaceSwap", "Acc")] == "79.6"
    assert ref.loc[("Xception", "pixel_bleach"), ("FaceSwap", "Best@none")] == "76.0"
    table = TABLES.get("recalibration")().with_methods(["none", "bn_adapt"])
    assert table.methods == ("none", "bn_adapt") and table.file_stem == "recalibration-none-bn_adapt"
    assert Recalibration().file_stem == "recalibration"


@pytest.mark.parametrize("auc", [None, 50.0, 100.0])
def test_best_at_edges(auc):
    from bench.report.table_recalibration import best_at

    assert best_at(auc) == (None if auc is None else 100.0 * best_threshold_accuracy(auc / 100))
