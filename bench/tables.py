"""The paper's tables: each knows the grid of runs it needs and lays records out like the paper.

A table never runs anything: it reads run records from the store, and a
missing run shows as a dash with the count of missing runs under the table.
The paper's published numbers (``results/paper/pixel_bleach_tmm2023.csv``,
FaceForensics++) are rendered as a separate, labelled table beside ours and
never mixed into measured cells.

Rendering: pandas ``to_markdown`` (tabulate) and ``Styler.to_latex`` with
booktabs rules and multicolumn headers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from bench.registry import TABLES
from bench.spec import RunSpec

PAPER_CSV = Path(__file__).resolve().parents[1] / "results" / "paper" / "pixel_bleach_tmm2023.csv"
DASH = "–"
PRETTY = {
    "xception": "Xception", "meso_inception4": "MesoInception4", "f3net": "F3-Net",
    "resnet50": "ResNet-50", "efficientnet_b4": "EfficientNet-B4",
}


@dataclass(frozen=True)
class GridContext:
    """What a table's grid depends on: the axes the user chose."""

    dataset: str = "synthetic"
    profile: str = "quick"
    seed: int = 0
    detectors: tuple[str, ...] = ("xception", "meso_inception4", "f3net", "resnet50", "efficientnet_b4")
    manipulations: tuple[str, ...] = ("FaceSwap", "Face2Face", "Deepfakes", "NeuralTextures")
    train_compression: str = "c23"
    test_compression: str = "c40"
    options: str = "{}"
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method, explicit

    def spec(self, *, detector: str, manipulation: str, method: str,
             test_compression: str | None = None, fit_compression: str = "",
             params: dict[str, Any] | None = None) -> RunSpec:
        merged = {**self.method_params.get(method, {}), **(params or {})}
        return RunSpec.make(
            dataset=self.dataset, manipulation=manipulation, detector=detector, method=method,
            train_compression=self.train_compression,
            test_compression=test_compression or self.test_compression,
            fit_compression=fit_compression, method_params=merged, profile=self.profile,
            options=json.loads(self.options), seed=self.seed,
        )


def metric(record: dict[str, Any] | None, name: str, level: str = "frame") -> float | None:
    if record is None:
        return None
    value = record["metrics"].get(level, {}).get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def fmt_cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return DASH
    if isinstance(value, int) or (isinstance(value, float) and float(value).is_integer() and abs(value) > 100):
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def paper_numbers(path: Path = PAPER_CSV) -> pd.DataFrame:
    """The paper's transcribed numbers, one row per cell."""
    df = pd.read_csv(path, dtype={"table": str})
    return df


class Table:
    """Base class of a ``TABLES`` entry."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    paper_table: ClassVar[str] = ""  # the paper's roman numeral
    level: str = "frame"

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        raise NotImplementedError

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        raise NotImplementedError

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        """The paper's numbers in the same layout, or None."""
        return None


@dataclass
class Rendered:
    name: str
    text: str
    n_runs: int
    n_missing: int


def _markdown(df: pd.DataFrame) -> str:
    flat = df.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" ".join(str(c) for c in col if str(c)) for col in flat.columns]
    flat = flat.reset_index()
    return flat.to_markdown(index=False, disable_numparse=True)


def _latex(df: pd.DataFrame, caption: str, label: str) -> str:
    styler = df.style
    return styler.to_latex(
        hrules=True, multicol_align="c", multirow_align="c", caption=caption,
        label=f"tab:{label}", position="t", position_float="centering",
        column_format="l" * df.index.nlevels + "r" * len(df.columns),
    )


def render(table: Table, records: dict[RunSpec, dict[str, Any]], ctx: GridContext,
           fmt: str = "md") -> Rendered:
    """Render ``table`` from ``records`` in markdown (``md``) or LaTeX (``latex``)."""
    if fmt not in ("md", "latex"):
        raise ValueError(f"unknown format {fmt!r}; expected 'md' or 'latex'")
    grid = table.grid(ctx)
    missing = sum(1 for s in grid if s not in records)
    ours = table.layout(records, ctx)
    ref = table.reference(ctx)
    where = (f"Measured on dataset `{ctx.dataset}`, profile `{ctx.profile}`, seed {ctx.seed}, "
             f"train {ctx.train_compression} / test {ctx.test_compression}; "
             f"{len(grid) - missing} of {len(grid)} runs present"
             + (f", {missing} missing (shown as {DASH})" if missing else "") + ".")
    ref_note = ("Published numbers from the paper (FaceForensics++, reference only, "
                "not comparable to synthetic data).")
    if fmt == "md":
        parts = [f"### Table {table.paper_table}: {table.title}", "", where, "", _markdown(ours)]
        if ref is not None:
            parts += ["", ref_note, "", _markdown(ref)]
        text = "\n".join(parts) + "\n"
    else:
        caption = f"{table.title}. {where.replace('`', '')}"
        parts = [_latex(ours, caption, table.name)]
        if ref is not None:
            parts += [_latex(ref, f"{table.title}: {ref_note}", f"{table.name}-paper")]
        text = "\n".join(parts)
    return Rendered(table.name, text, len(grid), missing)


