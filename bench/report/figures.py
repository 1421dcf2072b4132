"""The paper's figures (Figs. 4-7) drawn from run records and the arrays saved beside them.

Drawing never trains or runs a model: every number comes from
``<results>/runs/<run_id>.npz`` (the engine saves it beside the record, with the
method's artifacts; see the array conventions in methods/pixel_bleach.py), or,
for older runs, ``<method_work_dir>/arrays.npz``. Keys read:

- Fig. 4 (:func:`fig4_margin_vs_norm`): ``label_sub``, ``phi_before``/``phi_after``
  and ``margin_before``/``margin_after`` -- logit margin (fake minus real) against the
  feature's L2 norm, before and after the bleach, coloured TP/TN/FP/FN (fake is
  positive; a face is called fake when its margin is > 0, the argmax of the logits).
- Fig. 5 (:func:`fig5_tsne`): ``phi_before``, ``phi_after``, ``label_sub`` -- one
  scikit-learn t-SNE fitted on the features before and after together (so both panels
  share one map and can be compared), drawn as two panels.
- Fig. 6 (:func:`fig6_bleach_grid`): ``images_original``, ``images_bleach``,
  ``images_bleached`` -- one row per face. The signed bleach is shown as grey (0) plus
  the bleach amplified by one factor for the whole grid (stated in its column title).
- Fig. 7 (:func:`fig7_training_curves`): ``curve_epoch``, ``curve_train_loss``,
  ``curve_val_acc``, ``curve_val_auc`` (fractions in [0, 1] are drawn as percentages; NaN
  AUC of a one-class epoch is a gap) -- of a run and, when it exists, of the run with
  the same spec but L_reg switched (``use_reg``), drawn on the same axes.

Every figure is written as PNG (150 dpi) and PDF under ``--out`` (default
``<results>/figures``), with one style (:data:`STYLE`), and listed with the run ids it
was drawn from in ``index.json`` beside them (the report uses it for captions).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
from matplotlib.figure import Figure  # pyplot is never used: no display, no global state
from matplotlib.ticker import MaxNLocator

from bench.core.store import ResultsStore, atomic_write_text

# One look for every figure of the harness (also the sweep's).
STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "figure.dpi": 100,
}
DPI = 150
# Colour-blind-safe (Okabe-Ito) colours.
OUTCOME_COLOURS = {"TP": "#D55E00", "TN": "#0072B2", "FP": "#E69F00", "FN": "#009E73"}
CLASS_COLOURS = {0: "#0072B2", 1: "#D55E00"}
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v"]
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

FIG4_KEYS = ("label_sub", "phi_before", "phi_after", "margin_before", "margin_after")
FIG5_KEYS = ("label_sub", "phi_before", "phi_after")
FIG6_KEYS = ("images_original", "images_bleach", "images_bleached")
FIG7_KEYS = ("curve_epoch", "curve_train_loss", "curve_val_acc", "curve_val_auc")


class MissingArraysError(KeyError):
    """Arrays a figure needs are not in the saved file (names the keys and the file)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Drawn:
    """A drawn figure: the matplotlib figure, the files written and the runs it shows."""

    name: str
    figure: Figure
    paths: list[Path]
    runs: list[str] = field(default_factory=list)
    caption: str = ""


