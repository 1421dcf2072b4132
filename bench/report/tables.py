r"""The paper's tables: each knows the grid of runs it needs and lays records out like the paper.

A table never runs anything: it reads run records from the store, and a
missing run shows as a dash with the count of missing runs under the table.
The paper's published numbers (``bench/data/pixel_bleach_tmm2023.csv``, package data,
FaceForensics++) are rendered as a separate, labelled table beside ours and
never mixed into measured cells.

Rendering: pandas ``to_markdown`` (tabulate) and ``Styler.to_latex`` with
booktabs rules and multicolumn headers.

Error bars (issue 10). A measured accuracy or AUC of one seed shows as ``72.6 ±2.9``
(markdown) or ``$72.6 \pm 2.9$`` (LaTeX): the value and *half the width* of its 95 %
bootstrap interval over test videos (percentile intervals are slightly asymmetric;
the exact ``[lo, hi]`` is in the record's ``acc_ci``/``auc_ci``, or is computed from
the run's ``.npz`` for records written before intervals were stored). When the
context holds several seeds (``--seeds 0,1,2``) a cell is the mean ± the standard
deviation across the seeds present. A remedy fitted several times (``--fit-seeds``, the
quick profile's ``fit_seeds``) shows the mean ± sd over all its fits (detector seeds x fit
seeds). A remedy's cell is marked ``*`` (``^{*}``) when its difference from ``none``
(remedy minus ``none``, per face, paired with the ``none`` run of the same detector seed) is
significant at 95 % over fits *and* test videos together
(:func:`bench.core.verdict.hierarchical_paired_bootstrap`, method ``"t"``) with several
detector seeds. With one detector seed and several fits the same test is conditional on that
trained detector, whose training another seed or another machine changes, and the cell is
marked ``†`` (``^{\dagger}``) instead. A cell with one fit (one detector seed, one fit seed) is
never marked, since nothing is known about fitting it again. Table I's drop carries the paired interval of C23 minus C40 on the same videos. Each
table says so in its caption.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.core.intervals import BootstrapConfig, align, paired_bootstrap, video_bootstrap
from bench.core.reference import PAPER_CSV
from bench.core.registry import TABLES
from bench.core.spec import RunSpec
from bench.core.verdict import CONDITIONAL_MARK, Verdict, hierarchical_paired_bootstrap

DASH = "–"
#: a cell's mark in LaTeX
LATEX_MARKS = {"": "", "*": "^{*}", CONDITIONAL_MARK: "^{\\dagger}"}


class _DisplayNames(Mapping):
    """Detector name -> what tables call it: the plug-in's ``display_name`` class attribute
    (read from the source index or the class), else the registry name."""

    def __getitem__(self, name: str) -> str:
        from bench.core.registry import DETECTORS, attribute

        try:
            return attribute(DETECTORS, name, "display_name", None) or name
        except Exception:  # an unknown or unimportable name is shown as given
            return name

    def get(self, name: str, default: str | None = None) -> str:  # type: ignore[override]
        return self[name]

    def __iter__(self):
        from bench.core.registry import DETECTORS, registered_names

        return iter(registered_names(DETECTORS))

    def __len__(self) -> int:
        return sum(1 for _ in self)


PRETTY = _DisplayNames()


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
    seeds: tuple[int, ...] = ()  # several seeds (--seeds); empty = just ``seed``
    fit_seeds: tuple[int, ...] = ()  # remedy fits per detector (--fit-seeds); empty = fit seed 0

    def seed_list(self) -> tuple[int, ...]:
        return tuple(self.seeds) or (self.seed,)

    def fit_seed_list(self) -> tuple[int, ...]:
        return tuple(self.fit_seeds) or (0,)

    def for_seed(self, seed: int) -> GridContext:
        return replace(self, seed=seed, seeds=())

    def fits(self, spec: RunSpec) -> list[RunSpec]:
        """Every run of ``spec``'s cell: one per detector seed, times one per fit seed for a
        remedy (``none`` is not fitted: one per detector seed)."""
        fit_seeds = (0,) if spec.method == "none" else self.fit_seed_list()
        return [replace(spec, seed=s, fit_seed=f) for s in self.seed_list() for f in fit_seeds]

    @property
    def n_fits(self) -> int:
        """Fits of a remedy per cell (detector seeds x fit seeds)."""
        return len(self.seed_list()) * len(self.fit_seed_list())

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


COUNTS = ("tp", "fp", "tn", "fn", "n")
BOOT = BootstrapConfig()  # how tables compute intervals missing from old records


@dataclass(frozen=True)
class Cell:
    """A measured number with its spread (CI half-width or sd across seeds) and a mark."""

    value: float
    spread: float | None = None
    mark: str = ""  # "*", "†" (conditional on one trained detector: Verdict.mark) or ""
    digits: int = 1

    def format(self, fmt: str) -> str:
        value = f"{self.value:.{self.digits}f}"
        if fmt == "latex":
            body = value if self.spread is None else f"{value} \\pm {self.spread:.{self.digits}f}"
            return f"${body}{LATEX_MARKS[self.mark]}$"
        body = value if self.spread is None else f"{value} ±{self.spread:.{self.digits}f}"
        return body + self.mark

    def __str__(self) -> str:
        return self.format("md")

    def __float__(self) -> float:
        return float(self.value)


class RecordSet(dict):
    """Records by spec, plus the store their per-face arrays come from (for intervals and
    paired tests) and caches of what was computed from them."""

    def __init__(self, records: dict[RunSpec, dict[str, Any]], store: Any = None) -> None:
        super().__init__(records)
        self.store = store
        self._arrays: dict[RunSpec, dict[str, np.ndarray] | None] = {}
        self._boot: dict[RunSpec, dict[str, Any] | None] = {}
        self._paired: dict[tuple[RunSpec, RunSpec], dict[str, Any] | None] = {}
        self._verdicts: dict[tuple[tuple[RunSpec, ...], str, str], Verdict | None] = {}

    def arrays(self, spec: RunSpec) -> dict[str, np.ndarray] | None:
        if spec not in self._arrays:
            ok = self.store is not None and spec in self and self.store.has_arrays(spec)
            self._arrays[spec] = self.store.arrays(spec) if ok else None
        return self._arrays[spec]

    def interval(self, spec: RunSpec, name: str, level: str) -> list[float] | None:
        """The record's ``<name>_ci``, else one computed from the run's arrays (or None)."""
        rec = self.get(spec)
        ci = None if rec is None else rec["metrics"].get(level, {}).get(f"{name}_ci")
        if ci is not None or name not in ("acc", "auc"):
            return ci
        if spec not in self._boot:
            arr = self.arrays(spec)
            self._boot[spec] = None if arr is None else \
                video_bootstrap(arr["prob"], arr["label"], arr["video"], BOOT)
        boot = self._boot[spec]
        return None if boot is None or level not in boot else boot[level].get(f"{name}_ci")

    def paired(self, a: RunSpec, b: RunSpec, name: str, level: str) -> dict[str, Any] | None:
        """The paired bootstrap of run ``a`` minus run ``b`` on the same faces (or None)."""
        if (a, b) not in self._paired:
            arr_a, arr_b = self.arrays(a), self.arrays(b)
            try:
                self._paired[(a, b)] = None if arr_a is None or arr_b is None else \
                    paired_bootstrap(arr_a, arr_b, BOOT)
            except ValueError:  # not the same faces: no paired test
                self._paired[(a, b)] = None
        res = self._paired[(a, b)]
        return None if res is None or name not in res.get(level, {}) else res[level][name]

    def verdict(self, fits: Sequence[RunSpec], name: str, level: str) -> Verdict | None:
        """Remedy minus ``none`` over the runs ``fits`` of one cell (detector seeds x fit seeds)
        and test videos (:func:`~bench.core.verdict.hierarchical_paired_bootstrap`, each fit
        paired with the ``none`` run of its detector seed). Fits without per-face arrays or
        without their ``none`` run are left out; None when no fit is left or the runs do not hold
        the same faces. ``significant`` is None with a single fit."""
        key = (tuple(fits), name, level)
        if key in self._verdicts:
            return self._verdicts[key]
        result = None
        if name in ("acc", "auc"):
            nones: dict[int, dict[str, np.ndarray]] = {}
            rem, groups = [], []
            for s in fits:
                base = baseline_spec(s)
                arr, arr_none = self.arrays(s), self.arrays(base)
                if arr is None or arr_none is None:
                    continue
                nones.setdefault(s.seed, arr_none)
                rem.append(arr)
                groups.append(s.seed)
            if rem:
                ref = next(iter(nones.values()))
                try:
                    rem_p = [np.asarray(a["prob"])[align(ref, a)] for a in rem]
                    none_p = {g: np.asarray(a["prob"])[align(ref, a)] for g, a in nones.items()}
                    result = hierarchical_paired_bootstrap(
                        rem_p, none_p, np.asarray(ref["label"]), np.asarray(ref["video"]),
                        metric=name, n_boot=BOOT.n_boot, seed=BOOT.seed, groups=groups,
                        level=level, stratify=BOOT.stratify)
                except ValueError:  # not the same faces (or a metric undefined): no verdict
                    result = None
        self._verdicts[key] = result
        return result


def baseline_spec(spec: RunSpec) -> RunSpec:
    """The ``none`` run on the same detector and test set as ``spec``."""
    return replace(spec, method="none", method_params="{}", fit_compression="", fit_seed=0)


def _records(records: dict[RunSpec, dict[str, Any]]) -> RecordSet:
    return records if isinstance(records, RecordSet) else RecordSet(records)


def measured(records: dict[RunSpec, dict[str, Any]], ctx: GridContext, spec: RunSpec, name: str,
             level: str = "frame") -> Cell | str:
    """A measured cell over ``ctx``'s runs of it (:meth:`GridContext.fits`: detector seeds, and
    fit seeds for a remedy): one run -> value ± CI half-width; several -> mean ± sd over the
    runs present; a remedy's cell is marked when remedy minus ``none`` is significant over fits
    and test videos (:meth:`RecordSet.verdict`), never with a single fit."""
    records = _records(records)
    specs = ctx.fits(spec)
    found = [(s, metric(records.get(s), name, level)) for s in specs]
    found = [(s, v) for s, v in found if v is not None]
    if not found:
        return DASH
    mark = ""
    if spec.method != "none" and len(found) > 1:
        verdict = records.verdict([s for s, _ in found], name, level)
        mark = "" if verdict is None else verdict.mark
    values = [float(v) for _, v in found]
    if len(found) > 1 or len(specs) > 1:
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
        return Cell(float(np.mean(values)), sd, mark)
    if name in COUNTS:
        return fmt_cell(found[0][1]) + mark
    ci = records.interval(found[0][0], name, level)
    return Cell(values[0], None if ci is None else (ci[1] - ci[0]) / 2, mark,
                digits=1 if ci is not None else 2)


def measured_drop(records: dict[RunSpec, dict[str, Any]], ctx: GridContext, hq: RunSpec,
                  lq: RunSpec, name: str = "acc", level: str = "frame") -> Cell | str:
    """``hq`` minus ``lq`` (Table I's drop): one seed -> ± half-width of the paired interval
    over the same videos; several seeds -> mean ± sd of the per-seed drops."""
    records = _records(records)
    drops, cis = [], []
    for seed in ctx.seed_list():
        a, b = replace(hq, seed=seed), replace(lq, seed=seed)
        va, vb = metric(records.get(a), name, level), metric(records.get(b), name, level)
        if va is None or vb is None:
            continue
        drops.append(va - vb)
        cis.append(records.paired(a, b, name, level))
    if not drops:
        return DASH
    if len(ctx.seed_list()) > 1:
        return Cell(float(np.mean(drops)), float(np.std(drops, ddof=1)) if len(drops) > 1 else None)
    ci = cis[0]["ci"] if cis[0] is not None else None
    return Cell(drops[0], None if ci is None else (ci[1] - ci[0]) / 2, digits=1 if ci else 2)


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
    reference_data: ClassVar[str] = "FaceForensics++"  # what the paper's numbers were measured on
    level: str = "frame"

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        raise NotImplementedError

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        raise NotImplementedError

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        """The paper's numbers in the same layout, or None."""
        return None

    def cell_note(self, ctx: GridContext, fmt: str) -> str | None:
        """What the cells are, for the caption; None: intervals and stars (:func:`error_bar_note`)."""
        return None

    @property
    def file_stem(self) -> str:
        """The file its rendering is written to (no suffix): the name, plus the methods when a
        table with a method axis shows other methods than its own."""
        mine, default = getattr(self, "methods", None), getattr(type(self), "methods", None)
        return self.name if mine == default else f"{self.name}-{'-'.join(mine)}"

    def with_methods(self, methods: Sequence[str]) -> Table:
        """This table over other methods (``table main --method a,b``); a table without a
        method axis refuses."""
        if not hasattr(self, "methods"):
            raise ValueError(f"table {self.name!r} has no method axis; --method applies to "
                             "main, sota and remedies")
        table = copy.copy(self)
        table.methods = tuple(dict.fromkeys(methods))
        return table


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


def seed_grid(table: Table, ctx: GridContext) -> list[RunSpec]:
    """The runs ``table`` needs for every seed of ``ctx`` (and every fit seed of a remedy)."""
    fit_seeds = ctx.fit_seed_list()
    return [replace(s, fit_seed=f) if f else s
            for seed in ctx.seed_list() for s in table.grid(ctx.for_seed(seed))
            for f in ((0,) if s.method == "none" else fit_seeds)]


def error_bar_note(ctx: GridContext, fmt: str = "md") -> str:
    """What the ± and the mark mean, for a table's caption."""
    latex = fmt == "latex"
    pm, star, pct = ("$\\pm$", "$^{*}$", "\\%") if latex else ("±", "*", "%")
    seeds, fit_seeds = ctx.seed_list(), ctx.fit_seed_list()
    if ctx.n_fits == 1:
        return (f"Cells: value {pm} half-width of the 95 {pct} bootstrap interval over test videos "
                f"({BOOT.n_boot} percentile replicates; exact bounds in the records; a cell without "
                f"{pm}: its run saved no per-face arrays). Verdicts against `none`: one fit per "
                "cell: the difference's interval is over test videos only, conditional on that "
                "fit; no star is marked (see docs/statistics.md).")
    words = [f"detector seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else
             f"detector seed {seeds[0]}"]
    if len(fit_seeds) > 1:
        words.append(f"fit seeds {', '.join(map(str, fit_seeds))}")
    none_cells = (f"`none`: mean {pm} standard deviation across detector seeds" if len(seeds) > 1
                  else f"`none`: value {pm} half-width of the 95 {pct} bootstrap interval over "
                       "test videos")
    test = (f"at 95 {pct} over fits and test videos together (a t interval over fits combined "
            "with a paired video bootstrap, each fit paired with the `none` run of its detector "
            "seed; see docs/statistics.md)")
    if len(seeds) > 1:
        marks = f"{star}: remedy minus `none` is significant {test}."
    else:
        dagger = "$^{\\dagger}$" if latex else CONDITIONAL_MARK
        marks = (f"{dagger}: remedy minus `none` is significant {test}, conditional on this one "
                 "trained detector: training it again (another seed, another machine) can change "
                 "the verdict, so it is not starred; several detector seeds (--seeds 0,1,2) give "
                 "stars that include it.")
    return (f"Cells: a remedy's mean {pm} standard deviation over its {ctx.n_fits} fits "
            f"({' x '.join(words)}); {none_cells}. {marks}")


def render(table: Table, records: dict[RunSpec, dict[str, Any]], ctx: GridContext,
           fmt: str = "md", store: Any = None) -> Rendered:
    """Render ``table`` from ``records`` in markdown (``md``) or LaTeX (``latex``).

    ``store`` (a :class:`bench.core.store.ResultsStore`) gives the runs' per-face arrays, for
    intervals missing from old records and for the paired tests that mark cells.
    """
    if fmt not in ("md", "latex"):
        raise ValueError(f"unknown format {fmt!r}; expected 'md' or 'latex'")
    if not isinstance(records, RecordSet) or (store is not None and store is not records.store):
        records = RecordSet(records, store)
    grid = seed_grid(table, ctx)
    missing = sum(1 for s in grid if s not in records)
    ours = table.layout(records, ctx).map(lambda c: c.format(fmt) if isinstance(c, Cell) else c)
    ref = table.reference(ctx)
    seeds = ctx.seed_list()
    seed_words = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    where = (f"Measured on dataset `{ctx.dataset}`, profile `{ctx.profile}`, {seed_words}, "
             f"train {ctx.train_compression} / test {ctx.test_compression}; "
             f"{len(grid) - missing} of {len(grid)} runs present"
             + (f", {missing} missing (shown as {DASH})" if missing else "") + ". "
             # a table of `none` runs only (Table I) is not about fits: its note is the one-fit one
             + (table.cell_note(ctx, fmt)
                or error_bar_note(ctx if any(s.method != "none" for s in grid)
                                  else replace(ctx, fit_seeds=()), fmt)))
    ref_note = (f"Published numbers from the paper ({table.reference_data}, reference only, "
                f"not comparable to {ctx.dataset} data).")
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
                a = ctx.spec(detector=d, manipulation=m, method="none",
                             test_compression=ctx.train_compression)
                b = ctx.spec(detector=d, manipulation=m, method="none",
                             test_compression=ctx.test_compression)
                row += [measured(records, ctx, a, "acc"), measured(records, ctx, b, "acc"),
                        measured_drop(records, ctx, a, b, "acc")]
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index([PRETTY.get(d, d) for d in ctx.detectors],
                                                 name="Backbone"), columns=cols)


