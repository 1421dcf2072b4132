"""``python -m bench diagnose`` on a smoke run: every section with numbers, from the record, the
reloaded checkpoints and the fit's arrays.npz; and a clear error for a run that is not a bleach."""

from __future__ import annotations

import json

import pytest

from bench.cli import main


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    code = main(["run", "--method", "pixel_bleach", "--detector", "tiny", "--profile", "smoke",
                 "--manipulation", "FaceSwap", "--results", str(root), "--quiet"])
    assert code == 0
    return root


def _run_id(root, method: str) -> str:
    return next((root / "runs").glob(f"{method}-tiny-FaceSwap-c40-*.json")).stem


def test_diagnose_prints_every_section(smoke, capsys) -> None:
    capsys.readouterr()
    assert main(["diagnose", "--run", _run_id(smoke, "pixel_bleach"), "--results", str(smoke)]) == 0
    out = capsys.readouterr().out
    for text in ("features and margins", "real", "fake", "spearman", "cosine of each face's bleach",
                 "balanced offset sample", "FP", "FN", "I=+1", "variant reread"):
        assert text in out, text


def test_diagnose_json_numbers(smoke, capsys) -> None:
    capsys.readouterr()
    assert main(["diagnose", "--run", _run_id(smoke, "pixel_bleach"), "--results", str(smoke),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    feats = report["features"]
    assert feats["real"]["n"] > 0 and feats["fake"]["n"] > 0
    assert feats["real"]["norm_before"] > 0 and feats["fake"]["norm_after"] >= 0
    assert -1.0 <= report["bleach_cosine"]["median"] <= 1.0
    offset = report["offset"]
    n_wrong = offset["FP"]["n"] + offset["FN"]["n"]
    assert n_wrong > 0 and offset["all train"]["n"] >= n_wrong
    shares = [offset["all train"][f"I={v:+d}"] for v in (1, -1, 0)]
    assert sum(shares) == pytest.approx(1.0)


def test_diagnose_refuses_other_methods_and_unknown_runs(smoke, capsys) -> None:
    assert main(["diagnose", "--run", _run_id(smoke, "none"), "--results", str(smoke)]) == 2
    assert "pixel_bleach" in capsys.readouterr().err
    assert main(["diagnose", "--run", "nope", "--results", str(smoke)]) == 2
    assert "no run record" in capsys.readouterr().err



def test_diagnose_reloads_a_run_made_from_a_config_file(smoke, tmp_path) -> None:
    """A run made with ``--config FILE`` names a profile that is not packaged: reloading it asks
    for the file in one line, and reloads with it."""
    import torch

    from bench.core.config import ConfigError
    from bench.core.profiles import CONFIG_DIR
    from bench.report.diagnose import read_record, reload

    record = read_record(smoke, _run_id(smoke, "pixel_bleach"))
    record["spec"] = {**record["spec"], "profile": "myexp"}
    cfg = tmp_path / "myexp.py"
    cfg.write_text(f"_base_ = [{str(CONFIG_DIR / 'smoke.py')!r}]\nname = 'myexp'\n")
    with pytest.raises(ConfigError, match="--config FILE"):
        reload(record, smoke, torch.device("cpu"))
    method, faces = reload(record, smoke, torch.device("cpu"), config=cfg)
    assert len(faces) > 0 and method is not None
