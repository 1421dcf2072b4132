"""The p-value behind every verdict of two result folders, for the first n detector seeds.

Why (issue 29, item 3): two hosts agree on a verdict when its star lands on the same side of
the test's level on both. Where a cell's p-value sits near that level on either host, the star
flips with any perturbation (another CPU, another seed). This table shows, per Table III cell
and metric, each folder's remedy-minus-``none`` difference, star and p-value over the fits of
the first n detector seeds (``bench verify``'s own test, :func:`bench.report.verify.pooled_verdict`),
for several n, and how many verdicts are identical at each n.

    python tools/verdict_pvalues.py work_dirs/cross_host/host_a work_dirs/cross_host/host_b \\
        --seeds 3,4,5 --out docs/data/cross_host/pvalues_by_seeds.md

Writes OUT (markdown) and OUT with ``.json``. Exit 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.core.store import ResultsStore  # noqa: E402
from bench.core.verdict import Verdict  # noqa: E402
from bench.report.tables import PRETTY, RecordSet  # noqa: E402
from bench.report.verify import METRICS, claim, pooled_verdict, verdict_cells, verdict_label  # noqa: E402


def records_of(path: Path) -> RecordSet:
    """The run records of a results folder (a ValueError when it holds none)."""
    store = ResultsStore(path)
    if not path.is_dir() or not store.record_paths():
        raise ValueError(f"{path}: no run records")
    return RecordSet(store.index(), store)


def _text(v: Verdict | None) -> str:
    if v is None:
        return "n/a"
    p = "" if v.p_value is None else f" (p {v.p_value:.3f})"
    return f"{v.diff:+.1f}{'*' if v.significant else ''}{p}"


def table(a: Path, b: Path, counts: list[int]) -> dict:
    """Per cell and metric, both folders' verdicts over the first n detector seeds, each n."""
    ra, rb = records_of(a), records_of(b)
    cells = verdict_cells(sorted(set(ra) & set(rb), key=lambda s: s.run_id))
    rows, same = [], {n: [0, 0, 0] for n in counts}
    for key in sorted(cells, key=lambda s: (s.detector, s.manipulation, s.method)):
        for name in METRICS:
            row = {"cell": f"{PRETTY.get(key.detector, key.detector)} {key.manipulation} "
                           f"{key.method} {name}"}
            for n in counts:
                specs = [s for s in cells[key] if s.seed < n]
                va, vb = pooled_verdict(ra, specs, name), pooled_verdict(rb, specs, name)
                row[f"{n} A"], row[f"{n} B"] = _text(va), _text(vb)
                if va is not None and vb is not None:  # identical as `bench verify` says it
                    same[n][1] += 1
                    la, lb = verdict_label(va.diff, va.mark), verdict_label(vb.diff, vb.mark)
                    same[n][0] += int(la == lb)
                    same[n][2] += int(claim(la) == claim(lb))
            rows.append(row)
    return {"a": str(a), "b": str(b), "seeds": counts, "rows": rows,
            "identical": {str(n): {"identical": s[0], "compared": s[1], "same_claim": s[2]}
                          for n, s in same.items()}}


def markdown(t: dict) -> str:
    cols = [f"{n} {h}" for n in t["seeds"] for h in ("A", "B")]
    lines = ["# Verdicts and p-values over the first n detector seeds\n",
             f"A = `{t['a']}`, B = `{t['b']}`; remedy minus `none` over fits and videos "
             "(`*`: significant at 95 %), `tools/verdict_pvalues.py`.\n",
             "| cell | " + " | ".join(f"{c.split()[0]} seeds {c.split()[1]}" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    lines += ["| " + " | ".join([r["cell"]] + [r[c] for c in cols]) + " |" for r in t["rows"]]
    lines.append("| **identical verdicts** | " + " | ".join(
        f"{t['identical'][str(n)]['identical']} of {t['identical'][str(n)]['compared']} | "
        for n in t["seeds"]) + "|")
    lines.append("| **same claim** (significant alike, or in neither) | " + " | ".join(
        f"{t['identical'][str(n)]['same_claim']} of {t['identical'][str(n)]['compared']} | "
        for n in t["seeds"]) + "|")
    return "\n".join(lines) + "\n"


def two_folders(doc: str) -> argparse.ArgumentParser:
    """The command line both host tools share: two result folders and ``--out``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("a", type=Path, help="a result folder (host A)")
    p.add_argument("b", type=Path, help="another result folder (host B)")
    p.add_argument("--out", type=Path, required=True, help="markdown file (and .json beside it)")
    return p


def report(build: Callable[[], dict], render: Callable[[dict], str], out: Path) -> int:
    """Build a table (a ValueError: bad input, exit 2), write OUT and OUT.json, print it."""
    try:
        t = build()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(t))
    out.with_suffix(".json").write_text(json.dumps(t, indent=1) + "\n")
    print(render(t))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = two_folders(__doc__)
    p.add_argument("--seeds", default="3", help="comma list of seed counts n (seeds 0..n-1)")
    args = p.parse_args(argv)

    def build() -> dict:
        counts = [int(n) for n in args.seeds.split(",")]
        if any(n < 1 for n in counts):
            raise ValueError(f"--seeds: counts must be >= 1, got {args.seeds}")
        return table(args.a, args.b, counts)

    return report(build, markdown, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
