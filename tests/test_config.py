"""A run is exactly what its record says (issue 9): strict keys with suggestions, the resolved
configuration in every record, detector checkpoints keyed by what changes them, the seed reaching
the method, cache keys covering a compression's parameters, early refusals, honest titles."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.config import TRAIN_KEYS, ConfigError
from bench.core.profiles import get_profile
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.report.tables import MainResults

SMOKE = ["--profile", "smoke", "--detector", "tiny", "--manipulation", "FaceSwap", "--quiet"]


def test_a_typo_is_an_error_naming_the_key_and_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"'train\.epoch'.*did you mean 'train\.epochs'"):
        get_profile("smoke", {"train.epoch": 5})
    with pytest.raises(ConfigError, match=r"'faces\.sise'.*did you mean 'faces\.size'"):
        get_profile("quick", {"faces.sise": 96})
    with pytest.raises(ConfigError, match=r"train\.per_detector\.xcepton.*'train\.per_detector\.xception'"):
        get_profile("quick", {"train.per_detector.xcepton.lr": 1e-3})
    with pytest.raises(ConfigError, match="unknown profile 'quik'; did you mean 'quick'"):
        get_profile("quik")
    for name in ("smoke", "quick", "paper"):  # the built-in profiles are valid
        get_profile(name)


def test_train_keys_are_the_trainers_keyword_arguments():
    from bench.run.training import build_runner

    runtime = {"detector", "train", "val", "work_dir", "device", "seed", "progress", "hooks",
               "keep_checkpoints"}
    assert set(TRAIN_KEYS) == set(inspect.signature(build_runner).parameters) - runtime


def test_cli_typo_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(["run", *SMOKE, "--results", str(tmp_path), "--cfg-options", "train.epoch=5"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'train.epochs'" in err and "Traceback" not in err
    assert main(["run", *SMOKE, "--results", str(tmp_path), "--test-compression", "c41x"]) == 2
    assert "Did you mean 'c40'" in capsys.readouterr().err
    assert main(["run", *SMOKE, "--results", str(tmp_path), "--test-compression", "jpeg_q150"]) == 2
    assert "quality must be" in capsys.readouterr().err
    assert main(["run", *SMOKE[:-3], "--manipulation", "FaceSwp", "--results", str(tmp_path)]) == 2
    assert "Did you mean 'FaceSwap'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was rendered, trained or written


def _detector_dirs(results: Path) -> list[Path]:
    return sorted(p for p in (results / "checkpoints").glob("*/*") if p.is_dir())


def test_train_lr_retrains_same_settings_reuse_and_the_record_holds_the_config(tmp_path):
    base = ["run", *SMOKE, "--method", "none", "--results", str(tmp_path)]
    assert main(base) == 0
    assert len(_detector_dirs(tmp_path)) == 1
    assert main([*base, "--force"]) == 0  # same settings: the same detector, not retrained
    assert len(_detector_dirs(tmp_path)) == 1
    assert main([*base, "--cfg-options", "train.lr=0.005"]) == 0
    dirs = _detector_dirs(tmp_path)
    assert len(dirs) == 2  # another lr: another detector
    keys = [json.loads((d / "config.json").read_text()) for d in dirs]
    assert sorted(k["train"]["lr"] for k in keys) == [0.001, 0.005]
    records = list(ResultsStore(tmp_path).records())
    lrs = {r["config"]["train"]["lr"] for r in records}
    assert lrs == {0.001, 0.005}
    r = records[0]
    assert r["config"]["detector"]["type"] == "tiny" and "drop_rate" in r["config"]["detector"]
    assert r["config"]["train"]["blur_p"] == 0.0  # defaults are filled in
    assert r["facts"]["detector_resumed_from_epoch"] == 0
    # stored relative to the results folder, so a copied folder uses its own files
    assert not Path(r["checkpoints"]["detector"]).is_absolute()
    assert (tmp_path / r["checkpoints"]["detector"]).is_file()


def test_the_seed_reaches_the_method_unless_given():
    from bench.run.engine import Engine

    engine = Engine(get_profile("smoke"), "unused", progress=False)
    spec = RunSpec.make(dataset="synthetic", manipulation="FaceSwap", detector="tiny",
                        method="pixel_bleach", seed=3)
    assert engine.method_cfg(spec)["seed"] == 3
    given = RunSpec.make(dataset="synthetic", manipulation="FaceSwap", detector="tiny",
                         method="pixel_bleach", seed=3, method_params={"seed": 7})
    assert engine.method_cfg(given)["seed"] == 7
    assert engine.config(spec)["method"]["seed"] == 3


def test_face_cache_key_covers_the_compressions_parameters():
    from bench.core.registry import COMPRESSIONS
    from bleachbench.datasets.face_cache import cache_dir, cache_params
    from bleachbench.datasets.synthetic import SyntheticFaces

    src = SyntheticFaces(n_identities=20, n_frames=3, scene_size=64)
    a = cache_params(src, "all", "c40", "test", 32, 1)
    assert "crf=40" in a["compression_spec"]
    original = COMPRESSIONS.module_dict["c40"]
    try:  # the same name, other parameters (a plug-in or an edited preset): another cache
        COMPRESSIONS.module_dict["c40"] = lambda: original(preset="slow")
        b = cache_params(src, "all", "c40", "test", 32, 1)
    finally:
        COMPRESSIONS.module_dict["c40"] = original
    assert "preset='slow'" in b["compression_spec"] and cache_dir("x", a) != cache_dir("x", b)


def test_force_never_overwrites_a_record_that_does_not_parse(tmp_path, capsys):
    base = ["run", *SMOKE, "--method", "none", "--results", str(tmp_path)]
    assert main(base) == 0
    victim = sorted((tmp_path / "runs").glob("*.json"))[0]
    victim.write_text("{not json")
    assert main([*base, "--force"]) == 2
    assert "corrupt run record" in capsys.readouterr().err
    assert victim.read_text() == "{not json"


def test_a_threshold_table_says_threshold_and_keeps_the_papers_file():
    table = MainResults(("none", "threshold"))
    assert "Pixel Bleach" not in table.title and "threshold" in table.title
    assert table.file_stem == "main-none-threshold"
    assert MainResults().file_stem == "main" and "Pixel Bleach" in MainResults().title


def test_unknown_dataset_option_and_missing_root_are_clear(tmp_path, capsys):
    assert main(["run", *SMOKE, "--results", str(tmp_path), "--cfg-options",
                 "dataset.n_identitie=8"]) == 2
    assert "did you mean 'dataset.n_identities'" in capsys.readouterr().err
    assert main(["run", *SMOKE, "--results", str(tmp_path), "--dataset", "ffpp"]) == 2
    err = capsys.readouterr().err
    assert "needs root" in err and "--root" in err and "Traceback" not in err


def test_a_nan_training_loss_is_one_line_and_exit_2(tmp_path, capsys):
    plugin = Path(__file__).parent / "data" / "nan_detector_plugin.py"
    code = main(["run", "--profile", "smoke", "--detector", "nan_tiny", "--method", "none",
                 "--manipulation", "FaceSwap", "--quiet", "--results", str(tmp_path),
                 "--plugin", str(plugin)])
    err = capsys.readouterr().err
    assert code == 2 and "the loss is nan" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # no record of a run that did not finish


def test_a_broken_plugin_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "my_plugins" / "flip.py"
    bad.parent.mkdir()
    bad.write_text("from bench.core.registry import METHOD\n")  # a typo in the import
    assert main(["list", "methods", "--plugin", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "--plugin" in err and "from bench.core.registry import METHODS" in err
    assert main(["list", "methods", "--plugin", "no_such_module_here"]) == 2
    assert "cannot import plug-in module" in capsys.readouterr().err


def test_paper_profile_asks_for_imagenet_weights_with_a_clear_offline_error(monkeypatch):
    import timm

    from bench.core.config import detector_kwargs
    from bench.core.errors import UserError
    from bench.core.registry import DETECTORS, build

    paper = get_profile("paper")
    assert detector_kwargs(paper, "xception") == {"pretrained": True}
    assert detector_kwargs(paper, "meso_inception4") == {}  # no ImageNet weights exist for it
    real = timm.create_model

    def offline(name, pretrained=False, **kw):
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        return real(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(UserError, match=r"weights=PATH"):
        build(DETECTORS, {"type": "resnet50", "pretrained": True})
    build(DETECTORS, {"type": "resnet50", "pretrained": False})  # offline without weights: fine


def test_results_default_to_the_project_not_the_working_folder(tmp_path, monkeypatch):
    from bench.cli import build_parser, default_results

    monkeypatch.delenv("BLEACHBENCH_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_results() == Path(__file__).resolve().parents[1] / "work_dirs"
    monkeypatch.setenv("BLEACHBENCH_RESULTS", str(tmp_path / "elsewhere"))
    args = build_parser().parse_args(["table", "main"])
    assert args.results == tmp_path / "elsewhere"


def test_none_builds_no_lq_train_or_val_faces(tmp_path):
    """``none`` reads no faces in fit: a new test compression costs its test faces only."""
    assert main(["run", *SMOKE, "--method", "none", "--results", str(tmp_path),
                 "--test-compression", "jpeg_q50"]) == 0
    caches = [p.name for p in (tmp_path / "cache" / "faces").glob("*/*") if p.is_dir()]
    jpeg = [c for c in caches if "jpeg_q50" in c]
    assert jpeg and all("_test_" in c for c in jpeg), jpeg
    rec = next(r for r in ResultsStore(tmp_path).records() if r["spec"]["test_compression"] == "jpeg_q50")
    assert rec["facts"]["fit_on"]["n_train"] == 0


def test_one_method_gets_its_own_schedule():
    from bench.cli import _method_params
    from bench.core.config import check_components, method_kwargs

    profile = get_profile("quick")  # method.epochs = 2 for every method that takes it
    profile["method"]["per_method"] = {"mixed_training": {"epochs": 5, "lr": 1e-3}}
    check_components(profile)
    assert method_kwargs(profile, "mixed_training", {}, 0)["epochs"] == 5
    assert method_kwargs(profile, "mixed_training", {"epochs": 7}, 0)["epochs"] == 7  # a run's own
    assert method_kwargs(profile, "lq_finetune", {}, 0)["epochs"] == 2
    profile["method"]["per_method"] = {"mixed_trainin": {"epochs": 5}}
    with pytest.raises(ConfigError, match=r"did you mean 'method\.per_method\.mixed_training'"):
        check_components(profile)
    profile["method"]["per_method"] = {"threshold": {"epochs": 5}}
    with pytest.raises(ConfigError, match=r"method\.per_method\.threshold\.epochs"):
        check_components(profile)
    # on the command line: method.per_method.<name>.<key> reaches that method only
    got = _method_params({"per_method.mixed_training.epochs": 3, "epochs": 2})
    assert got["mixed_training"]["epochs"] == 3 and got["lq_finetune"]["epochs"] == 2
    with pytest.raises(ConfigError, match=r"threshold does not take 'epochs'"):
        _method_params({"per_method.threshold.epochs": 3})
