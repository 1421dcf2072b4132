"""tools/drills.py (issue 31, "Done when"): every drill passes. About two minutes on two
CPU cores (one smoke run, then a copy per drill), hence ``slow``."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_drills_of_issue_31_all_pass(capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import drills
    finally:
        sys.path.pop(0)
    assert drills.main([]) == 0, capsys.readouterr().out
