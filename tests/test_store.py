"""Run specs have stable ids; records are atomic, skipped, forced and never silently dropped."""

import json
import subprocess
import sys

import pytest

from bench.core.spec import RunSpec
from bench.core.store import CorruptRecordError, ResultsStore, atomic_write_text


def spec(**kw):
    base = dict(dataset="synthetic", manipulation="FaceSwap", detector="xception", method="none")
    return RunSpec.make(**{**base, **kw})


def test_run_id_is_stable_across_processes_and_param_order():
    a = spec(method_params={"m": 0.7, "s": 1.0})
    b = spec(method_params={"s": 1.0, "m": 0.7})
    assert a.run_id == b.run_id and a == b and hash(a) == hash(b)
    code = ("from bench.core.spec import RunSpec;print(RunSpec.make(dataset='synthetic', manipulation='FaceSwap',"
            "detector='xception', method='none', method_params={'s':1.0,'m':0.7}).run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == a.run_id
    assert spec(seed=1).run_id != a.run_id
    assert spec(test_compression="c23").run_id != spec().run_id


def test_spec_type_errors():
    with pytest.raises(TypeError):
        RunSpec(dataset="s", manipulation="m", detector="d", method="x", seed="0")


def test_write_read_and_records(tmp_path):
    store = ResultsStore(tmp_path)
    s = spec()
    assert not store.exists(s)
    path = store.write(s, {"frame": {"acc": 90.0}}, timings={"total_s": 1.0})
    assert store.exists(s)
    rec = json.loads(path.read_text())
    assert rec["spec"]["detector"] == "xception" and "torch" in rec["versions"]
    assert set(store.index()) == {s}


def test_atomic_write_keeps_old_file_on_crash(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    atomic_write_text(target, '{"old": 1}')

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, '{"new": 2}')
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind


def test_corrupt_record_is_reported_by_path_never_overwritten(tmp_path):
    store = ResultsStore(tmp_path)
    s = spec()
    p = store.path(s)
    p.parent.mkdir(parents=True)
    p.write_text('{"spec": {"dataset": ')
    with pytest.raises(CorruptRecordError) as err:
        store.exists(s)
    assert str(p) in str(err.value)
    with pytest.raises(CorruptRecordError):
        list(store.records())
    assert p.read_text() == '{"spec": {"dataset": '


def test_a_killed_writers_temp_file_is_not_read_as_a_record(tmp_path):
    """A process killed inside an atomic write leaves ``.<name>.<random>.tmp.json`` in runs/; the
    rerun must not take it for a corrupt record (tests/test_executor.py's killed run hit this)."""
    store = ResultsStore(tmp_path)
    store.runs_dir.mkdir(parents=True)
    (store.runs_dir / ".none-tiny-FaceSwap-c23-0123.json.ab12cd.tmp.json").write_text("")
    assert store.record_paths() == [] and list(store.records()) == []


def test_arrays_saved_beside_the_record_and_loadable(tmp_path):
    import numpy as np

    store = ResultsStore(tmp_path)
    s = spec()
    arrays = {"prob": np.array([0.1, 0.8, 0.6]), "label": np.array([0, 1, 1]),
              "video": np.array(["real/000", "FaceSwap/000_003", "FaceSwap/000_003"]),
              "margin": np.array([-1.0, 2.0, 0.5], dtype=np.float16)}
    path = store.write(s, {"frame": {"acc": 90.0}}, arrays=arrays)
    rec = json.loads(path.read_text())
    assert rec["arrays"]["file"] == f"{s.run_id}.npz" and rec["arrays"]["n"] == 3
    for got in (store.arrays(s), store.arrays(rec)):
        assert got["prob"].dtype == np.float32 and got["label"].dtype == np.int8
        assert got["video"].dtype.kind == "U" and got["video"][1] == "FaceSwap/000_003"
        assert got["margin"].dtype == np.float16 and got["label"].tolist() == [0, 1, 1]
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]  # no temp files
    other = spec(seed=3)
    store.write(other, {"frame": {"acc": 1.0}})
    assert not store.has_arrays(other)
    with pytest.raises(FileNotFoundError, match=other.run_id):
        store.arrays(other)
    with pytest.raises(ValueError, match="label"):
        store.write(other, {}, arrays={"prob": np.zeros(2), "video": np.array(["a", "b"])})


def test_record_with_undefined_auc_is_strict_json(tmp_path):
    from bench.core.metrics import compute_metrics

    store = ResultsStore(tmp_path)
    metrics = compute_metrics([1, 1], [0.9, 0.2], [("FaceSwap", "a"), ("FaceSwap", "b")])
    metrics["frame"]["eer"] = float("nan")  # any stray NaN becomes null with a reason
    path = store.write(spec(), metrics)
    text = path.read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert rec["metrics"]["frame"]["auc"] is None and rec["metrics"]["video"]["auc"] is None
    assert "one class" in rec["metrics"]["frame"]["undefined"]
    assert "metrics.frame.eer" in rec["undefined"]


def test_a_committed_folder_is_read_from_records_unless_runs_exists(tmp_path):
    """results/quick_v3/ keeps its records under records/: --results pointing there reads them."""
    live = ResultsStore(tmp_path / "live")
    s = spec()
    live.write(s, {"frame": {"acc": 90.0}}, timings={"total_s": 1.0})
    (tmp_path / "committed").mkdir()
    live.runs_dir.rename(tmp_path / "committed" / "records")
    store = ResultsStore(tmp_path / "committed")
    assert set(store.index()) == {s}
    (tmp_path / "committed" / "runs").mkdir()  # a live runs/ folder wins
    assert set(ResultsStore(tmp_path / "committed").index()) == set()


def test_table_and_calibrate_say_when_the_folder_holds_no_records(tmp_path):
    for command in (["table", "main"], ["calibrate"]):
        out = subprocess.run([sys.executable, "-m", "bench", *command, "--results", str(tmp_path)],
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert "no run records in" in out.stderr and str(tmp_path) in out.stderr
