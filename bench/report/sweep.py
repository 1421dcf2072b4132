"""The compression sweep: a frozen detector and each remedy, fitted once, across severity levels.

``python -m bench sweep --detector xception --method none,threshold,pixel_bleach
--compression h264_crf18:45:3,jpeg_q10:95:10,deeperforensics`` builds one run spec per
detector x method x level x manipulation and hands them to the engine (finished runs are
skipped, as everywhere). A remedy is fitted on the profile's LQ compression
(``RunSpec.fit_compression``), once per detector, and tested unchanged at every level; the
engine keeps the fitted method by its fit key, and a run at the LQ compression itself is
the main table's run.

Level syntax (comma-separated items, see :func:`parse_levels`):

- ``<prefix><start>:<stop>:<step>``: the levels ``start, start+step, ...`` up to and
  *including* ``stop`` when the steps land on it (``h264_crf18:45:3`` is CRF 18, 21, ...,
  45; ``jpeg_q10:95:10`` is quality 10, 20, ..., 90); ``<prefix><n>`` must be a name the
  ``COMPRESSIONS`` registry knows (``h264_crf<crf>``, ``jpeg_q<quality>``, ...).
- a bare name (``c40``, ``jpeg_q50``, ``web_upload``) is one level.
- a group name from :data:`GROUPS`: ``deeperforensics`` is DeeperForensics-1.0's seven
  perturbations at their five registered levels (``df_<type>_<1..5>``,
  :data:`datasets.compression_deeperforensics.DF_LEVELS`).

The unaggregated numbers go to ``<out>/sweep.csv``: one row per detector x method x
compression x level x manipulation (RobustBench style), frame-level acc and AUC and
their 95 % intervals when the records have them (``metrics.frame.acc_ci`` /
``auc_ci``, two numbers; empty otherwise). The figure per detector and manipulation
draws acc and AUC against severity, one panel per numbered compression family (levels
outside one, such as ``c40`` or ``web_upload``, share a panel), one line per method, with the interval as a band when present; with several manipulations a figure
of the mean over manipulations is drawn too, without bands (intervals do not average).
Severity grows to the right: axes of a ``quality`` parameter are reversed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core.registry import COMPRESSIONS, build, known_names, pattern_direction
from bench.core.spec import RunSpec
from bench.report.figures import (
    CYCLE,
    LINESTYLES,
    MARKERS,
    Drawn,
    new_figure,
    save,
    styled,
    write_index,
)
from bench.report.tables import GridContext

NAMED = "named levels"  # the panel of levels outside a numbered family
# Parameters for which a higher value is a milder compression (the axis is reversed).
MILDER_WHEN_HIGHER = {"quality"}
CSV_COLUMNS = ["detector", "method", "compression", "level", "level_param", "compression_name",
               "manipulation", "acc", "acc_ci_low", "acc_ci_high", "auc", "auc_ci_low",
               "auc_ci_high", "n_faces", "fit_compression", "train_compression", "dataset",
               "profile", "seed", "run_id"]


@dataclass(frozen=True)
class Level:
    """One severity level: a registered compression name and where it sits on its family's axis."""

    name: str  # the registered compression, e.g. "h264_crf21"
    family: str  # the axis it belongs to, e.g. "h264_crf", "df_blur", "c40"
    param: str = ""  # the varying parameter, e.g. "crf", "quality", "level" ("" for a bare name)
    value: float | None = None  # its value (None for a bare name outside a numbered family)


def _df_levels() -> list[Level]:
    from bleachbench.datasets.compression_deeperforensics import DF_LEVELS

    return [Level(f"df_{kind}_{lvl}", f"df_{kind}", "level", lvl)
            for kind in DF_LEVELS for lvl in range(1, len(DF_LEVELS[kind]) + 1)]


# Named groups of levels, expanded by parse_levels.
GROUPS: dict[str, Callable[[], list[Level]]] = {"deeperforensics": _df_levels}

_NUM = r"-?\d+(?:\.\d+)?"
_RANGE = re.compile(rf"(?P<prefix>.*?)(?P<start>{_NUM}):(?P<stop>{_NUM}):(?P<step>{_NUM})")