@TABLES.register_module(name="main")
class MainResults(Table):
    """Table III: Acc and AUC on LQ test per backbone and manipulation, without and with the bleach.

    ``MainResults(methods=(...))`` lays out other methods (``run --method threshold``,
    ``table main --method flip,none``): rows are then named by method, the title lists the
    methods, and the files are ``main-<methods>.md``/``.tex`` so the paper's ``main.md`` is
    never overwritten by another method's rows.
    """

    name = "main"
    paper_table = "III"
    PAPER_METHODS: ClassVar[tuple[str, ...]] = ("none", "pixel_bleach")

    def __init__(self, methods: Sequence[str] = PAPER_METHODS) -> None:
        self.methods: tuple[str, ...] = tuple(dict.fromkeys(methods))
        if not self.methods:
            raise ValueError("MainResults needs at least one method")

    @property
    def paper_layout(self) -> bool:
        return self.methods == self.PAPER_METHODS

    @property
    def title(self) -> str:  # type: ignore[override]
        if self.paper_layout:
            return "Acc. and AUC on LQ test, without and with Pixel Bleach (RECG)"
        return "Acc. and AUC on LQ test, by method: " + ", ".join(self.methods)

    @property
    def file_stem(self) -> str:
        return self.name if self.paper_layout else f"{self.name}-{'-'.join(self.methods)}"

    def with_methods(self, methods: Sequence[str]) -> MainResults:
        return MainResults(methods)

    def _row(self, d: str, k: str) -> tuple[str, str]:
        if self.paper_layout:
            return (PRETTY.get(d, d), "✓" if k != "none" else "×")
        return (PRETTY.get(d, d), k)

    @property
    def _row_names(self) -> list[str]:
        return ["Backbone", "RECG" if self.paper_layout else "Method"]

    def grid(self, ctx: GridContext) -> list[RunSpec]:
        return [ctx.spec(detector=d, manipulation=m, method=k)
                for d in ctx.detectors for m in ctx.manipulations for k in self.methods]

    def layout(self, records: dict[RunSpec, dict[str, Any]], ctx: GridContext) -> pd.DataFrame:
        cols = _manip_cols(ctx.manipulations, ["Acc", "AUC"])
        rows, index = [], []
        for d in ctx.detectors:
            for k in self.methods:
                index.append(self._row(d, k))
                row = []
                for m in ctx.manipulations:
                    spec = ctx.spec(detector=d, manipulation=m, method=k)
                    row += [measured(records, ctx, spec, "acc", self.level),
                            measured(records, ctx, spec, "auc", self.level)]
                rows.append(row)
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=self._row_names),
                            columns=cols)

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        manips = [m for m in ctx.manipulations]
        cols = _manip_cols(manips, ["Acc", "AUC"])
        rows = []
        for d in ctx.detectors:
            for k in self.methods:
                cells = _paper_cells("III", detector=d, method=k)
                if cells:  # the paper has rows for its five backbones and two methods only
                    rows.append((self._row(d, k), cells))
        return _ref_rows(rows, cols, ["Backbone (paper)", self._row_names[1]]) if rows else None


