"""The compression sweep: level parsing, the CSV's schema from records, bands only with intervals."""

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.core.store import ResultsStore
from bench.report import sweep
from bench.report.tables import GridContext


def names(text):
    return [lv.name for lv in sweep.parse_levels(text)]


def test_range_includes_stop_when_steps_land_on_it():
    assert names("h264_crf18:45:3") == [f"h264_crf{c}" for c in range(18, 46, 3)]
    assert names("jpeg_q10:95:10") == [f"jpeg_q{q}" for q in range(10, 91, 10)]
    assert names("jpeg_q90:50:-20") == ["jpeg_q90", "jpeg_q70", "jpeg_q50"]


def test_levels_know_their_family_and_parameter():
    crf, q, bare = sweep.parse_levels("h264_crf30,jpeg_q50:50:1,web_upload")
    assert (crf.family, crf.param, crf.value) == ("h264_crf", "crf", 30)
    assert (q.family, q.param, q.value) == ("jpeg_q", "quality", 50)
    assert (bare.family, bare.param, bare.value) == ("web_upload", "", None)


def test_deeperforensics_expands_to_its_registered_levels():
    from bleachbench.datasets.compression_deeperforensics import DF_LEVELS

    levels = sweep.parse_levels("deeperforensics")
    assert len(levels) == 5 * len(DF_LEVELS) == 35
    assert levels[0].name == f"df_{next(iter(DF_LEVELS))}_1" and levels[0].param == "level"
    assert {lv.family for lv in levels} == {f"df_{k}" for k in DF_LEVELS}


def test_repeats_are_dropped_in_order():
    assert names("c40,jpeg_q50,c40,jpeg_q40:50:10") == ["c40", "jpeg_q50", "jpeg_q40"]


@pytest.mark.parametrize("bad, message", [
    ("jpeg_q10:95:0", "step 0"),
    ("jpeg_q95:10:10", "never goes"),
    ("foo1:5:1", "not a numbered compression family"),
    ("jpeg_q0:100:50", "quality must be"),
    ("c41", "Did you mean"),
    ("h264_crf1:2", "expected <name><start>:<stop>:<step>"),
    ("", "no levels"),
])
def test_bad_levels_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        sweep.parse_levels(bad)


CTX = GridContext(dataset="synthetic", profile="smoke", detectors=("tiny",),
                  manipulations=("FaceSwap", "Deepfakes"))


def test_remedies_fit_once_on_the_profiles_lq():
    levels = sweep.parse_levels("c40,jpeg_q50")
    specs = sweep.sweep_specs(CTX, ["none", "threshold"], levels)
    assert len(specs) == 1 * 2 * 2 * 2
    fits = {(s.method, s.test_compression): s.method_fit_compression for s in specs}
    assert fits[("threshold", "jpeg_q50")] == "c40" == fits[("threshold", "c40")]
    assert fits[("none", "jpeg_q50")] == "jpeg_q50"
    # the LQ run is the main table's run (same id)
    main_spec = CTX.spec(detector="tiny", manipulation="FaceSwap", method="threshold")
    assert main_spec in specs


def test_csv_schema_one_row_per_cell_with_intervals_when_recorded(tmp_path):
    levels = sweep.parse_levels("c40,jpeg_q50:90:40")
    methods = ["none", "threshold"]
    specs = sweep.sweep_specs(CTX, methods, levels)
    store = ResultsStore(tmp_path)
    for i, s in enumerate(specs[:-1]):  # the last run is missing
        frame = {"acc": 50.0 + i, "auc": 60.0 + i, "n": 18}
        if s.method == "threshold":
            frame |= {"acc_ci": [40.0 + i, 60.0 + i], "auc_ci": [50.0, 70.0]}
        store.write(s, {"frame": frame})
    df = sweep.sweep_rows(store.index(), CTX, methods, levels)
    path = sweep.write_csv(df, tmp_path / "sweep" / "sweep.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == sweep.CSV_COLUMNS
    assert len(back) == len(specs) == 12
    assert not back.duplicated(["detector", "method", "compression", "level", "manipulation"]).any()
    jpeg = back[(back["compression"] == "jpeg_q") & (back["method"] == "threshold")]
    assert sorted(jpeg["level"].unique()) == [50, 90] and set(jpeg["level_param"]) == {"quality"}
    assert (jpeg["acc_ci_low"].dropna() < jpeg["acc"].dropna()).all()
    none = back[back["method"] == "none"]
    assert none["acc_ci_low"].isna().all() and none["fit_compression"].isna().all()
    assert back["acc"].isna().sum() == 1 and back["run_id"].notna().all()
    assert set(back.loc[back["method"] == "threshold", "fit_compression"]) == {"c40"}


def test_interval_formats():
    assert sweep.interval({"acc_ci": [1, 2]}, "acc") == (1.0, 2.0)
    assert sweep.interval({"acc_ci": {"low": 1, "high": 2}}, "acc") == (1.0, 2.0)
    assert sweep.interval({"acc_ci": None}, "acc") == (None, None)
    assert sweep.interval({}, "auc") == (None, None)


def test_plot_draws_bands_only_where_intervals_exist(tmp_path):
    rows = []
    for k, ci in (("none", False), ("threshold", True)):
        for q in (30, 60, 90):
            rows.append({"detector": "tiny", "method": k, "compression": "jpeg_q", "level": q,
                         "level_param": "quality", "compression_name": f"jpeg_q{q}",
                         "manipulation": "FaceSwap", "acc": 70.0, "auc": 80.0,
                         "acc_ci_low": 65.0 if ci else np.nan, "acc_ci_high": 75.0 if ci else np.nan,
                         "auc_ci_low": np.nan, "auc_ci_high": np.nan})
    d = sweep.plot_sweep(pd.DataFrame(rows), tmp_path, "s", "t")
    acc_ax, auc_ax = d.figure.axes
    assert len(acc_ax.collections) == 1 and len(auc_ax.collections) == 0  # one band: threshold's acc
    assert acc_ax.xaxis_inverted() and "stronger" in auc_ax.get_xlabel()
    assert acc_ax.get_ylabel() == "accuracy (%)" and auc_ax.get_ylabel() == "AUC (%)"
    assert (tmp_path / "s.png").exists() and (tmp_path / "s.pdf").exists()


def test_cli_dry_run_lists_levels_and_counts(capsys, tmp_path):
    code = main(["sweep", "--detector", "tiny", "--profile", "smoke", "--method", "none,threshold",
                 "--compression", "h264_crf18:45:3,deeperforensics", "--manipulation", "FaceSwap",
                 "--results", str(tmp_path), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "= 90 runs" in out and "h264_crf45" in out and "df_blur_5" in out
    assert not (tmp_path / "runs").exists()
    assert main(["sweep", "--compression", "jpeg_q1:2", "--dry-run", "--results", str(tmp_path)]) == 2
    assert "expected" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["sweep", "figures", "report"])
def test_new_commands_explain_themselves(cmd, capsys):
    from bench.cli import build_parser

    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([cmd, "--help"])
    assert e.value.code == 0 and "examples:" in capsys.readouterr().out
