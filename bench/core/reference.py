"""The paper's published numbers (Li, Zheng et al., IEEE TMM 2023), packaged with bleachbench.

Tables show them beside ours, labelled as published, never mixed into ours; the recalibration
diagnostic computes the testbed's headroom targets from them.
"""

from __future__ import annotations

from pathlib import Path

PAPER_CSV = Path(__file__).resolve().parents[1] / "data" / "pixel_bleach_tmm2023.csv"

__all__ = ["PAPER_CSV"]