def _families() -> dict[str, str]:
    """Registry patterns ending in one parameter: prefix -> parameter (``jpeg_q`` -> ``quality``)."""
    out = {}
    for display in known_names(COMPRESSIONS):
        m = re.fullmatch(r"([^<>]*)<(\w+)>", display)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _fmt(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check(level: Level, item: str) -> Level:
    try:
        build(COMPRESSIONS, level.name)
    except Exception as exc:  # unknown name or a value the compression rejects
        raise ValueError(f"--compression item {item!r}: level {level.name!r} is not a valid "
                         f"compression: {exc}") from exc
    return level


def parse_levels(text: str) -> list[Level]:
    """Expand ``--compression`` (see the module docstring) into levels, in order, without repeats."""
    families = _families()
    levels: list[Level] = []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError("--compression: no levels given")
    for item in items:
        if item in GROUPS:
            levels += [_check(lv, item) for lv in GROUPS[item]()]
            continue
        m = _RANGE.fullmatch(item)
        if m:
            prefix = m.group("prefix")
            if prefix not in families:
                raise ValueError(f"--compression item {item!r}: {prefix!r} is not a numbered "
                                 f"compression family; known: {sorted(families)}")
            start, stop, step = (_number(m.group(k)) for k in ("start", "stop", "step"))
            if step == 0 or (stop - start) * step < 0:
                raise ValueError(f"--compression item {item!r}: step {step} never goes from "
                                 f"{start} to {stop}")
            n = math.floor((stop - start) / step + 1e-9) + 1
            for i in range(n):
                v = start + i * step
                v = round(v, 10) if isinstance(v, float) else v
                levels.append(_check(Level(f"{prefix}{_fmt(v)}", prefix, families[prefix], v), item))
            continue
        if ":" in item:
            raise ValueError(f"--compression item {item!r}: expected <name><start>:<stop>:<step>, "
                             f"e.g. h264_crf18:45:3")
        level = Level(item, item)
        for prefix, param in sorted(families.items(), key=lambda kv: -len(kv[0])):
            m = re.fullmatch(rf"{re.escape(prefix)}({_NUM})", item)
            if m:
                level = Level(item, prefix, param, _number(m.group(1)))
                break
        levels.append(_check(level, item))
    return list(dict.fromkeys(levels))


def sweep_specs(ctx: GridContext, methods: Sequence[str], levels: Sequence[Level]) -> list[RunSpec]:
    """One spec per detector x method x level x manipulation; remedies fit on the profile's LQ."""
    specs = []
    for d in ctx.detectors:
        for k in methods:
            for lv in levels:
                for m in ctx.manipulations:
                    fit = ctx.test_compression if k != "none" and lv.name != ctx.test_compression else ""
                    specs.append(ctx.spec(detector=d, manipulation=m, method=k,
                                          test_compression=lv.name, fit_compression=fit))
    return specs


def interval(metrics: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    """``(low, high)`` of ``<name>_ci`` in a record's metrics (a pair, or a dict low/high), else Nones."""
    ci = metrics.get(f"{name}_ci")
    if isinstance(ci, dict):
        ci = (ci.get("low", ci.get("lo")), ci.get("high", ci.get("hi")))
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in ci):
        return float(ci[0]), float(ci[1])
    return None, None


def _value(metrics: dict[str, Any], name: str) -> float | None:
    v = metrics.get(name)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def sweep_rows(records: dict[RunSpec, dict[str, Any]], ctx: GridContext, methods: Sequence[str],
               levels: Sequence[Level]) -> pd.DataFrame:
    """The unaggregated table (:data:`CSV_COLUMNS`); a run without a record has empty numbers."""
    by_name = {lv.name: lv for lv in levels}
    rows = []
    for spec in sweep_specs(ctx, methods, levels):
        lv = by_name[spec.test_compression]
        rec = records.get(spec)
        frame = (rec or {}).get("metrics", {}).get("frame", {})
        acc_lo, acc_hi = interval(frame, "acc")
        auc_lo, auc_hi = interval(frame, "auc")
        rows.append({
            "detector": spec.detector, "method": spec.method, "compression": lv.family,
            "level": lv.value, "level_param": lv.param, "compression_name": lv.name,
            "manipulation": spec.manipulation, "acc": _value(frame, "acc"), "acc_ci_low": acc_lo,
            "acc_ci_high": acc_hi, "auc": _value(frame, "auc"), "auc_ci_low": auc_lo,
            "auc_ci_high": auc_hi, "n_faces": frame.get("n"),
            "fit_compression": spec.method_fit_compression if spec.method != "none" else "",
            "train_compression": spec.train_compression, "dataset": spec.dataset,
            "profile": spec.profile, "seed": spec.seed, "run_id": spec.run_id,
        })
    df = pd.DataFrame(rows, columns=CSV_COLUMNS)
    df["level"] = pd.Series([r["level"] for r in rows], dtype=object)  # 50, not 50.0
    return df


def milder_when_higher(family: str, param: str) -> bool:
    """Whether a higher value of ``family``'s parameter is a milder compression (axis reversed):
    as the family declares it (``register_pattern(..., stronger="lower")`` or a ``stronger``
    attribute of its factory); only a family that declares nothing falls back to the
    parameter's name (``quality``)."""
    declared = pattern_direction(COMPRESSIONS, family)
    if declared:
        return declared == "lower"
    return param in MILDER_WHEN_HIGHER


def _axis_label(family: str, param: str) -> str:
    if not param:
        return "compression"
    return f"{family} {param} (stronger →)"  # quality axes are drawn reversed


@styled
def plot_sweep(df: pd.DataFrame, out: Path, name: str, title: str, bands: bool = True) -> Drawn:
    """Acc (top) and AUC (bottom) against severity, a panel per compression family, a line per method."""
    # Numbered families get a panel each; named levels (c40, web_upload, ...) share one.
    panel = df["compression"].where(df["level"].notna(), NAMED)
    families = list(dict.fromkeys(panel))
    methods = list(dict.fromkeys(df["method"]))
    fig = new_figure(max(3.0, 2.4 * len(families)), 4.6)
    axes = np.atleast_2d(fig.subplots(2, len(families), squeeze=False))
    for j, fam in enumerate(families):
        part = df[panel == fam]
        numeric = part["level"].notna().all()
        param = part["level_param"].iloc[0] if numeric else ""
        names = list(dict.fromkeys(part["compression_name"]))
        for i, (metric, ylabel) in enumerate((("acc", "accuracy (%)"), ("auc", "AUC (%)"))):
            ax = axes[i, j]
            for c, k in enumerate(methods):
                rows = part[part["method"] == k]
                if numeric:
                    rows = rows.sort_values("level")
                    x = rows["level"].astype(float).to_numpy()
                else:
                    x = np.array([names.index(n) for n in rows["compression_name"]], dtype=float)
                y = rows[metric].astype(float).to_numpy()
                colour = CYCLE[c % len(CYCLE)]
                ax.plot(x, y, marker=MARKERS[c % len(MARKERS)], ms=3, color=colour,
                        ls=LINESTYLES[c % len(LINESTYLES)], label=k)
                lo = rows[f"{metric}_ci_low"].astype(float).to_numpy()
                hi = rows[f"{metric}_ci_high"].astype(float).to_numpy()
                if bands and np.isfinite(lo).any():
                    ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)
            if not numeric:
                ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
            elif milder_when_higher(fam, param):
                ax.invert_xaxis()
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == 1:
                ax.set_xlabel(_axis_label(fam, param))
            else:
                ax.set_title(fam)
    axes[0, 0].legend(frameon=False)
    fig.suptitle(title)
    return Drawn(name, fig, save(fig, out, name))


