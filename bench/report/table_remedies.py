"""The remedy axis: every registered remedy on the same detectors and faces, and what each one costs.

- ``remedies`` (``python -m bench reproduce remedies``): rows = (backbone,
  remedy), columns = LQ test accuracy and AUC per manipulation, then what the
  remedy declares (:mod:`bench.core.fit_data`: retrains the detector, uses labels,
  uses paired HQ faces, adapts on test faces, is told the compression) and its
  fit time (the longest ``method_fit_s`` of its runs: on profiles that fit a
  method once for all manipulations, the runs after the first reuse it).
- ``remedy_cost``: from the same records, the extra inference time per face
  over ``none`` on the same backbone (wall clock of the run's prediction over
  its test faces, mean over manipulations; a test-time method's adaptation is
  part of its inference), the parameters a remedy adds (its own networks) and
  the detector elements it changes (counted against the frozen detector after
  fit).

The paper's Table IV (published, FaceForensics++, setting of ADD) is rendered
beside ``remedies`` as its own labelled table, never mixed in.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.core.fit_data import flags as declared_flags
from bench.core.registry import METHODS, TABLES, resolve
from bench.core.spec import RunSpec
from bench.report.tables import PRETTY, GridContext, Sota, Table, _manip_cols, fmt_cell, measured

REMEDIES: tuple[str, ...] = (
    "none", "threshold", "head_refit", "bn_adapt", "tent", "pixel_bleach",
    "pixel_bleach:paper_literal", "restoration", "stability_denoiser", "add_kd", "mixed_training",
    "lq_finetune",
)  # fmt: skip
# A row is a method name, or ``method:variant`` for a method run with ``variant=...`` (the two
# readings of Pixel Bleach side by side).
PROPERTIES = {  # column -> flag
    "Retrains": "retrains_detector", "Labels": "needs_labels", "Paired HQ": "needs_paired_hq_lq",
    "Test-time": "test_time", "Compr. known": "needs_compression_known",
}  # fmt: skip


def _flags(method: str, records: list[dict[str, Any]]) -> dict[str, bool]:
    for rec in records:
        got = rec.get("facts", {}).get("declares")
        if got:
            return got
    return declared_flags(resolve(METHODS, method))  # class flags when no run exists yet


def _row_spec(ctx: GridContext, detector: str, manipulation: str, row: str) -> RunSpec:
    method, _, variant = row.partition(":")
    return ctx.spec(detector=detector, manipulation=manipulation, method=method,
                    params={"variant": variant} if variant else None)


class _RemedyGrid(Table):
    methods: ClassVar[tuple[str, ...]] = REMEDIES

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [_row_spec(ctx, d, m, k)
                for d in ctx.detectors for k in self.methods for m in ctx.manipulations]

    def _records(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext, d: str,
                 k: str) -> list[dict[str, Any] | None]:
        return [records.get(_row_spec(ctx, d, m, k)) for m in ctx.manipulations]

    def _index(self, ctx: GridContext) -> pd.MultiIndex:
        return pd.MultiIndex.from_tuples(
            [(PRETTY.get(d, d), k) for d in ctx.detectors for k in self.methods],
            names=["Backbone", "Remedy"])


@TABLES.register_module(name="remedies")
class Remedies(_RemedyGrid):
    """Every remedy on LQ test (Acc, AUC per manipulation), what it declares and its fit time."""

    name, title, paper_table = "remedies", "Remedies compared on LQ test, same detectors and faces", "IV/XI (all remedies)"

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        cols = list(_manip_cols(ctx.manipulations, ["Acc", "AUC"]))
        cols += [(p, "") for p in PROPERTIES] + [("Fit (s)", "")]
        rows = []
        for d in ctx.detectors:
            for k in self.methods:
                recs = self._records(records, ctx, d, k)
                row = []
                for m in ctx.manipulations:
                    spec = _row_spec(ctx, d, m, k)
                    row += [measured(records, ctx, spec, "acc", self.level),
                            measured(records, ctx, spec, "auc", self.level)]
                present = [r for r in recs if r is not None]
                f = _flags(k.partition(":")[0], present)
                row += ["✓" if f.get(flag) else "" for flag in PROPERTIES.values()]
                fits = [r.get("timings", {}).get("method_fit_s") for r in present]
                fits = [v for v in fits if v is not None]
                row.append(fmt_cell(max(fits), 1) if fits else fmt_cell(None))
                rows.append(row)
        return pd.DataFrame(rows, index=self._index(ctx), columns=pd.MultiIndex.from_tuples(cols))

    def reference(self, ctx: GridContext) -> pd.DataFrame:
        return Sota().reference(ctx)


def ms_per_face(rec: dict[str, Any] | None) -> float | None:
    """Prediction wall time per test face of a run, in ms (None for records without it)."""
    if rec is None:
        return None
    t, n = rec.get("timings", {}).get("predict_s"), rec.get("facts", {}).get("n_test_faces")
    return None if t is None or not n else 1000.0 * float(t) / int(n)


@TABLES.register_module(name="remedy_cost")
class RemedyCost(_RemedyGrid):
    """What each remedy costs: extra inference ms per face over none, parameters added, detector changed."""

    name, title, paper_table = "remedy_cost", "Cost of each remedy, measured in its runs", "IV/XI (cost)"

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        cols = ["ms/face", "extra ms/face", "params added", "detector params changed",
                "detector buffers changed"]
        rows = []
        for d in ctx.detectors:
            base = [ms_per_face(r) for r in self._records(records, ctx, d, "none")]
            for k in self.methods:
                recs = self._records(records, ctx, d, k)
                ms = [ms_per_face(r) for r in recs]
                own = [v for v in ms if v is not None]
                extra = [v - b for v, b in zip(ms, base) if v is not None and b is not None]
                facts = [r.get("facts", {}) for r in recs if r is not None]
                added = [f["params_added"] for f in facts if "params_added" in f]
                changed = [f["detector_elements_changed"]["parameters"] for f in facts
                           if "detector_elements_changed" in f]
                buffers = [f["detector_elements_changed"].get("buffers", 0) for f in facts
                           if "detector_elements_changed" in f]
                rows.append([
                    fmt_cell(float(np.mean(own)) if own else None, 2),
                    fmt_cell(float(np.mean(extra)) if extra else None, 2),
                    fmt_cell(int(max(added)) if added else None),
                    fmt_cell(int(max(changed)) if changed else None),
                    fmt_cell(int(max(buffers)) if buffers else None),
                ])  # fmt: skip
        return pd.DataFrame(rows, index=self._index(ctx), columns=cols)
