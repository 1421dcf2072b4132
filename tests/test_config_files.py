"""Configuration files: the profiles are mmengine Config files under configs/, a user's file
inherits one with _base_, and `config show` prints what --config reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.core.profiles import CONFIG_DIR, PROFILES, get_profile


def test_the_profiles_are_the_config_files() -> None:
    assert {p.stem for p in CONFIG_DIR.glob("*.py")} == set(PROFILES) >= {"smoke", "quick", "paper"}
    for name in PROFILES:  # _base_/protocol.py reaches every profile
        assert PROFILES[name]["train_compression"] == "c23"
        assert PROFILES[name]["test_compression"] == "c40"


def test_a_users_file_inherits_a_profile(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    mine.write_text(f"_base_ = [{str(CONFIG_DIR / 'quick.py')!r}]\ntrain = dict(epochs=7)\n")
    profile = get_profile("quick", config=mine)
    assert profile["name"] == "mine" and profile["train"]["epochs"] == 7
    quick = get_profile("quick")
    assert profile["train"]["per_detector"] == quick["train"]["per_detector"]  # merged, not replaced
    assert profile["faces"] == quick["faces"]


def test_config_show_round_trips_through_config(tmp_path: Path, capsys) -> None:
    assert main(["config", "show", "--profile", "smoke", "--cfg-options", "train.epochs=2"]) == 0
    shown = capsys.readouterr().out
    mine = tmp_path / "mine.py"
    mine.write_text(shown)
    assert main(["config", "show", "--config", str(mine)]) == 0
    again = capsys.readouterr().out
    assert shown.splitlines()[1:] == again.splitlines()[1:]  # line 0 names the profile
    assert "epochs=2" in again


@pytest.mark.parametrize("text", ["train = dict(epochs=\n", "_base_ = ['missing.py']\n"])
def test_a_broken_file_is_one_line_and_exit_2(tmp_path: Path, capsys, text: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(text)
    assert main(["config", "show", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]


def test_a_missing_file_is_named(tmp_path: Path, capsys) -> None:
    assert main(["config", "show", "--config", str(tmp_path / "nope.py")]) == 2
    assert "nope.py" in capsys.readouterr().err


def test_each_profiles_train_keys_are_the_trainers_and_its_defaults_are_the_only_ones() -> None:
    """A profile's `train` values override the trainer's own defaults, which live only in
    bench.run.training.build_runner's signature (train_detector takes them through)."""
    import inspect

    from bench.core.config import ENGINE_TRAIN_KEYS, train_options
    from bench.run.training import build_runner, train_detector, training_options

    params = inspect.signature(build_runner).parameters
    assert {p.name for p in inspect.signature(train_detector).parameters.values()
            if p.default is not inspect.Parameter.empty} == {"keep_checkpoints"}
    for name, profile in PROFILES.items():
        for det in ("xception", "f3net", "resnet50"):
            given = {k: v for k, v in train_options({**profile, "name": name}, det).items()
                     if k not in ENGINE_TRAIN_KEYS}
            assert set(given) <= set(params), (name, det)
            resolved = training_options(given)
            for key, p in params.items():
                if key in given:
                    assert resolved[key] == given[key]
                elif p.default is not inspect.Parameter.empty:
                    assert resolved[key] == p.default
