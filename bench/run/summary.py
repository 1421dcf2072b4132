"""A grid's bookkeeping: the seconds spent per stage and the summary ``Engine.run`` returns
(runs made, runs skipped, cached detectors reused)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class StageClock:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=lambda: defaultdict(int))