def _ablation_rows(records: dict[RunSpec, dict[str, Any]], ctx: GridContext, detector: str,
                   manipulation: str, variants: Sequence[tuple[str, dict[str, Any]]],
                   metrics: Sequence[str], method: str = "pixel_bleach") -> pd.DataFrame:
    rows = []
    for _label, params in variants:
        spec = ctx.spec(detector=detector, manipulation=manipulation, method=method, params=params)
        row = []
        for k in metrics:
            if k == "fn/fp":  # of the counts summed over the seeds (and fits) present
                recs = [records.get(s) for s in ctx.fits(spec)]
                fp = [metric(r, "fp") for r in recs if metric(r, "fp") is not None]
                fn = [metric(r, "fn") for r in recs if metric(r, "fn") is not None]
                row.append(DASH if not fp or sum(fp) == 0 or len(fn) != len(fp)
                           else f"{sum(fn) / sum(fp):.3f}")
            else:
                row.append(measured(records, ctx, spec, k))
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
                spec = ctx.spec(detector=d, manipulation=m, method=k)
                row += [measured(records, ctx, spec, "acc"), measured(records, ctx, spec, "auc")]
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
                    spec = self._spec(ctx, d, k, c)
                    row += [measured(records, ctx, spec, "acc"), measured(records, ctx, spec, "auc")]
                rows.append(row)
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["Backbone", "RECG"]),
                            columns=cols)

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        """The paper's Table X: one compression-agnostic cell per backbone (its test set is not
        stated, so it sits in its own column)."""
        rows = []
        for d in ctx.detectors:
            for k in ("none", "pixel_bleach"):
                cells = {("compression-agnostic (paper)", m): v for (_, m), v in
                         _paper_cells(self.paper_table, detector=d, method=k).items()}
                if cells:
                    rows.append(((PRETTY.get(d, d), "✓" if k != "none" else "×"), cells))
        cols = pd.MultiIndex.from_tuples([("compression-agnostic (paper)", "Acc"),
                                          ("compression-agnostic (paper)", "AUC")])
        return _ref_rows(rows, cols, ["Backbone (paper)", "RECG"]) if rows else None


