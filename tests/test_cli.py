"""The command line: help, list, table from records, clear errors."""

import pytest

from bench.cli import build_parser, main, parse_cfg_options
from bench.core.config import ConfigError
from bench.core.store import ResultsStore
from bench.report.tables import GridContext, get_table


@pytest.mark.parametrize("cmd", ["run", "list", "table", "reproduce", "prepare", "calibrate"])
def test_help_explains_with_an_example(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "python -m bench" in out


def test_list_prints_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for key in ("datasets:", "compressions:", "detectors:", "methods:", "tables:"):
        assert key in out
    assert "c40" in out


def test_cfg_options_split_method_and_profile():
    method, other = parse_cfg_options(["method.s=0.01", "faces.size=96", "method.use_rem=False"])
    assert method == {"s": 0.01, "use_rem": False}
    assert other == {"faces.size": 96}


def test_table_latex_from_records_alone(tmp_path, capsys):
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap", "Face2Face", "Deepfakes",
                                                                 "NeuralTextures"))
    store = ResultsStore(tmp_path)
    table = get_table("main")
    for s in table.grid(ctx)[:3]:
        store.write(s, {"frame": {"acc": 77.5, "auc": 88.25}})
    code = main(["table", "main", "--format", "latex", "--results", str(tmp_path),
                 "--detector", "xception"])
    assert code == 0
    tex = (tmp_path / "tables" / "main.tex").read_text()
    assert "\\toprule" in tex and "77.50" in tex and "88.25" in tex
    out = capsys.readouterr().out  # the grid the records cover: FaceSwap, one fit (fit seed 0)
    assert "3 of 4 runs present, 1 missing" in out and "one fit per cell" in out
    assert main(["table", "main", "--results", str(tmp_path), "--detector", "xception",
                 "--manipulation", "FaceSwap,Face2Face,Deepfakes,NeuralTextures",
                 "--fit-seeds", "0,1,2"]) == 0  # 4 none + 4 x 3 fits
    assert "13 missing" in capsys.readouterr().out
    assert main(["table", "main", "--results", str(tmp_path), "--fit-seeds", "0,x"]) != 0


def test_unknown_detector_is_a_clear_error(tmp_path, capsys):
    code = main(["table", "main", "--results", str(tmp_path), "--detector", "xceptoin"])
    assert code == 2
    assert "Did you mean 'xception'" in capsys.readouterr().err


def test_method_options_go_only_to_methods_that_take_them():
    from bench.cli import _method_params

    params = _method_params({"m": 0.0, "batch_size": 8})
    assert params["pixel_bleach"] == {"m": 0.0, "batch_size": 8}
    assert params["threshold"] == {"batch_size": 8}
    assert "none" not in params
    with pytest.raises(ConfigError, match="no method takes"):
        _method_params({"no_such_key": 1})
    with pytest.raises(ConfigError, match="did you mean 'method.seed'"):
        _method_params({"sed": 1})


def test_seeds_run_the_grid_once_per_seed_and_tables_show_mean_and_sd(tmp_path, capsys):
    from bench.cli import context
    from bench.report.tables import seed_grid

    args = build_parser().parse_args(["table", "main", "--detector", "xception", "--seeds", "0,1,2",
                                      "--manipulation", "FaceSwap", "--results", str(tmp_path),
                                      "--fit-seeds", "0"])
    ctx, _ = context(args)
    assert ctx.seed_list() == (0, 1, 2) and ctx.fit_seed_list() == (0,)
    grid = seed_grid(get_table("main"), ctx)
    assert sorted({s.seed for s in grid}) == [0, 1, 2] and len(grid) == 3 * len(get_table("main").grid(ctx))
    store = ResultsStore(tmp_path)
    for s, acc in zip(grid, (70.0, 72.0, 80.0, 84.0, 90.0, 92.0)):
        store.write(s, {"frame": {"acc": acc, "auc": acc}})
    assert main(["table", "main", "--detector", "xception", "--seeds", "0,1,2",
                 "--manipulation", "FaceSwap", "--results", str(tmp_path), "--fit-seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "seeds 0, 1, 2" in out and "standard deviation across detector seeds" in out
    assert "0 missing" not in out and "6 of 6 runs present" in out and "80.0 ±10.0" in out
    args = build_parser().parse_args(["table", "main", "--seed", "4"])
    assert context(args)[0].seed_list() == (4,)  # --seed N still works
    # fit seeds: the quick profile's fit_seeds by default, --fit-seeds overrides, smoke has one
    assert context(args)[0].fit_seed_list() == (0, 1, 2)
    args = build_parser().parse_args(["table", "main", "--fit-seeds", "3,5"])
    assert context(args)[0].fit_seed_list() == (3, 5)
    args = build_parser().parse_args(["table", "main", "--profile", "smoke"])
    assert context(args)[0].fit_seed_list() == (0,)
    from bench.core.errors import UserError

    with pytest.raises(UserError, match="comma list"):  # one line, exit 2 (tests/test_bad_input.py)
        context(build_parser().parse_args(["table", "main", "--seeds", "0,x"]))