def plot_all(df: pd.DataFrame, out: Path) -> list[Drawn]:
    """One figure per detector and manipulation (with bands), plus the mean over manipulations."""
    drawn = []
    for d, part in df.groupby("detector", sort=False):
        manips = list(dict.fromkeys(part["manipulation"]))
        for m in manips:
            rows = part[part["manipulation"] == m]
            fig = plot_sweep(rows, out, f"sweep_{d}_{m}",
                             f"{d} / {m}: frozen detector and remedies across compression levels")
            fig.runs = [r for r in rows["run_id"] if isinstance(r, str)]
            fig.caption = (f"Compression sweep, {d} on {m} ({rows['dataset'].iloc[0]}, profile "
                           f"{rows['profile'].iloc[0]}); bands: 95 % intervals where recorded")
            drawn.append(fig)
        if len(manips) > 1:
            keys = ["detector", "method", "compression", "level", "level_param", "compression_name"]
            mean = (part.groupby(keys, sort=False, dropna=False)[["acc", "auc"]].mean().reset_index())
            for col in ("acc_ci_low", "acc_ci_high", "auc_ci_low", "auc_ci_high"):
                mean[col] = np.nan
            fig = plot_sweep(mean, out, f"sweep_{d}_mean",
                             f"{d}: mean over {len(manips)} manipulations (no intervals)", bands=False)
            fig.runs = [r for r in part["run_id"] if isinstance(r, str)]
            fig.caption = f"Compression sweep, {d}, mean over {', '.join(manips)}"
            drawn.append(fig)
    for f in drawn:
        f.figure.clear()
    write_index(out, drawn)
    return drawn


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def methods_list(text: str, known: Iterable[str]) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in set(known)]
    if unknown or not names:
        raise ValueError(f"--method: unknown method(s) {unknown}; known: {sorted(known)}")
    return names


__all__ = ["CSV_COLUMNS", "GROUPS", "Level", "interval", "parse_levels", "plot_all", "plot_sweep",
           "sweep_rows", "sweep_specs", "write_csv"]
