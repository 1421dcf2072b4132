"""tools/cross_host.py (issue 29, item 3): at smoke size it runs the Table III grid plain and
as an emulated second host (AVX2 cap, one thread), the face cache shared, and reports the
agreement as a number (JSON and markdown)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from cross_host import host_env, main  # noqa: E402 - tools/ is not a package


def test_host_b_environment():
    assert host_env("isa", None) == {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    assert host_env("threads", 3) == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    assert set(host_env("both", 1)) == {"ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY",
                                        "OMP_NUM_THREADS", "MKL_NUM_THREADS"}


@pytest.mark.slow
def test_smoke_cross_host_reports_an_agreement_figure(tmp_path):
    code = main(["--profile", "smoke", "--detector", "tiny", "--manipulation", "FaceSwap",
                 "--out", str(tmp_path), "--emulate", "both", "--threads", "1"])
    assert code in (0, 1)  # pass or fail is the measurement; 2 would be a failed run
    figures = json.loads((tmp_path / "cross_host.json").read_text())
    assert figures["cells_compared"] == 6 and figures["verdicts_compared"] == 0
    assert figures["conditional_compared"] == 2  # one detector seed: reported, not judged
    assert 0 <= figures["cells_inside_pct"] <= 100
    assert figures["host_b_env"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert figures["face_cache_shared"] and (tmp_path / "host_b" / "cache").is_symlink()
    assert figures["passed"] == (code == 0)
    assert "verdicts over detector seeds identical" in (tmp_path / "cross_host.md").read_text()
