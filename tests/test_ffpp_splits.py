"""FaceForensics++ split files: what is wrong is refused with the file and the entries named,
before any video is read; random input gives pairs or that one error, nothing else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bleachbench.datasets.ffpp import SplitFileError, load_ffpp_splits

GOOD = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}
EXAMPLES = int(os.environ.get("BLEACHBENCH_FUZZ_EXAMPLES", "100"))


def write(folder: Path, splits: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits.items():
        data = pairs if isinstance(pairs, bytes) else json.dumps(pairs).encode()
        (folder / f"{name}.json").write_bytes(data)
    return folder


def test_good_splits_load(tmp_path: Path) -> None:
    assert load_ffpp_splits(write(tmp_path, GOOD))["test"] == [("004", "005")]


@pytest.mark.parametrize("split, value, named", [
    ("val", b"\xff\xfe not utf-8", "not UTF-8"),
    ("val", [], "empty"),
    ("val", [["", "003"]], "ids must be"),
    ("val", [["../etc", "003"]], "'../etc'"),
    ("val", [["002", "003"], ["003", "002"]], "twice"),
    ("val", [["002", "002"]], "itself"),
    ("test", [["000", "005"]], "leakage"),  # 000 is a train id
    ("train", {"a": 1}, "expected a list"),
])
def test_bad_splits_are_named(tmp_path: Path, split: str, value, named: str) -> None:
    write(tmp_path, {**GOOD, split: value})
    with pytest.raises(SplitFileError, match=named) as err:
        load_ffpp_splits(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


ids = st.text(min_size=0, max_size=6)
pairs = st.lists(st.lists(ids, min_size=1, max_size=3), max_size=4)
payload = st.one_of(pairs, st.binary(max_size=40), st.recursive(
    st.none() | st.integers() | st.text(max_size=4), lambda c: st.lists(c, max_size=3), max_leaves=8))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train=payload, val=payload, test=payload)
def test_any_split_files_give_pairs_or_one_clear_error(tmp_path: Path, train, val, test) -> None:
    write(tmp_path, {"train": train, "val": val, "test": test})
    try:
        out = load_ffpp_splits(tmp_path)
    except SplitFileError as exc:
        assert str(tmp_path) in str(exc)
        return
    seen = [set(v for p in out[s] for v in p) for s in ("train", "val", "test")]
    assert all(out.values()) and not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
