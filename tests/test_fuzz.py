"""Fuzz tests (hypothesis) of what reads a user's or a disk's input (issue 31, item 7): the run
record loader, ``--cfg-options`` and the profile it builds, ``--seeds``.

Each target either gives a valid result or raises the project's own error (one line, exit 2),
never anything else. ``make test`` runs about 100 examples a target (a few seconds each); a
longer run: ``BLEACHBENCH_FUZZ_EXAMPLES=400 pytest tests/test_fuzz.py`` (any count).
"""

from __future__ import annotations

import json
import os
import string

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bench.cli.options import parse_cfg_options, parse_seeds  # noqa: E402
from bench.core.config import ConfigError  # noqa: E402
from bench.core.errors import UserError  # noqa: E402
from bench.core.profiles import PROFILES, get_profile  # noqa: E402
from bench.core.registry import UnknownNameError  # noqa: E402
from bench.core.spec import RunSpec  # noqa: E402
from bench.core.store import CorruptRecordError, ResultsStore  # noqa: E402

EXAMPLES = int(os.environ.get("BLEACHBENCH_FUZZ_EXAMPLES", "100"))


@pytest.fixture(autouse=True)
def _subnormals_representable():
    """A run earlier in the same process (the engine's ``flush_denormal``, on by default) may
    leave the CPU flushing subnormal floats to zero; hypothesis's float strategies refuse to
    draw then. Each fuzz test runs with IEEE subnormals (an engine sets its own state when it
    starts a run)."""
    import torch

    torch.set_flush_denormal(False)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="CI" in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

SPEC = RunSpec.make(dataset="synthetic", manipulation="FaceSwap", detector="tiny",
                    method="none").identity()
GOOD = {"record_version": 1, "run_id": "x", "spec": SPEC,
        "metrics": {"frame": {"acc": 70.0, "auc": 80.0, "acc_ci": [60.0, 80.0], "n": 10}},
        "timings": {}, "checkpoints": {}, "facts": {}, "config": {}}

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_value = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=4)
                          | st.dictionaries(st.text(max_size=6), kids, max_size=4), max_leaves=20)


@st.composite
def records(draw):
    """A valid record with some of its parts replaced, dropped or added."""
    rec = json.loads(json.dumps(GOOD))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["top", "spec", "metrics", "level"]))
        node = {"top": rec, "spec": rec.get("spec"), "metrics": rec.get("metrics"),
                "level": (rec.get("metrics") or {}).get("frame")
                if isinstance(rec.get("metrics"), dict) else None}[where]
        if not isinstance(node, dict):
            continue
        key = draw(st.sampled_from(sorted(node) + ["extra"]) if node else st.just("extra"))
        if draw(st.booleans()):
            node.pop(key, None)
        else:
            node[key] = draw(json_value)
    return rec


def load(tmp_path, data: bytes) -> list[dict]:
    path = tmp_path / "runs" / "r.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return list(ResultsStore(tmp_path).records())


def check_loaded(tmp_path, data: bytes) -> None:
    path = tmp_path / "runs" / "r.json"
    try:
        records = load(tmp_path, data)
    except CorruptRecordError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    rec = records[0]  # a valid record: what tables read works on it
    assert isinstance(rec["metrics"], dict)
    RunSpec.from_dict(rec["spec"])
    for level in rec["metrics"].values():
        assert isinstance(level, dict)
        level.get("acc")


@FUZZ
@given(rec=records())
def test_record_loader_on_mutated_records(tmp_path, rec):
    check_loaded(tmp_path, json.dumps(rec).encode())


@FUZZ
@given(value=json_value)
def test_record_loader_on_any_json(tmp_path, value):
    check_loaded(tmp_path, json.dumps(value).encode())


@FUZZ
@given(data=st.binary(max_size=200) | st.text(alphabet='{}[]":,0123456789.-eE ntrufals\\',
                                                  max_size=200).map(str.encode))
def test_record_loader_on_any_bytes(tmp_path, data):
    check_loaded(tmp_path, data)


@FUZZ
@given(depth=st.integers(1, 200_000), kind=st.sampled_from(["[", '{"a":']))
def test_record_loader_on_deep_nesting(tmp_path, depth, kind):
    close = "]" if kind == "[" else "}"
    check_loaded(tmp_path, (kind * depth + "1" + close * depth).encode())


def test_record_loader_examples(tmp_path):
    bad = {"non-dict metrics": {**GOOD, "metrics": [1, 2]},
           "level not a dict": {**GOOD, "metrics": {"frame": 3}},
           "metric a dict": {**GOOD, "metrics": {"frame": {"acc": {"x": 1}}}},
           "spec a list": {**GOOD, "spec": []},
           "spec seed a string": {**GOOD, "spec": {**SPEC, "seed": "0"}},
           "checkpoints a list": {**GOOD, "checkpoints": []},
           "no metrics": {k: v for k, v in GOOD.items() if k != "metrics"}}
    for why, rec in bad.items():
        with pytest.raises(CorruptRecordError, match="r.json"):
            load(tmp_path, json.dumps(rec).encode())
            raise AssertionError(f"accepted: {why}")
    with pytest.raises(CorruptRecordError, match="UTF-8"):
        load(tmp_path, b'{"a": "\xff\xfe"}')
    with pytest.raises(CorruptRecordError, match="nested"):
        load(tmp_path, b"[" * 100_000 + b"]" * 100_000)
    check_loaded(tmp_path, json.dumps(GOOD).encode())  # and a good one loads


