"""The remedies and remedy_cost tables: one row per (backbone, remedy), laid out from records alone."""

from __future__ import annotations

from typing import Any

from bench.core.registry import load_builtins
from bench.report.table_remedies import REMEDIES, Remedies, RemedyCost
from bench.report.tables import DASH, GridContext, render

load_builtins()
CTX = GridContext(detectors=("tiny",), manipulations=("FaceSwap", "Deepfakes"), profile="smoke")


def record(method: str, acc: float, predict_s: float, added: int = 0) -> dict[str, Any]:
    return {
        "metrics": {"frame": {"acc": acc, "auc": acc / 100}},
        "timings": {"method_fit_s": 2.0, "predict_s": predict_s},
        "facts": {"n_test_faces": 100, "params_added": added,
                  "detector_elements_changed": {"parameters": 7, "buffers": 3 if method == "tent" else 0},
                  "declares": {"retrains_detector": method == "tent", "needs_labels": False,
                               "needs_paired_hq_lq": False, "test_time": method == "tent",
                               "needs_compression_known": False}},
    }


def records_for(methods: tuple[str, ...]) -> dict:
    out = {}
    for k in methods:
        for m, acc in zip(CTX.manipulations, (60.0, 70.0)):
            spec = CTX.spec(detector="tiny", manipulation=m, method=k)
            out[spec] = record(k, acc + (5 if k == "tent" else 0), 0.5 if k == "none" else 0.8,
                               added=11 if k == "tent" else 0)
    return out


def test_remedies_table_has_every_remedy_its_numbers_and_properties() -> None:
    recs = records_for(("none", "tent"))
    df = Remedies().layout(recs, CTX)
    assert [k for _, k in df.index] == list(REMEDIES)
    assert str(df.loc[("tiny", "tent"), ("FaceSwap", "Acc")]) == "65.00"  # no arrays: no ±
    assert df.loc[("tiny", "tent"), ("Test-time", "")] == "✓"
    assert df.loc[("tiny", "none"), ("Test-time", "")] == ""
    assert df.loc[("tiny", "lq_finetune"), ("Deepfakes", "Acc")] == DASH  # not run
    assert df.loc[("tiny", "lq_finetune"), ("Retrains", "")] == "✓"  # from the class flags
    text = render(Remedies(), recs, CTX).text
    assert "missing" in text and "Published numbers" in text


def test_cost_table_is_extra_time_over_none_and_parameters_added() -> None:
    df = RemedyCost().layout(records_for(("none", "tent")), CTX)
    assert df.loc[("tiny", "none"), "ms/face"] == "5.00"
    assert df.loc[("tiny", "tent"), "extra ms/face"] == "3.00"
    assert df.loc[("tiny", "tent"), "params added"] == "11"
    assert df.loc[("tiny", "head_refit"), "params added"] == DASH
    assert df.loc[("tiny", "tent"), "detector params changed"] == "7"
    assert df.loc[("tiny", "tent"), "detector buffers changed"] == "3"  # BatchNorm statistics
