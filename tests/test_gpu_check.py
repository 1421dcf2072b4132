"""The prepared GPU check (tools/gpu_check.py): its dry run on the CPU writes the JSON a GPU
session will commit, and one failing or hanging part never loses the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GPU_CHECK = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"
sys.path.insert(0, str(GPU_CHECK.parent))

from gpu_check import ddp_processes, run_part  # noqa: E402 - tools/ is not a package

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_dry_run_writes_the_json_with_every_part(tmp_path):
    out = tmp_path / "gpu"
    proc = subprocess.run(
        [sys.executable, str(GPU_CHECK), "--dry-run", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = list(out.glob("gpu_check_dryrun_*.json"))
    assert len(files) == 1
    report = json.loads(files[0].read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1])["parts"].keys() == report["parts"].keys()
    assert report["schema"] == 1 and report["dry_run"] is True and report["device"] == "cpu"
    env = report["env"]
    for key in ("device_name", "torch", "cuda", "commit", "python", "missing"):
        assert key in env
    assert env["missing"] == []
    assert report["finished"] and report["ok"] is True, json.dumps(report, indent=1)[:3000]
    tiny = report["parts"]["detector:tiny"]
    assert tiny["size"] == 32 and tiny["channels_last"] is True
    for key in ("train", "inference", "bleach_fit", "harness_train"):
        assert tiny[key]["img_per_s"] > 0, key
        assert "peak_allocated_gib" in tiny[key]
    assert tiny["bleach_fit"]["n_balanced"] > 0
    assert tiny["bleach_fit"]["warm_img_per_s"] > 0 and tiny["bleach_fit"]["cudnn_benchmark"] is False
    assert all(tiny[key]["wall_s"] > 0 for key in ("train", "inference", "bleach_fit", "harness_train"))
    ddp = report["parts"]["ddp"]
    assert ddp["backend"] == "gloo" and ddp["world_size"] == 2
    assert ddp["weights_equal"] is True and ddp["img_per_s"] > 0
    assert len(ddp["epoch_img_per_s"]) == 2


def test_a_failing_part_is_recorded_with_its_output(tmp_path):
    part = tmp_path / "p.json"
    code = f"import json; open({str(part)!r}, 'w').write(json.dumps({{'a': 1}})); raise SystemExit('boom')"
    result = run_part([sys.executable, "-c", code], part, timeout=60)
    assert result["a"] == 1  # what the part wrote before failing is kept
    assert "exit code 1" in result["error"] and "boom" in result["error"]


def test_a_hanging_part_is_killed_at_its_timeout_and_keeps_partial_results(tmp_path):
    part = tmp_path / "p.json"
    code = (f"import json, time; open({str(part)!r}, 'w').write(json.dumps({{'train': 5}})); "
            "time.sleep(60)")
    result = run_part([sys.executable, "-c", code], part, timeout=3)
    assert result["train"] == 5
    assert result["error"].startswith("timed out after 3 s")
    assert result["seconds"] < 30


def test_a_missing_program_is_an_error_not_an_exception(tmp_path):
    result = run_part(["/no/such/program"], tmp_path / "p.json", timeout=5)
    assert "could not start" in result["error"]


def _check(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "gpu"
    proc = subprocess.run([sys.executable, str(GPU_CHECK), "--dry-run", "--out", str(out),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(next(out.glob("gpu_check_dryrun_*.json")).read_text())


def test_measures_picks_a_subset_and_each_has_its_wall_time(tmp_path):
    report = _check(tmp_path, "--measures", "train,inference", "--skip-ddp")
    tiny = report["parts"]["detector:tiny"]
    assert tiny["train"]["img_per_s"] > 0 and tiny["inference"]["img_per_s"] > 0
    assert "bleach_fit" not in tiny and "harness_train" not in tiny
    assert tiny["train"]["wall_s"] >= tiny["train"]["seconds"]
    assert "ddp" not in report["parts"] and report["ok"] is True


def test_a_failing_ddp_rank_leaves_its_own_traceback(tmp_path):
    report = _check(tmp_path, "--detectors", "none", "--ddp-detector", "no_such_detector")
    assert [k for k in report["parts"]] == ["ddp"] and report["ok"] is False
    ddp = report["parts"]["ddp"]
    assert "exit code" in ddp["error"]
    ranks = ddp["rank_errors"]
    # Both ranks fail the same way; torchrun stops the other rank as soon as one has failed,
    # so on a loaded machine the slower rank may be killed before it writes its own file
    # (CI at 145344d: only rank 0's). Every rank that did fail wrote its own traceback.
    assert ranks and {r["rank"] for r in ranks} <= {0, 1}
    assert all("no_such_detector" in r["error"] and "Traceback" in r["traceback"] for r in ranks)


def test_unknown_measures_are_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(GPU_CHECK), "--dry-run", "--measures",
                           "train,speed", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "speed" in proc.stderr


def test_ddp_starts_one_process_per_gpu_at_most():
    assert ddp_processes("cuda", gpus=1, asked=2) == 1  # mmengine: one GPU per local rank
    assert ddp_processes("cuda", gpus=8, asked=2) == 2
    assert ddp_processes("cpu", gpus=0, asked=2) == 2  # gloo processes on the CPU


def test_summary_merges_runs_keeping_the_latest_value_that_did_not_fail(tmp_path):
    from gpu_check import summarize

    def report(started, parts):
        return {"started": started, "parts": parts}

    first = report("2026-01-01T00:00:00Z", {
        "detector:a": {"size": 32, "train": {"img_per_s": 10.0, "peak_allocated_gib": 1.0},
                       "harness_train": {"error": "boom"}},
        "ddp": {"error": "exit code 1: x", "rank_errors": [{"rank": 1, "error": "IndexError: y"}]},
    })
    second = report("2026-01-01T01:00:00Z", {
        "detector:a": {"size": 32, "train": {"img_per_s": 12.0, "peak_allocated_gib": 1.0},
                       "harness_train": {"img_per_s": 9.0, "peak_allocated_gib": 2.0},
                       "harness_over_bare": 0.75},
    })
    paths = []
    for name, r in (("late.json", second), ("early.json", first)):
        (tmp_path / name).write_text(json.dumps(r))
        paths.append(tmp_path / name)
    text = summarize(paths)
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|"))))
    assert row["detector"] == "a (32 px)"
    assert row["train img/s"] == "12" and row["harness_train img/s"] == "9"  # the later run's
    assert row["harness/bare"] == "0.75" and row["from"] == "early.json, late.json"
    assert "inference img/s" not in row  # no run measured it
    assert "rank 1: IndexError: y" in text