# --------------------------------------------------------------------------- the tables


def _manip_cols(manipulations: Sequence[str], metrics: Sequence[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples([(m, k) for m in manipulations for k in metrics])


def _ref_rows(rows: Sequence[tuple[Any, dict[tuple[str, str], float | None]]],
              columns: pd.MultiIndex, index_names: Sequence[str]) -> pd.DataFrame:
    data, index = [], []
    for key, cells in rows:
        index.append(key)
        data.append([fmt_cell(cells.get(c)) for c in columns])
    idx = pd.MultiIndex.from_tuples(index, names=index_names) if isinstance(index[0], tuple) \
        else pd.Index(index, name=index_names[0])
    return pd.DataFrame(data, index=idx, columns=columns)


def _paper_cells(table: str, **match: str) -> dict[tuple[str, str], float | None]:
    df = paper_numbers()
    sel = df[df["table"] == table]
    for k, v in match.items():
        sel = sel[sel[k] == v]
    out: dict[tuple[str, str], float | None] = {}
    for _, row in sel.iterrows():
        value = row["value"]
        key = (str(row["manipulation"]), "Acc" if row["metric"] == "acc" else str(row["metric"]).upper())
        out[key] = None if pd.isna(value) else float(value)
    return out


@TABLES.register_module(name="cross_compression")
class CrossCompression(Table):
    """Table I: accuracy on HQ (train compression) and LQ (test compression) test sets, and the drop."""

    name = "cross_compression"
    title = "Cross-compression accuracy of detectors trained on HQ"
    paper_table = "I"

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [ctx.spec(detector=d, manipulation=m, method="none", test_compression=c)
                for d in ctx.detectors for m in ctx.manipulations
                for c in (ctx.train_compression, ctx.test_compression)]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        hq, lq = ctx.train_compression.upper(), ctx.test_compression.upper()
        cols = _manip_cols(ctx.manipulations, [hq, lq, "Drop"])
        rows = []
        for d in ctx.detectors:
            row = []
            for m in ctx.manipulations:
                a = metric(records.get(ctx.spec(detector=d, manipulation=m, method="none",
                                                test_compression=ctx.train_compression)), "acc")
                b = metric(records.get(ctx.spec(detector=d, manipulation=m, method="none",
                                                test_compression=ctx.test_compression)), "acc")
                row += [fmt_cell(a), fmt_cell(b), fmt_cell(None if a is None or b is None else a - b)]
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index([PRETTY.get(d, d) for d in ctx.detectors],
                                                 name="Backbone"), columns=cols)


@TABLES.register_module(name="main")
class MainResults(Table):
    """Table III: Acc and AUC on LQ test per backbone and manipulation, without and with the bleach."""

    name = "main"
    title = "Acc. and AUC on LQ test, without and with Pixel Bleach (RECG)"
    paper_table = "III"
    methods: tuple[str, ...] = ("none", "pixel_bleach")

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [ctx.spec(detector=d, manipulation=m, method=k)
                for d in ctx.detectors for m in ctx.manipulations for k in self.methods]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        cols = _manip_cols(ctx.manipulations, ["Acc", "AUC"])
        rows, index = [], []
        for d in ctx.detectors:
            for k in self.methods:
                index.append((PRETTY.get(d, d), "✓" if k != "none" else "×"))
                row = []
                for m in ctx.manipulations:
                    rec = records.get(ctx.spec(detector=d, manipulation=m, method=k))
                    row += [fmt_cell(metric(rec, "acc", self.level)),
                            fmt_cell(metric(rec, "auc", self.level))]
                rows.append(row)
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["Backbone", "RECG"]),
                            columns=cols)

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        manips = [m for m in ctx.manipulations]
        cols = _manip_cols(manips, ["Acc", "AUC"])
        rows = []
        for d in ctx.detectors:
            for k in self.methods:
                cells = _paper_cells("III", detector=d, method=k)
                if cells:  # the paper has rows for its five backbones and two methods only
                    rows.append(((PRETTY.get(d, d), "✓" if k != "none" else "×"), cells))
        return _ref_rows(rows, cols, ["Backbone (paper)", "RECG"]) if rows else None