@TABLES.register_module(name="web_upload")
class WebUpload(CompressionAgnostic):
    """Table D1: a bleach fitted on LQ (C40), tested unchanged on the web-upload presets.

    The paper (Sec. IV-D1) uploads 360 internet images to a web design platform and
    reports one accuracy without and with the bleach (52.92 -> 71.31); its detector and
    bleach are not stated. Here the platform is simulated by the four ``web_upload*``
    compressions (bench list compressions), the detector and bleach are the run's, and the
    faces are the manipulation's test split (FaceSwap when present)."""

    name, title, paper_table = "web_upload", "Web upload, bleach fitted on LQ", "D1"
    reference_data: ClassVar[str] = "360 internet images uploaded to canva.cn"
    test_compressions: ClassVar[tuple[str, ...]] = ("web_upload", "web_upload_social",
                                                     "web_upload_strong", "web_upload_random")

    def reference(self, ctx: GridContext) -> pd.DataFrame | None:
        df = paper_numbers()
        sel = df[df["table"] == self.paper_table]
        col = ("360 internet images, uploaded and downloaded (paper)", "Acc")
        rows = [((m, "✓" if m != "none" else "×"), {col: float(v)})
                for m, v in zip(sel["method"], sel["value"], strict=True)]
        return _ref_rows(rows, pd.MultiIndex.from_tuples([col]), ["Method (paper)", "RECG"]) \
            if rows else None