def new_figure(width: float, height: float) -> Figure:
    """A figure in the harness style (no pyplot: nothing global, safe in threads and tests)."""
    with matplotlib.style.context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def save(fig: Figure, out: Path, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.pdf`` under ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.style.context(STYLE):
        for ext in ("png", "pdf"):
            path = out / f"{name}.{ext}"
            fig.savefig(path, dpi=DPI, metadata={"Creator": "bleachbench"} if ext == "png" else None)
            paths.append(path)
    return paths


def require(arrays: Mapping[str, np.ndarray], keys: Iterable[str], where: str = "arrays") -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise MissingArraysError(f"{where} lack {missing}; have {sorted(arrays)}")


def styled(fn: Any) -> Any:
    """Run a drawing function inside the harness style (rcParams apply at artist creation)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.style.context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------------- figures


def outcomes(labels: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """``"TP"|"TN"|"FP"|"FN"`` per face: fake is positive, called fake when margin > 0."""
    labels = np.asarray(labels).astype(bool)
    pred = np.asarray(margins, dtype=np.float64) > 0
    out = np.where(pred, np.where(labels, "TP", "FP"), np.where(labels, "FN", "TN"))
    return out.astype("<U2")


@styled
def fig4_margin_vs_norm(arrays: Mapping[str, np.ndarray], out: Path, name: str = "fig4_margin_norm",
                        title: str = "") -> Drawn:
    """Fig. 4: logit margin against feature norm, before and after the bleach, TP/TN/FP/FN coloured."""
    require(arrays, FIG4_KEYS)
    labels = np.asarray(arrays["label_sub"])
    fig = new_figure(7.0, 3.0)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, when in zip(axes, ("before", "after")):
        phi = np.asarray(arrays[f"phi_{when}"], dtype=np.float32)
        margin = np.asarray(arrays[f"margin_{when}"], dtype=np.float32)
        norm = np.linalg.norm(phi.reshape(len(phi), -1), axis=1)
        kind = outcomes(labels, margin)
        for k, colour in OUTCOME_COLOURS.items():
            sel = kind == k
            ax.scatter(norm[sel], margin[sel], s=8, c=colour, alpha=0.7, linewidths=0,
                       label=f"{k} ({int(sel.sum())})")
        ax.axhline(0.0, color="0.3", lw=0.8, ls="--")
        ax.set_xlabel(r"feature norm $\|\phi\|_2$")
        ax.set_title(f"{when} the bleach")
        ax.legend(loc="best", markerscale=1.5, frameon=False)
    axes[0].set_ylabel("logit margin (fake $-$ real)")
    if title:
        fig.suptitle(title)
    return Drawn(name, fig, save(fig, out, name))


@styled
def fig5_tsne(arrays: Mapping[str, np.ndarray], out: Path, name: str = "fig5_tsne", title: str = "",
              seed: int = 0, perplexity: float = 30.0, max_iter: int = 1000) -> Drawn:
    """Fig. 5: t-SNE of the detector's features before and after the bleach (one shared map).

    ``perplexity`` is capped at a third of the points; ``max_iter`` is scikit-learn's
    (at least 250).
    """
    from sklearn.manifold import TSNE

    require(arrays, FIG5_KEYS)
    labels = np.asarray(arrays["label_sub"]).astype(int)
    before = np.asarray(arrays["phi_before"], dtype=np.float32).reshape(len(labels), -1)
    after = np.asarray(arrays["phi_after"], dtype=np.float32).reshape(len(labels), -1)
    both = np.concatenate([before, after])
    # t-SNE needs perplexity < n; keep the usual 30 when there are enough points.
    perp = float(min(perplexity, max(2.0, (len(both) - 1) / 3)))
    emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed,
               max_iter=max_iter).fit_transform(both)
    fig = new_figure(7.0, 3.2)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, part, when in zip(axes, (emb[: len(labels)], emb[len(labels):]), ("before", "after")):
        for c, text in ((0, "real"), (1, "fake")):
            sel = labels == c
            ax.scatter(part[sel, 0], part[sel, 1], s=8, c=CLASS_COLOURS[c], alpha=0.7,
                       linewidths=0, label=f"{text} ({int(sel.sum())})")
        ax.set_title(f"{when} the bleach")
        ax.set_xlabel("t-SNE 1")
        ax.legend(loc="best", markerscale=1.5, frameon=False)
    axes[0].set_ylabel("t-SNE 2")
    fig.suptitle(title or f"t-SNE of $\\phi$ (perplexity {perp:g}, seed {seed})")
    return Drawn(name, fig, save(fig, out, name))


def bleach_display(bleach: np.ndarray) -> tuple[np.ndarray, float]:
    """Signed bleach -> displayable [0, 1] (0 is mid grey) and the amplification used."""
    b = np.asarray(bleach, dtype=np.float32)
    peak = float(np.max(np.abs(b))) if b.size else 0.0
    gain = 0.5 / peak if peak > 0 else 1.0
    return np.clip(0.5 + gain * b, 0.0, 1.0), gain


@styled
def fig6_bleach_grid(arrays: Mapping[str, np.ndarray], out: Path, name: str = "fig6_bleach",
                     title: str = "") -> Drawn:
    """Fig. 6: rows of original, bleach (amplified, grey = 0) and bleached faces."""
    require(arrays, FIG6_KEYS)
    orig, bleach, bleached = (np.asarray(arrays[k]) for k in FIG6_KEYS)
    if not (orig.shape == bleach.shape == bleached.shape and orig.ndim == 4 and orig.shape[-1] == 3):
        raise ValueError(f"Fig. 6 needs three [n,H,W,3] image arrays of one shape, got "
                         f"{orig.shape}, {bleach.shape}, {bleached.shape}")
    shown, gain = bleach_display(bleach)
    n = len(orig)
    fig = new_figure(3 * 1.5, max(n, 1) * 1.4 + 0.6)
    axes = np.atleast_2d(fig.subplots(n, 3, squeeze=False))
    heads = ("original", f"bleach x{gain:.3g}\n(grey = 0)", "bleached")
    for i in range(n):
        for j, img in enumerate((orig[i], shown[i], bleached[i])):
            ax = axes[i, j]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i == 0:
                ax.set_title(heads[j])
    for i in range(n):
        axes[i, 0].set_ylabel(f"face {i + 1}")
    if title:
        fig.suptitle(title)
    return Drawn(name, fig, save(fig, out, name))


def as_percent(values: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] (Pixel Bleach's val curves) as percentages; percentages stay as they are."""
    finite = values[np.isfinite(values)]
    return values * 100.0 if finite.size and np.max(np.abs(finite)) <= 1.0 else values


@styled
def fig7_training_curves(curves: Sequence[tuple[str, Mapping[str, np.ndarray]]], out: Path,
                         name: str = "fig7_curves", title: str = "") -> Drawn:
    """Fig. 7: train loss and LQ val acc/AUC per epoch, one line per labelled run (e.g. with/without L_reg)."""
    if not curves:
        raise ValueError("Fig. 7 needs the curves of at least one run")
    for label, arrays in curves:
        require(arrays, FIG7_KEYS, f"curves of {label!r}")
    fig = new_figure(8.0, 2.8)
    axes = fig.subplots(1, 3)
    panels = (("curve_train_loss", "train loss"), ("curve_val_acc", "LQ val accuracy (%)"),
              ("curve_val_auc", "LQ val AUC (%)"))
    for i, (label, arrays) in enumerate(curves):
        epoch = np.asarray(arrays["curve_epoch"])
        for ax, (key, ylabel) in zip(axes, panels):
            values = np.asarray(arrays[key], dtype=np.float64)
            if key != "curve_train_loss":
                values = as_percent(values)
            ax.plot(epoch, values, marker="o", ms=3,
                    color=CYCLE[i % len(CYCLE)], label=label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(frameon=False)
    if title:
        fig.suptitle(title)
    return Drawn(name, fig, save(fig, out, name))


# ------------------------------------------------------------------------------- from the store


def arrays_path(results: Path, record: dict[str, Any]) -> Path | None:
    """Where a run's arrays are: ``runs/<run_id>.npz``, else ``<method_work_dir>/arrays.npz``."""
    candidates = [Path(results) / "runs" / f"{record['run_id']}.npz"]
    work = record.get("checkpoints", {}).get("method_work_dir")
    if work:
        from bench.core.store import resolve_stored

        candidates.append(resolve_stored(results, work) / "arrays.npz")
    return next((p for p in candidates if p.exists()), None)


class SavedArrays(Mapping):
    """A run's ``.npz`` read lazily: keys at once, each array when first used (never pickles)."""

    def __init__(self, path: Path) -> None:
        import zipfile

        self.path = Path(path)
        try:
            with np.load(self.path, allow_pickle=False) as data:
                self._keys = list(data.files)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            from bench.core.files import corrupt

            raise corrupt("per-face arrays", self.path, exc, "delete it and its record (or run "
                          "with --force to make both again)") from exc
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._cache:
            if key not in self._keys:
                raise KeyError(key)
            with np.load(self.path, allow_pickle=False) as data:
                self._cache[key] = data[key]
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def load_arrays(results: Path, record: dict[str, Any]) -> Mapping[str, np.ndarray]:
    """A run's saved arrays (empty when none were saved), loaded as they are used."""
    path = arrays_path(results, record)
    return SavedArrays(path) if path is not None else {}


def _params(record: dict[str, Any]) -> dict[str, Any]:
    return json.loads(record["spec"].get("method_params", "{}"))


def _uses_reg(record: dict[str, Any]) -> bool:
    return bool(_params(record).get("use_reg", True))


def reg_counterpart(record: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The run with the same spec as ``record`` but L_reg switched (``use_reg`` flipped), if any."""
    def key(r: dict[str, Any]) -> tuple:
        spec = {k: v for k, v in r["spec"].items() if k != "method_params"}
        params = {k: v for k, v in _params(r).items() if k != "use_reg"}
        return json.dumps(spec, sort_keys=True), json.dumps(params, sort_keys=True)

    mine = key(record)
    for r in records:
        if r["run_id"] != record["run_id"] and key(r) == mine and _uses_reg(r) != _uses_reg(record):
            return r
    return None


def _describe(record: dict[str, Any]) -> str:
    s = record["spec"]
    params = s.get("method_params", "{}")
    return (f"{s['method']} on {s['detector']} / {s['manipulation']}, fit on "
            f"{s.get('fit_compression') or s['test_compression']}, test {s['test_compression']}"
            + (f", {params}" if params != "{}" else "") + f" (run {record['run_id']})")


def _newest_first(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Default parameters first (the main table's run), then the newest record.
    ordered = sorted(records, key=lambda r: (r.get("created", ""), r["run_id"]), reverse=True)
    return sorted(ordered, key=lambda r: r["spec"].get("method_params", "{}") != "{}")


def draw_all(results: str | Path = "results", run: str | None = None, out: Path | None = None,
             seed: int = 0, tsne_max_iter: int = 1000) -> tuple[list[Drawn], list[str]]:
    """Draw every figure the saved arrays allow; return the figures and why others were skipped.

    ``run`` picks the run for Figs. 4-7 (default: a Pixel Bleach run with default
    parameters if any, else the newest run with the arrays).
    """
    results = Path(results)
    out = Path(out) if out is not None else results / "figures"
    records = list(ResultsStore(results).records())
    if run is not None:
        chosen = [r for r in records if r["run_id"] == run]
        if not chosen:
            raise FileNotFoundError(f"no run record {results / 'runs' / (run + '.json')}")
        candidates = chosen
    else:
        candidates = _newest_first(records)
    with_arrays = [(r, load_arrays(results, r)) for r in candidates]
    with_arrays = [(r, a) for r, a in with_arrays if a]
    drawn: list[Drawn] = []
    skipped: list[str] = []

    def first(keys: Sequence[str]) -> tuple[dict[str, Any], Mapping[str, np.ndarray]] | None:
        return next(((r, a) for r, a in with_arrays if all(k in a for k in keys)), None)

    jobs = ((fig4_margin_vs_norm, FIG4_KEYS, "Fig. 4"), (fig5_tsne, FIG5_KEYS, "Fig. 5"),
            (fig6_bleach_grid, FIG6_KEYS, "Fig. 6"))
    for fn, keys, label in jobs:
        found = first(keys)
        if found is None:
            skipped.append(f"{label}: no run{' ' + run if run else ''} saved {list(keys)}")
            continue
        record, arrays = found
        kwargs = {"seed": seed, "max_iter": tsne_max_iter} if fn is fig5_tsne else {}
        d = fn(arrays, out, title=f"{label}: {record['spec']['detector']} / "
                                  f"{record['spec']['manipulation']}", **kwargs)
        d.runs, d.caption = [record["run_id"]], f"{label}, {_describe(record)}"
        drawn.append(d)

    found = _curve_pair(with_arrays, records, results)
    if found is None:
        skipped.append(f"Fig. 7: no run{' ' + run if run else ''} saved {list(FIG7_KEYS)}")
    else:
        d = fig7_training_curves([(lab, a) for lab, _, a in found], out,
                                 title="Fig. 7: training curves" + (
                                     ", with and without $L_{reg}$" if len(found) > 1 else ""))
        d.runs = [r["run_id"] for _, r, _ in found]
        d.caption = "Fig. 7, " + "; ".join(f"{lab}: {_describe(r)}" for lab, r, _ in found)
        drawn.append(d)
    for d in drawn:
        d.figure.clear()  # free memory; the files are written
    write_index(out, drawn)
    return drawn, skipped


def _curve_pair(with_arrays: list[tuple[dict[str, Any], Mapping[str, np.ndarray]]],
                records: list[dict[str, Any]], results: Path
                ) -> list[tuple[str, dict[str, Any], Mapping[str, np.ndarray]]] | None:
    """A run with curves and its L_reg counterpart (with curves) if one exists, else the run alone."""
    have = [(r, a) for r, a in with_arrays if all(k in a for k in FIG7_KEYS)]
    if not have:
        return None

    def label(r: dict[str, Any]) -> str:
        return "with $L_{reg}$" if _uses_reg(r) else "without $L_{reg}$"

    for r, a in have:
        other = reg_counterpart(r, records)
        if other is not None:
            b = load_arrays(results, other)
            if all(k in b for k in FIG7_KEYS):
                pair = sorted([(r, a), (other, b)], key=lambda x: not _uses_reg(x[0]))
                return [(label(x), x, y) for x, y in pair]
    r, a = have[0]
    return [(label(r), r, a)]


def write_index(out: Path, drawn: Sequence[Drawn]) -> Path:
    """``index.json``: each figure's files, caption and run ids, merged with figures drawn before."""
    path = out / "index.json"
    index: dict[str, Any] = {}
    if path.exists():
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            index = {}
    for d in drawn:
        index[d.name] = {"files": [p.name for p in d.paths], "caption": d.caption, "runs": d.runs}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path


def read_index(out: Path) -> dict[str, Any]:
    path = Path(out) / "index.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


__all__ = ["STYLE", "Drawn", "MissingArraysError", "draw_all", "fig4_margin_vs_norm", "fig5_tsne",
           "fig6_bleach_grid", "fig7_training_curves", "load_arrays", "new_figure", "outcomes",
           "reg_counterpart", "save", "styled"]
