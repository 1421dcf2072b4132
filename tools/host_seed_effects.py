"""Does a detector seed pin the trained detector across hosts? (issue 29, item 3)

Why: two hosts agree on a verdict over detector seeds 0..n-1 only as far as each seed gives
them the same trained detector. If it does, the hosts' per-seed effects (remedy minus
``none``, averaged over the remedy's fits) move together; if another CPU's last bits send the
training elsewhere, each host draws its own detectors, the per-seed effects are uncorrelated,
and the spread of host A minus host B is about sqrt(2) times the spread across seeds: the two
hosts are then independent replications of the whole experiment, and their verdicts agree only
as often as two independent tests do.

For every verdict cell both folders hold (over the seeds both hold), this prints each seed's
fit-averaged effect on both hosts, the correlation across seeds, and the ratio
``sd(A - B) / (sqrt(2) * sd over seeds)`` (about 1: independent draws; about 0: the seed pins
the detector). The same for the ``none`` cells themselves (the detector's own accuracy and
AUC).

    python tools/host_seed_effects.py work_dirs/cross_host/host_a work_dirs/cross_host/host_b \\
        --out docs/data/cross_host/seed_effects_by_host.md

Writes OUT (markdown) and OUT with ``.json``. Exit 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.core.spec import RunSpec  # noqa: E402
from bench.report.tables import PRETTY, RecordSet, baseline_spec, metric  # noqa: E402
from bench.report.verify import LEVEL, METRICS, verdict_cells  # noqa: E402
from tools.verdict_pvalues import records_of, report, two_folders  # noqa: E402


def seed_effects(records: RecordSet, fits: list[RunSpec], name: str) -> dict[int, float]:
    """Per detector seed: the mean over its fits of remedy minus ``none`` (points)."""
    by_seed: dict[int, list[float]] = {}
    for s in fits:
        a, b = metric(records.get(s), name, LEVEL), metric(records.get(baseline_spec(s)), name, LEVEL)
        if a is not None and b is not None:
            by_seed.setdefault(s.seed, []).append(float(a) - float(b))
    return {k: float(np.mean(v)) for k, v in by_seed.items()}


def none_values(records: RecordSet, nones: list[RunSpec], name: str) -> dict[int, float]:
    """Per detector seed: the ``none`` cell's own value."""
    out = {}
    for s in nones:
        v = metric(records.get(s), name, LEVEL)
        if v is not None:
            out[s.seed] = float(v)
    return out


def compare_seeds(ea: dict[int, float], eb: dict[int, float]) -> dict | None:
    """Correlation across the seeds both hold, their spread, and the independence ratio."""
    seeds = sorted(set(ea) & set(eb))
    if len(seeds) < 3:
        return None
    a, b = np.array([ea[s] for s in seeds]), np.array([eb[s] for s in seeds])
    sd_seeds = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
    sd_diff = float(np.std(a - b, ddof=1))
    return {"seeds": seeds, "a": a.round(2).tolist(), "b": b.round(2).tolist(),
            "corr": float(np.corrcoef(a, b)[0, 1]) if sd_seeds > 0 else None,
            "sd_seeds": sd_seeds, "sd_diff": sd_diff,
            "ratio": sd_diff / (np.sqrt(2) * sd_seeds) if sd_seeds > 0 else None}


def table(a: Path, b: Path) -> dict:
    """Every cell's per-seed comparison, remedies and ``none``."""
    ra, rb = records_of(a), records_of(b)
    common = sorted(set(ra) & set(rb), key=lambda s: s.run_id)
    rows = []
    for key, fits in sorted(verdict_cells(common).items(),
                            key=lambda kv: (kv[0].detector, kv[0].manipulation, kv[0].method)):
        nones = list(dict.fromkeys(baseline_spec(s) for s in fits))
        for name in METRICS:
            label = f"{PRETTY.get(key.detector, key.detector)} {key.manipulation}"
            for method, ea, eb in ((key.method, seed_effects(ra, fits, name), seed_effects(rb, fits, name)),
                                   ("none", none_values(ra, nones, name), none_values(rb, nones, name))):
                row = compare_seeds(ea, eb)
                if row is not None:
                    rows.append({"cell": label, "method": method, "metric": name, **row})
    if not rows:
        raise ValueError(f"{a} and {b}: no cell with three or more detector seeds in common")
    return {"a": str(a), "b": str(b), "rows": rows, "summary": summary(rows)}


def summary(rows: list[dict]) -> dict:
    """Median correlation and ratio per method (the remedy's effect, ``none``'s value)."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == method]
        corr = [r["corr"] for r in sel if r["corr"] is not None]
        ratio = [r["ratio"] for r in sel if r["ratio"] is not None]
        out[method] = {"cells": len(sel), "median_corr": float(np.median(corr)) if corr else None,
                       "median_ratio": float(np.median(ratio)) if ratio else None}
    return out


def _f(x: float | None, fmt: str = "+.2f") -> str:
    return "–" if x is None else format(x, fmt)


def markdown(t: dict) -> str:
    lines = ["# Per-seed effects on two hosts\n",
             f"A = `{t['a']}`, B = `{t['b']}`, frame level, points; a remedy's row is its effect "
             "(remedy minus `none`, the mean over its fits) per detector seed, a `none` row the "
             "detector's own value. *ratio* = sd(A − B) / (√2 · sd over seeds): about 1 when each "
             "host draws its own detectors, about 0 when the seed pins them "
             "(`tools/host_seed_effects.py`).\n", "| what | cells | median correlation | median ratio |",
             "|---|---:|---:|---:|"]
    lines += [f"| {m} | {s['cells']} | {_f(s['median_corr'])} | {_f(s['median_ratio'], '.2f')} |"
              for m, s in t["summary"].items()]
    lines += ["", "| cell | method | metric | seeds | A | B | correlation | sd over seeds | sd(A − B) | ratio |",
              "|---|---|---|---|---|---|---:|---:|---:|---:|"]
    for r in t["rows"]:
        lines.append(f"| {r['cell']} | {r['method']} | {r['metric']} | {','.join(map(str, r['seeds']))} | "
                     f"{' '.join(f'{x:+.1f}' if r['method'] != 'none' else f'{x:.1f}' for x in r['a'])} | "
                     f"{' '.join(f'{x:+.1f}' if r['method'] != 'none' else f'{x:.1f}' for x in r['b'])} | "
                     f"{_f(r['corr'])} | {r['sd_seeds']:.1f} | {r['sd_diff']:.1f} | {_f(r['ratio'], '.2f')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = two_folders(__doc__).parse_args(argv)
    return report(lambda: table(args.a, args.b), markdown, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