# ------------------------------------------------------------------ --cfg-options and profiles
KEYS = ["faces.size", "faces.frames_per_video", "faces.skip_first", "train.epochs",
        "train.batch_size", "train.lr", "train.blur_p", "train.blur_sigma", "train.amp",
        "train.launcher", "train.faces_per_video", "train.per_detector.tiny.epochs",
        "train.per_detector.xception.lr", "train.per_detector.nope.lr", "intervals.level",
        "intervals.n_boot", "intervals.stratify", "dataset.n_frames", "dataset.root",
        "detector.pretrained", "detector.per_detector.xception.weights", "method.epochs",
        "method.per_method.pixel_bleach.batch_size", "train_compression", "flush_denormal",
        "detector_per_manipulation", "faces", "train", "name", "train.nope", "nope"]
key_text = st.sampled_from(KEYS) | st.text(alphabet=string.ascii_lowercase + "._", min_size=1,
                                           max_size=30)
value_text = st.sampled_from(["-1", "0", "1", "16", "7", "1e9", "abc", "None", "True", "(1,2)",
                              "[0.4,1.2]", "{}", "''", "3.5", "nan", "inf", "{'a':1}"]) | \
    st.text(max_size=12)

ALLOWED = (ConfigError, UserError, UnknownNameError)


@FUZZ
@given(items=st.lists(st.tuples(key_text, value_text).map(lambda kv: f"{kv[0]}={kv[1]}")
                      | st.text(max_size=15), max_size=5),
       name=st.sampled_from(sorted(PROFILES)))
def test_cfg_options_give_a_profile_or_a_config_error(items, name):
    try:
        method, overrides = parse_cfg_options(items)
        profile = get_profile(name, overrides)
    except ALLOWED as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(method, dict) and isinstance(profile, dict)
    for section in ("dataset", "faces", "train"):
        assert isinstance(profile[section], dict)
    size = profile["faces"].get("size")
    assert size is None or (isinstance(size, int) and size >= 16)
    epochs = profile["train"].get("epochs")
    assert isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1


@FUZZ
@given(overrides=st.dictionaries(key_text, json_value, max_size=4),
       name=st.sampled_from(sorted(PROFILES)))
def test_get_profile_with_any_values(overrides, name):
    try:
        get_profile(name, overrides)
    except ALLOWED as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["epochs", "batch_size", "lr", "seed", "m",
                                               "per_method.pixel_bleach.variant",
                                               "per_method.threshold.batch_size"]),
                              json_value, max_size=3))
def test_method_options_give_params_or_a_config_error(params):
    from bench.cli.options import per_method_params

    try:
        out = per_method_params(params)
    except ALLOWED as exc:
        assert "\n" not in str(exc)
        return
    for taken in out.values():
        if "epochs" in taken:
            assert isinstance(taken["epochs"], int) and taken["epochs"] >= 1


# ------------------------------------------------------------------------------------ --seeds
@FUZZ
@given(text=st.text(alphabet="0123456789,- xa", max_size=20) | st.text(max_size=20))
def test_parse_seeds(text):
    try:
        seeds = parse_seeds(text)
    except UserError as exc:
        assert "--seeds" in str(exc) and "\n" not in str(exc)
        return
    assert seeds and all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds)
    assert len(set(seeds)) == len(seeds)
    assert all(t.strip() for t in text.split(","))  # no empty item accepted


# ------------------------------------------------------------------------- per-face arrays
@FUZZ
@given(start=st.integers(0, 4000), length=st.integers(1, 400), flip=st.integers(1, 255),
       truncate=st.booleans())
def test_corrupt_arrays_are_named(tmp_path, start, length, flip, truncate):
    """A damaged ``.npz`` beside a record: its arrays, or one line naming the file."""
    import numpy as np

    from bench.core.files import CorruptFileError

    store = ResultsStore(tmp_path)
    spec = RunSpec.from_dict(SPEC)
    rng = np.random.default_rng(0)
    store.write(spec, GOOD["metrics"], arrays={"prob": rng.random(500), "label": rng.integers(0, 2, 500),
                                               "video": np.array([f"v{i % 7}" for i in range(500)])})
    path = store.arrays_path(spec)
    data = bytearray(path.read_bytes())
    if truncate:
        data = data[:start % len(data)]
    else:
        for i in range(start, min(start + length, len(data))):
            data[i] ^= flip
    path.write_bytes(bytes(data))
    try:
        arrays = store.arrays(spec)
    except CorruptFileError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert len(arrays["prob"]) == len(arrays["label"])
