"""The command line: help, list, table from records, clear errors."""

import pytest

from bench.cli import build_parser, main, parse_cfg_options
from bench.store import ResultsStore
from bench.tables import GridContext, get_table


@pytest.mark.parametrize("cmd", ["run", "list", "table", "reproduce", "prepare"])
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
    assert "5 missing" in capsys.readouterr().out


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
    with pytest.raises(SystemExit, match="no method takes"):
        _method_params({"no_such_key": 1})
