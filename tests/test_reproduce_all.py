"""``reproduce all`` on the smoke profile: every table's grid run, every table rendered, then the page."""

import pytest

from bench.cli import main
from bench.core.registry import TABLES, known_names
from bench.core.store import ResultsStore
from bench.report.tables import GridContext, get_table, render


@pytest.mark.slow
def test_reproduce_all_runs_every_grid_then_renders(tmp_path, capsys):
    args = ["reproduce", "all", "--detector", "tiny", "--manipulation", "FaceSwap", "--profile", "smoke",
            "--results", str(tmp_path), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    names = [n for n in known_names(TABLES) if n in TABLES.module_dict]
    ctx = GridContext(dataset="synthetic", profile="smoke", detectors=("tiny",), manipulations=("FaceSwap",))
    records = ResultsStore(tmp_path).index()
    for name in names:
        table = get_table(name)
        assert render(table, records, ctx).n_missing == 0, name  # its whole grid ran
        for ext in ("md", "tex"):
            assert (tmp_path / "tables" / f"{name}.{ext}").stat().st_size > 0
    assert len(records) == len({s for n in names for s in get_table(n).grid(ctx)})
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert all(f'id="table-{n}"' in html for n in names)
    assert f"ran {len(records)} run(s)" in out
    # the retraining defence is trained on the detector's own (oversampled) training faces plus
    # one compressed copy each, more than the bundle the other remedies fit on
    mixed = next(r for s, r in records.items() if s.method == "mixed_training")["facts"]
    assert mixed["recipe"] == "detector"
    assert mixed["n_train"] == 2 * mixed["detector_train"]["n"] > 2 * mixed["fit_on"]["n_train"]
    # figures the runs' saved arrays allow are drawn; the others say which arrays they lack
    drawn = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    for fig in ("fig4_margin_norm", "fig5_tsne", "fig6_bleach", "fig7_curves"):
        assert fig in drawn or "figure skipped: Fig. " + fig[3] in out
    # a second call runs nothing
    assert main(args) == 0
    assert "ran 0 run(s)" in capsys.readouterr().out
