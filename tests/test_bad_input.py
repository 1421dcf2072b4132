"""Bad values stop before any work (issue 31, item 1): exit 2, one line on stderr naming the key,
and no results folder written."""

import pytest

from bench.cli import main

BASE = ["run", "--profile", "smoke", "--method", "pixel_bleach", "--detector", "tiny",
        "--manipulation", "FaceSwap", "--device", "cpu", "--quiet"]

BAD = [  # (extra arguments, what the one line must name)
    (["--cfg-options", "train.epochs=-1"], "train.epochs"),
    (["--cfg-options", "train.batch_size=0"], "train.batch_size"),
    (["--cfg-options", "train.lr=abc"], "train.lr"),
    (["--cfg-options", "train.lr=-0.1"], "train.lr"),
    (["--cfg-options", "train.blur_p=1.5"], "train.blur_p"),
    (["--cfg-options", "train.blur_sigma=(2.0,1.0)"], "train.blur_sigma"),
    (["--cfg-options", "train.amp=1"], "train.amp"),
    (["--cfg-options", "train.launcher=nope"], "train.launcher"),
    (["--cfg-options", "train.per_detector.tiny.epochs=0"], "train.per_detector.tiny.epochs"),
    (["--cfg-options", "train.per_detector.tiny=5"], "train.per_detector.tiny"),
    (["--cfg-options", "faces.size=7"], "faces.size"),
    (["--cfg-options", "faces.size=48.5"], "faces.size"),
    (["--cfg-options", "faces.frames_per_video=0"], "faces.frames_per_video"),
    (["--cfg-options", "faces.skip_first=maybe"], "faces.skip_first"),
    (["--cfg-options", "method.epochs=1e9"], "method.epochs"),
    (["--cfg-options", "method.epochs=1000000000"], "method.epochs"),
    (["--cfg-options", "method.batch_size=0"], "method.batch_size"),
    (["--cfg-options", "method.lr=abc"], "method.lr"),
    (["--cfg-options", "method.batch_size=1"], "method.batch_size"),  # pixel_bleach: >= 2
    (["--cfg-options", "method.per_method.pixel_bleach.reg_mode=nope"],
     "method.per_method.pixel_bleach.reg_mode"),
    (["--cfg-options", "method.per_method.pixel_bleach.variant=nope"], "variant"),
    (["--cfg-options", "intervals.level=1.5"], "intervals.level"),
    (["--cfg-options", "intervals.n_boot=0"], "intervals.n_boot"),
    (["--cfg-options", "dataset.n_frames=1"], "dataset.n_frames"),
    (["--cfg-options", "dataset.scene_size=16"], "dataset.scene_size"),
    (["--cfg-options", "detector_per_manipulation=yes"], "detector_per_manipulation"),
    (["--cfg-options", "train_compression="], "train_compression"),
    (["--cfg-options", "faces=3"], "faces"),
    (["--cfg-options", "novalue"], "--cfg-options"),
    (["--seeds", "0,,1"], "--seeds"),
    (["--seeds", ""], "--seeds"),
    (["--seeds", "abc"], "--seeds"),
    (["--seeds", "-1"], "--seeds"),
    (["--seed", "-3"], "--seed"),
    (["--jobs", "0"], "--jobs"),
    (["--jobs", "many"], "--jobs"),
    (["--timeout", "0"], "--timeout"),
    (["--gpus-per-job", "-1"], "--gpus-per-job"),
]


def exit_code(argv: list[str]) -> int:
    """``main``'s exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.mark.parametrize("extra,key", BAD, ids=[" ".join(a) or "empty" for a, _ in BAD])
def test_bad_value_exits_2_with_one_line_before_any_folder(extra, key, tmp_path, capsys):
    results = tmp_path / "res"
    code = exit_code([*BASE, "--results", str(results), *extra])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert key in lines[0], lines[0]
    assert not results.exists(), f"{results} was created before the error"


def test_good_values_still_pass_the_checks():
    from bench.core.profiles import PROFILES, get_profile

    for name in PROFILES:
        get_profile(name)
    p = get_profile("smoke", {"faces.size": 16, "train.lr": 1, "train.blur_sigma": [0.5, 0.5]})
    assert p["faces"]["size"] == 16
    assert get_profile("smoke", {"faces.size": None})["faces"]["size"] is None


def test_rules_say_what_is_allowed():
    from bench.core.config import ConfigError
    from bench.core.profiles import get_profile

    with pytest.raises(ConfigError, match=r"train\.epochs=-1 \(from --cfg-options\): expected an "
                                          r"integer >= 1"):
        get_profile("smoke", {"train.epochs": -1})
    with pytest.raises(ConfigError, match=r"faces\.size=7.*>= 16"):
        get_profile("smoke", {"faces.size": 7})