def _ablation_rows(records: dict[RunSpec, dict[str, Any]], ctx: GridContext, detector: str,
                   manipulation: str, variants: Sequence[tuple[str, dict[str, Any]]],
                   metrics: Sequence[str], method: str = "pixel_bleach") -> pd.DataFrame:
    rows = []
    for _label, params in variants:
        rec = records.get(ctx.spec(detector=detector, manipulation=manipulation, method=method,
                                   params=params))
        vals = {k: metric(rec, k) for k in ("acc", "auc", "fp", "fn")}
        row = []
        for k in metrics:
            if k == "fn/fp":
                fp, fn = vals["fp"], vals["fn"]
                row.append(DASH if fp in (None, 0) or fn is None else f"{fn / fp:.3f}")
            else:
                row.append(fmt_cell(vals[k]))
        rows.append(row)
    heads = [{"acc": "Acc", "auc": "AUC", "fp": "FP", "fn": "FN", "fn/fp": "FN/FP"}[k] for k in metrics]
    cols = pd.MultiIndex.from_tuples([(manipulation, h) for h in heads])
    return pd.DataFrame(rows, index=pd.Index([v[0] for v in variants], name=PRETTY.get(detector, detector)),
                        columns=cols)


class Ablation(Table):
    """An ablation on one backbone and manipulation: one pixel_bleach run per variant."""

    detector: ClassVar[str] = "xception"
    manipulation: ClassVar[str] = "FaceSwap"
    variants: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = ()
    metrics: ClassVar[tuple[str, ...]] = ("acc", "auc")
    paper_setting: ClassVar[dict[str, str]] = {}  # variant label -> paper CSV setting

    def _detector(self, ctx: GridContext) -> str:
        return self.detector if self.detector in ctx.detectors or not ctx.detectors else ctx.detectors[0]

    def _manipulation(self, ctx: GridContext) -> str:
        return self.manipulation if self.manipulation in ctx.manipulations else ctx.manipulations[0]

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [ctx.spec(detector=self._detector(ctx), manipulation=self._manipulation(ctx),
                         method="pixel_bleach", params=p) for _, p in self.variants]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        return _ablation_rows(records, ctx, self._detector(ctx), self._manipulation(ctx),
                              self.variants, self.metrics)

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        if not self.paper_setting:
            return None
        df = paper_numbers()
        rows = []
        for label, _ in self.variants:
            setting = self.paper_setting.get(label)
            sel = df[(df["table"] == self.paper_table) & (df["setting"] == setting)]
            vals = {r["metric"]: r["value"] for _, r in sel.iterrows()}
            rows.append([fmt_cell(None if pd.isna(vals.get(k, float("nan"))) else float(vals[k]),
                                  3 if k == "fn_over_fp" else 2)
                         for k in [("fn_over_fp" if m == "fn/fp" else m) for m in self.metrics]])
        heads = [{"acc": "Acc", "auc": "AUC", "fp": "FP", "fn": "FN", "fn/fp": "FN/FP"}[k]
                 for k in self.metrics]
        cols = pd.MultiIndex.from_tuples([(self.manipulation, h) for h in heads])
        return pd.DataFrame(rows, index=pd.Index([v[0] for v in self.variants],
                                                 name=f"{PRETTY.get(self.detector)} (paper)"),
                            columns=cols)


@TABLES.register_module(name="scale_s")
class ScaleS(Ablation):
    """Table V: the bleach scale s on F3-Net (FaceSwap)."""

    name, title, paper_table = "scale_s", "Bleach scale s on F3-Net", "V"
    detector = "f3net"
    variants = tuple((f"s={s}", {"s": s}) for s in (1.0, 0.1, 0.001, 0.01))
    paper_setting = {f"s={s}": f"s={t}" for s, t in ((1.0, "1"), (0.1, "0.1"), (0.001, "0.001"),
                                                     (0.01, "0.01"))}


@TABLES.register_module(name="alpha_gamma")
class AlphaGamma(Ablation):
    """Table VI: the loss weights alpha (L_reg) and gamma (L_ce) on Xception (FaceSwap)."""

    name, title, paper_table = "alpha_gamma", "Loss weights alpha and gamma", "VI"
    variants = tuple((f"alpha={a}, gamma={g}", {"alpha": a, "gamma": g})
                     for a, g in ((0.5, 2.0), (1.0, 1.0), (1.0, 2.0), (2.0, 2.0), (1.0, 4.0)))


@TABLES.register_module(name="rem")
class RemLoss(Ablation):
    """Table VII: the compression remedy loss L_rem on/off, with FP and FN counts."""

    name, title, paper_table = "rem", "Effect of the compression remedy loss L_rem", "VII"
    variants = (("without L_rem", {"use_rem": False}), ("with L_rem", {}))
    metrics = ("acc", "auc", "fp", "fn")
    paper_setting = {"without L_rem": "without L_rem", "with L_rem": "with L_rem"}