def get_table(name: str) -> Table:
    from bench.core.registry import build

    return build(TABLES, name)


def table_names() -> list[str]:
    from bench.core.registry import known_names

    return known_names(TABLES)


__all__ = ["Cell", "GridContext", "RecordSet", "Rendered", "Table", "get_table", "measured", "render",
           "seed_grid", "table_names"]


# --------------------------------------------------------------------------- grids from records


@dataclass
class RecordsGrid:
    """The grid a results folder's records cover (``bench table`` without selecting options):
    one (dataset, profile, options) group, and the axes its records span."""

    dataset: str
    profile: str
    options: str
    detectors: tuple[str, ...]
    manipulations: tuple[str, ...]
    methods: tuple[str, ...]
    train_compression: str
    test_compression: str
    seeds: tuple[int, ...]
    fit_seeds: tuple[int, ...]
    method_params: dict[str, dict[str, Any]]
    n_records: int
    others: list[tuple[str, str, str, int]]  # groups left out: (dataset, profile, options, runs)


def records_grid(specs: Sequence[RunSpec], dataset: str | None = None,
                 profile: str | None = None, options: str | None = None) -> RecordsGrid | None:
    """The grid ``specs`` (the records of a results folder) cover, within the (dataset,
    profile, options) chosen, or else the group holding the most records (None: no record).

    Axes keep the order of first appearance sorted by name; the train compression is the most
    common one and the test compression the most common other one (Table I's HQ column is the
    ``none`` run tested on the train compression)."""
    from collections import Counter

    chosen = [s for s in specs if (dataset is None or s.dataset == dataset)
              and (profile is None or s.profile == profile)
              and (options is None or s.options == options)]
    groups = Counter((s.dataset, s.profile, s.options) for s in chosen)
    if not groups:
        return None
    (ds, prof, opts), n = max(groups.items(), key=lambda kv: (kv[1], kv[0]))
    mine = [s for s in chosen if (s.dataset, s.profile, s.options) == (ds, prof, opts)]
    train = Counter(s.train_compression for s in mine).most_common(1)[0][0]
    tests = Counter(s.test_compression for s in mine if s.test_compression != train)
    params: dict[str, set[str]] = {}
    for s in mine:
        params.setdefault(s.method, set()).add(s.method_params)
    return RecordsGrid(
        dataset=ds, profile=prof, options=opts,
        detectors=_ordered({s.detector for s in mine}, GridContext.detectors),
        manipulations=_ordered({s.manipulation for s in mine}, GridContext.manipulations),
        methods=tuple(sorted({s.method for s in mine})),
        train_compression=train,
        test_compression=tests.most_common(1)[0][0] if tests else train,
        seeds=tuple(sorted({s.seed for s in mine})),
        fit_seeds=tuple(sorted({s.fit_seed for s in mine if s.method != "none"})) or (0,),
        method_params={m: json.loads(next(iter(p))) for m, p in params.items()
                       if len(p) == 1 and next(iter(p)) != "{}"},
        n_records=n,
        others=[(d, p, o, k) for (d, p, o), k in sorted(groups.items()) if (d, p, o) != (ds, prof, opts)],
    )


def _ordered(names: set[str], usual: Sequence[str]) -> tuple[str, ...]:
    """``names`` in the paper's order where it has one, then the others by name."""
    return tuple(sorted(names, key=lambda n: (usual.index(n) if n in usual else len(usual), n)))


def measured_runs(text: str) -> int | None:
    """How many runs a rendered table (markdown or LaTeX) says are present, or None."""
    import re

    found = re.search(r"(\d+) of (\d+) runs present", text)
    return None if found is None else int(found.group(1))
