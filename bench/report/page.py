"""The results page: one self-contained HTML file with every table, the figures and each run's metadata.

``python -m bench report`` writes ``<results>/report.html`` from the run records alone
(nothing is run): every registered table laid out by :mod:`bench.report.tables` for the chosen
axes (with the paper's published numbers beside it where a table has them), every PNG
under ``<results>/figures`` embedded as a data URI (so the one file can be sent to a
colleague), the compression sweep's CSV when one was written, and per run its spec,
metrics, the configuration it resolves to (its profile with the spec's options, as this
version of the harness defines them), the method's configuration, package versions, git
commit and timings. The page is rendered with the Jinja2 template
``bench/templates/report.html.j2`` (autoescaped).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from bench.core.spec import RunSpec
from bench.core.store import ResultsStore, atomic_write_text, git_commit, package_versions
from bench.report.figures import read_index
from bench.report.tables import GridContext, Table, render

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"


def _html_table(df: pd.DataFrame) -> str:
    return df.to_html(classes="results", border=0, escape=True, na_rep="–")


def roman(numeral: str) -> int:
    """``"IV"`` -> 4 (0 for anything else), to list the tables in the paper's order."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
    if not numeral or any(c not in values for c in numeral.upper()):
        return 0
    total = 0
    for a, b in zip(numeral.upper(), numeral.upper()[1:] + " "):
        v = values[a]
        total += -v if b != " " and values[b] > v else v
    return total


def table_sections(tables: list[Table], records: dict[RunSpec, dict[str, Any]],
                   ctx: GridContext) -> list[dict[str, Any]]:
    """Per table, in the paper's order: heading, counts of runs, ours and the paper's HTML."""
    out = []
    for table in sorted(tables, key=lambda t: (roman(t.paper_table) or 999, t.name)):
        r = render(table, records, ctx, "md")  # counts of present and missing runs
        ref = table.reference(ctx)
        out.append({
            "name": table.name, "paper_table": table.paper_table, "title": table.title,
            "n_runs": r.n_runs, "n_missing": r.n_missing,
            "html": _html_table(table.layout(records, ctx)),
            "reference_html": _html_table(ref) if ref is not None else None,
            "run_ids": [s.run_id for s in table.grid(ctx) if s in records],
        })
    return out


def figure_items(figures_dir: Path) -> list[dict[str, Any]]:
    """Every PNG under ``figures_dir`` as a data URI, with its caption and PDF from ``index.json``."""
    index = read_index(figures_dir)
    items = []
    for png in sorted(figures_dir.glob("*.png")) if figures_dir.exists() else []:
        entry = index.get(png.stem, {})
        items.append({
            "name": png.stem,
            "caption": entry.get("caption") or png.stem,
            "runs": entry.get("runs", []),
            "src": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii"),
            "pdf": png.with_suffix(".pdf").name if png.with_suffix(".pdf").exists() else None,
        })
    return items


def _resolved_profile(spec: dict[str, Any]) -> dict[str, Any] | str:
    from bench.core.profiles import get_profile

    try:
        return get_profile(spec["profile"], json.loads(spec.get("options", "{}")))
    except (KeyError, ValueError) as exc:
        return f"cannot resolve profile {spec.get('profile')!r}: {exc}"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def run_items(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run: a summary row and its metadata as pretty JSON blocks."""
    items = []
    for rec in sorted(records, key=lambda r: r["run_id"]):
        spec, frame = rec["spec"], rec["metrics"].get("frame", {})
        facts = dict(rec.get("facts", {}))
        method_cfg = facts.pop("method_cfg", None)
        items.append({
            "run_id": rec["run_id"],
            "method": spec["method"], "detector": spec["detector"],
            "manipulation": spec["manipulation"], "test_compression": spec["test_compression"],
            "acc": frame.get("acc"), "auc": frame.get("auc"),
            "total_s": rec.get("timings", {}).get("total_s"),
            "created": rec.get("created", ""), "git_commit": rec.get("git_commit"),
            "blocks": [
                ("spec", _pretty(spec)),
                ("metrics", _pretty(rec["metrics"])),
                ("configuration (as the run resolved it)",
                 _pretty(rec.get("config") or _resolved_profile(spec))),
                ("method configuration", _pretty(method_cfg)),
                ("timings (s)", _pretty(rec.get("timings", {}))),
                ("facts", _pretty(facts)),
                ("versions", _pretty(rec.get("versions", {}))),
                ("checkpoints", _pretty(rec.get("checkpoints", {}))),
            ],
        })
    return items


def render_report(results: str | Path, ctx: GridContext, tables: list[Table]) -> str:
    """The page's HTML for the records under ``results``."""
    results = Path(results)
    store = ResultsStore(results)
    records = list(store.records())
    index: dict[RunSpec, dict[str, Any]] = {RunSpec.from_dict(r["spec"]): r for r in records}
    try:  # where bench.report.tables has RecordSet (intervals), cells get their intervals from the store
        from bench.report.tables import RecordSet  # type: ignore[attr-defined]

        index = RecordSet(index, store)
    except ImportError:
        pass
    sweep_csv = results / "sweep" / "sweep.csv"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE).render(
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        results=str(results), ctx=ctx, commit=git_commit(), versions=package_versions(),
        tables=table_sections(tables, index, ctx),
        figures=figure_items(results / "figures"),
        sweep_csv=str(sweep_csv.relative_to(results)) if sweep_csv.exists() else None,
        sweep_rows=sum(1 for _ in sweep_csv.open(encoding="utf-8")) - 1 if sweep_csv.exists() else 0,
        runs=run_items(records),
    )


def write_report(results: str | Path, ctx: GridContext, tables: list[Table],
                 out: Path | None = None) -> Path:
    """Write the page (default ``<results>/report.html``) atomically; return its path."""
    out = Path(out) if out is not None else Path(results) / "report.html"
    atomic_write_text(out, render_report(results, ctx, tables))
    return out


__all__ = ["render_report", "write_report"]