@TABLES.register_module(name="offset_m")
class OffsetM(Ablation):
    """Table VIII: the balanced offset m, with FP, FN and FN/FP."""

    name, title, paper_table = "offset_m", "Balanced offset training strategy m", "VIII"
    variants = (("m=-0.7", {"m": -0.7}), ("m=0", {"m": 0.0}), ("m=0.7", {}))
    metrics = ("acc", "fp", "fn", "fn/fp")
    paper_setting = {"m=-0.7": "m=-0.7", "m=0": "m=0", "m=0.7": "m=0.7"}


@TABLES.register_module(name="reg_k")
class RegK(Ablation):
    """Table IX: the regularisation loss L_reg on/off and its k."""

    name, title, paper_table = "reg_k", "Effect of the regularisation loss L_reg and k", "IX"
    variants = (("without L_reg", {"use_reg": False}), ("k=1", {"k": 1.0}), ("k=10", {"k": 10.0}),
                ("k=50", {}))
    metrics = ("acc", "auc", "fp", "fn")


@TABLES.register_module(name="sota")
class Sota(Table):
    """Tables IV/XI: remedies without retraining compared on LQ test (Xception)."""

    name, title, paper_table = "sota", "Remedies compared on LQ test", "IV"
    methods: tuple[str, ...] = ("none", "threshold", "pixel_bleach")

    def _detector(self, ctx: GridContext) -> str:
        return "xception" if "xception" in ctx.detectors else ctx.detectors[0]

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [ctx.spec(detector=self._detector(ctx), manipulation=m, method=k)
                for m in ctx.manipulations for k in self.methods]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        d = self._detector(ctx)
        cols = _manip_cols(ctx.manipulations, ["Acc", "AUC"])
        rows = []
        for k in self.methods:
            row = []
            for m in ctx.manipulations:
                rec = records.get(ctx.spec(detector=d, manipulation=m, method=k))
                row += [fmt_cell(metric(rec, "acc")), fmt_cell(metric(rec, "auc"))]
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index(list(self.methods), name=f"Method ({PRETTY.get(d, d)})"),
                            columns=cols)

    def reference(self, ctx: GridContext) -> pd.DataFrame:
        df = paper_numbers()
        sel = df[df["table"] == "IV"]
        methods = list(dict.fromkeys(sel["method"]))
        cols = _manip_cols(ctx.manipulations, ["Acc"])
        rows = []
        for k in methods:
            cells = {(r["manipulation"], "Acc"): float(r["value"])
                     for _, r in sel[sel["method"] == k].iterrows()}
            rows.append((k, cells))
        return _ref_rows(rows, cols, ["Method (paper, setting of ADD)"])


@TABLES.register_module(name="compression_agnostic")
class CompressionAgnostic(Table):
    """Table X: a bleach trained on the LQ compression, tested on other compressions unchanged."""

    name, title, paper_table = "compression_agnostic", "Compression-agnostic bleach", "X"
    test_compressions: ClassVar[tuple[str, ...]] = ("c40", "h264_crf35", "jpeg_q50", "web_upload")

    def _manipulation(self, ctx: GridContext) -> str:
        return "FaceSwap" if "FaceSwap" in ctx.manipulations else ctx.manipulations[0]

    def _spec(self, ctx: GridContext, d: str, k: str, c: str) -> RunSpec:
        fit = ctx.test_compression if k != "none" else ""
        return ctx.spec(detector=d, manipulation=self._manipulation(ctx), method=k,
                        test_compression=c, fit_compression=fit if c != fit else "")

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [self._spec(ctx, d, k, c) for d in ctx.detectors for k in ("none", "pixel_bleach")
                for c in self.test_compressions]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        cols = _manip_cols(self.test_compressions, ["Acc", "AUC"])
        rows, index = [], []
        for d in ctx.detectors:
            for k in ("none", "pixel_bleach"):
                index.append((PRETTY.get(d, d), "✓" if k != "none" else "×"))
                row = []
                for c in self.test_compressions:
                    rec = records.get(self._spec(ctx, d, k, c))
                    row += [fmt_cell(metric(rec, "acc")), fmt_cell(metric(rec, "auc"))]
                rows.append(row)
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["Backbone", "RECG"]),
                            columns=cols)


def get_table(name: str) -> Table:
    from bench.registry import build

    return build(TABLES, name)


def table_names() -> list[str]:
    from bench.registry import known_names

    return known_names(TABLES)


__all__ = ["GridContext", "Rendered", "Table", "get_table", "render", "table_names"]
