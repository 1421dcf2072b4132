"""Under ``--jobs``/``--executor`` a job that fails on bad input exits 2, as the same error does
in one process; a crash exits 1."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

from bench.cli.options import exit_code
from bench.core.store import CorruptRecordError
from bench.run.executor import _failure


def test_a_failed_job_is_classified_by_its_error() -> None:
    corrupt = CorruptRecordError(Path("runs/x.json"), "not JSON")
    # a worker's exception crosses a process boundary: it must come back as itself
    back = pickle.loads(pickle.dumps(corrupt))
    assert type(back) is CorruptRecordError and str(back) == str(corrupt)
    assert _failure("a", back, "log")["kind"] == "input"
    assert _failure("b", RuntimeError("CUDA error\nout of memory"), "log") == {
        "job": "b", "error": "out of memory", "log": "log", "kind": "crash"}


def test_exit_code_follows_the_worst_failure() -> None:
    crash = {"job": "b", "error": "boom", "log": "", "kind": "crash"}
    bad = {"job": "a", "error": "bad value", "log": "", "kind": "input"}
    assert exit_code(SimpleNamespace(failed=[])) == 0
    assert exit_code(SimpleNamespace(failed=[crash])) == 1
    assert exit_code(SimpleNamespace(failed=[crash, bad])) == 2
    assert exit_code(SimpleNamespace(failed=[{"job": "c", "error": "x", "log": ""}])) == 1
