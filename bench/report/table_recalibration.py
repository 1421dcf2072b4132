"""The recalibration diagnostic of every remedy cell (issue 32, item 4): is a gain only a threshold?

``python -m bench table recalibration`` (rows: backbone x method, default ``none``, ``threshold``
and ``pixel_bleach``; ``--method`` picks others). Per manipulation, beside the method's LQ test
accuracy and AUC (means over the cell's runs: detector seeds x fit seeds), the accuracy the best
threshold would reach by the equal-variance normal model (:mod:`bench.core.recalibration`):

- ``Best@own``: at the method's own AUC, the most any threshold on its scores could give;
- ``Best@none``: at ``none``'s AUC, what recalibrating the untreated detector alone would give.

A gain that is only recalibration shows as accuracy rising towards ``Best@none`` with the AUC
flat; accuracy above ``Best@none`` needs the ranking to improve. The paper's Table III cells
(``none`` and Pixel Bleach) get the same columns from their own numbers, as labelled reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.core.recalibration import best_threshold_accuracy, ffpp_headroom_targets
from bench.core.registry import TABLES
from bench.core.spec import RunSpec
from bench.report.tables import PRETTY, GridContext, Table, _manip_cols, fmt_cell, metric

COLUMNS = ("Acc", "AUC", "Best@own", "Best@none")


def mean_over_fits(records: dict[RunSpec, dict[str, Any]], ctx: GridContext, spec: RunSpec,
                   name: str) -> float | None:
    """The mean of metric ``name`` over the runs of ``spec``'s cell that exist (None: no run)."""
    values = [metric(records.get(s), name) for s in ctx.fits(spec)]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def best_at(auc: float | None) -> float | None:
    """The normal model's best-threshold accuracy (percent) at an AUC in percent."""
    return None if auc is None else 100.0 * best_threshold_accuracy(min(max(auc, 0.0), 100.0) / 100.0)


@TABLES.register_module(name="recalibration")
class Recalibration(Table):
    """Accuracy against the best threshold at the same AUC, per method (normal model)."""

    name = "recalibration"
    paper_table = "III (diagnostic)"
    title = "Recalibration diagnostic: accuracy and the best threshold's at the same AUC (normal model)"

    methods: tuple[str, ...] = ("none", "threshold", "pixel_bleach")

    def __init__(self, methods: Sequence[str] | None = None) -> None:
        if methods is not None:
            self.methods = tuple(dict.fromkeys(methods))

    def cell_note(self, ctx: GridContext, fmt: str) -> str | None:
        return (f"Cells: means over the runs of each cell ({ctx.n_fits} fits of a remedy: detector "
                "seeds x fit seeds); Best@own and Best@none: the normal model's best-threshold "
                "accuracy at the method's AUC and at `none`'s (docs/recalibration.md). A model "
                "reading of the means: no interval, no star.")

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [ctx.spec(detector=d, manipulation=m, method=k)
                for d in ctx.detectors for m in ctx.manipulations for k in dict.fromkeys(("none", *self.methods))]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        rows, index = [], []
        for d in ctx.detectors:
            none_auc = {m: mean_over_fits(records, ctx, ctx.spec(detector=d, manipulation=m,
                                                                 method="none"), "auc")
                        for m in ctx.manipulations}
            for k in self.methods:
                row: list[str] = []
                for m in ctx.manipulations:
                    spec = ctx.spec(detector=d, manipulation=m, method=k)
                    acc, auc = (mean_over_fits(records, ctx, spec, n) for n in ("acc", "auc"))
                    row += [fmt_cell(acc, 1), fmt_cell(auc, 1), fmt_cell(best_at(auc), 1),
                            fmt_cell(best_at(none_auc[m]), 1)]
                rows.append(row)
                index.append((PRETTY.get(d, d), k))
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["Backbone", "Method"]),
                            columns=_manip_cols(ctx.manipulations, COLUMNS))

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        df = ffpp_headroom_targets()
        rows, index = [], []
        for d in ctx.detectors:
            for k in ("none", "pixel_bleach"):
                sel = df[(df.detector == d) & (df.method == k)].set_index("manipulation")
                if sel.empty:
                    continue
                none = df[(df.detector == d) & (df.method == "none")].set_index("manipulation")
                row = []
                for m in ctx.manipulations:
                    r = sel.loc[m] if m in sel.index else None
                    n = none.loc[m] if m in none.index else None
                    row += [_num(None if r is None else r.acc), _num(None if r is None else r.auc),
                            _num(None if r is None else r.best_acc),
                            _num(None if n is None else n.best_acc)]
                rows.append(row)
                index.append((PRETTY.get(d, d), k))
        if not rows:
            return None
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(
            index, names=["Backbone (paper)", "Method"]), columns=_manip_cols(ctx.manipulations, COLUMNS))


def _num(value: float | None) -> str:
    return fmt_cell(None if value is None or np.isnan(value) else float(value), 1)
