"""Does a set of records made here agree with a published one? (issue 29, items 3-4)

:func:`compare` reads two results folders (``mine``: records made on this machine; ``theirs``:
a published set such as ``results/quick``, or another host's work folder) and compares them
on the runs both hold (the same :class:`RunSpec`: detector x manipulation x method and its
parameters x seed x compression x profile options):

* **cells**: frame accuracy and AUC; the difference (mine minus theirs) and whether each lies
  inside the other's 95 % interval over test videos (the records' ``acc_ci``/``auc_ci``, or
  one computed from the run's arrays as the tables do);
* **verdicts**: for every remedy run whose ``none`` run (same detector and test set) is in both
  sets, remedy minus ``none``, computed the same way for both sets and on the same fits
  (the detector seeds and fit seeds both sets hold for that cell): with one fit, the paired
  bootstrap over test videos (``RecordSet.paired``: the single-fit, conditional star); with
  several (detector seeds x fit seeds), :func:`bench.core.verdict.hierarchical_paired_bootstrap`
  over the fits and videos (fits grouped by detector seed, each seed its own ``none``), the
  test over fits of ``bench/core/verdict.py``. A verdict is its sign and its mark: ``+*``,
  ``-*`` (significant at 95 % over several detector seeds), ``+†``, ``-†`` (significant, but
  conditional on one trained detector: one detector seed in common), ``+``, ``-`` (not
  significant) or ``0``.

Pass/fail (:attr:`Comparison.passed`), a check of the installation:

* the ``none`` cells: their accuracy moved by at most ``none_tolerance`` points on average
  (default 3; measured between hosts: 1.0-1.9). This checks the data and the detectors;
* the verdicts over several detector seeds: none significant with opposite signs (a
  contradiction: where a verdict flips, it must be one a table shows as not significant);
* only with ``tolerance`` (``--tolerance SHARE``): at least that share identical (same sign
  and mark). The default does not judge the share: two hosts train their detectors from the
  same seed into different detectors, and the bleach's effect per detector seed is
  uncorrelated between them (``tools/host_seed_effects.py``), so two sound installations are
  independent replications of the experiment and agree on a verdict only as often as two
  independent tests do. The share is reported against :data:`GOAL` (issue 29's 95 %), and
  beside it the share of the same *claim* (significant the same way, or not significant on
  both: the sign of a difference no test supports is not a claim) and of the same sign.

Verdicts conditional on one trained detector (``†``, and one fit) are reported, not judged:
another machine trains another detector, and the bleach's verdict on one detector changes with
it (docs/results.md). Cells inside each other's intervals are reported, not judged either: a
remedy's cell may move by more than the test-set interval when it is fitted again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.intervals import align
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.core.verdict import CONDITIONAL_MARK, Verdict, hierarchical_paired_bootstrap
from bench.report.tables import PRETTY, RecordSet, baseline_spec, metric

METRICS = ("acc", "auc")
LEVEL = "frame"
#: defaults of ``verify``'s pass rule (the CLI's --tolerance and --none-tolerance): the share of
#: identical verdicts is not judged unless asked for (module docstring)
TOLERANCE: float | None = None
NONE_TOLERANCE = 3.0
#: issue 29's goal for the share of identical verdicts between two hosts, reported beside it
GOAL = 0.95


class VerifyInputError(ValueError):
    """Bad input (a missing folder, nothing to compare): the CLI exits 2 with this line."""


@dataclass(frozen=True)
class CellDiff:
    spec: RunSpec
    metric: str
    mine: float
    theirs: float
    mine_in_theirs: bool | None  # mine inside their 95 % interval (None: no interval)
    theirs_in_mine: bool | None

    @property
    def diff(self) -> float:
        return self.mine - self.theirs

    @property
    def inside(self) -> bool:
        """Each value inside the other's interval (an interval missing counts as not inside)."""
        return bool(self.mine_in_theirs and self.theirs_in_mine)


@dataclass(frozen=True)
class VerdictDiff:
    spec: RunSpec  # the remedy's run, seed = the first seed compared
    seeds: tuple[int, ...]  # the detector seeds compared (every fit of each)
    metric: str
    mine: str
    theirs: str
    mine_diff: float | None
    theirs_diff: float | None

    @property
    def conditional(self) -> bool:
        """One detector seed compared: a verdict about that trained detector, not judged."""
        return len(self.seeds) < 2

    @property
    def identical(self) -> bool:
        return self.mine == self.theirs

    @property
    def same_claim(self) -> bool:
        """The same claim: significant the same way in both, or significant in neither."""
        return claim(self.mine) == claim(self.theirs)

    @property
    def same_sign(self) -> bool:
        """The difference points the same way in both sets, significant or not."""
        return self.mine[:1] == self.theirs[:1] and self.mine != "n/a"

    @property
    def opposite(self) -> bool:
        """Significant in both sets, with opposite signs."""
        return self.mine.endswith("*") and self.theirs.endswith("*") and self.mine[0] != self.theirs[0]


@dataclass
class Comparison:
    mine: Path
    theirs: Path
    tolerance: float | None
    none_tolerance: float = NONE_TOLERANCE
    cells: list[CellDiff] = field(default_factory=list)
    verdicts: list[VerdictDiff] = field(default_factory=list)
    only_mine: int = 0
    only_theirs: int = 0
    common: int = 0

    @property
    def judged(self) -> list[VerdictDiff]:
        """The verdicts over several detector seeds (the others are conditional)."""
        return [v for v in self.verdicts if not v.conditional]

    @property
    def share_identical(self) -> float | None:
        judged = self.judged
        return None if not judged else sum(v.identical for v in judged) / len(judged)

    @property
    def share_same_claim(self) -> float | None:
        judged = self.judged
        return None if not judged else sum(v.same_claim for v in judged) / len(judged)

    @property
    def opposite(self) -> list[VerdictDiff]:
        return [v for v in self.judged if v.opposite]

    @property
    def none_moved(self) -> float | None:
        """Mean absolute change of the ``none`` cells' accuracy, points."""
        d = [abs(c.diff) for c in self.cells if c.spec.method == "none" and c.metric == "acc"]
        return float(np.mean(d)) if d else None

    @property
    def passed(self) -> bool:
        moved, share = self.none_moved, self.share_identical
        if moved is None and share is None:  # neither none nor a judged verdict: all cells inside
            return bool(self.cells) and all(c.inside for c in self.cells)
        none_ok = moved is None or moved <= self.none_tolerance
        share_ok = share is None or self.tolerance is None or share >= self.tolerance
        return none_ok and share_ok and not self.opposite

    def figures(self) -> dict[str, Any]:
        """The agreement as numbers (JSON-ready)."""
        n_in = sum(c.inside for c in self.cells)
        judged = self.judged
        n_id = sum(v.identical for v in judged)
        cond = [v for v in self.verdicts if v.conditional]
        none_cells = [c for c in self.cells if c.spec.method == "none"]
        rem_cells = [c for c in self.cells if c.spec.method != "none"]

        def mean_abs(cs: list[CellDiff], m: str) -> float | None:
            d = [abs(c.diff) for c in cs if c.metric == m]
            return float(np.mean(d)) if d else None

        def max_abs(cs: list[CellDiff], m: str) -> float | None:
            d = [abs(c.diff) for c in cs if c.metric == m]
            return float(np.max(d)) if d else None

        return {
            "mine": str(self.mine), "theirs": str(self.theirs), "tolerance": self.tolerance,
            "cells_compared": len(self.cells), "cells_inside_intervals": n_in,
            "cells_inside_pct": 100.0 * n_in / len(self.cells) if self.cells else None,
            "runs_common": self.common, "runs_only_mine": self.only_mine, "runs_only_theirs": self.only_theirs,
            "verdicts_compared": len(judged), "verdicts_identical": n_id,
            "verdicts_identical_pct": 100.0 * n_id / len(judged) if judged else None,
            "verdicts_same_claim": sum(v.same_claim for v in judged),
            "verdicts_same_sign": sum(v.same_sign for v in judged), "goal": GOAL,
            "verdicts_opposite_significant": len(self.opposite),
            "conditional_compared": len(cond),
            "conditional_identical": sum(v.identical for v in cond),
            "none_tolerance": self.none_tolerance,
            "none_acc_mean_abs_diff": mean_abs(none_cells, "acc"),
            "none_acc_max_abs_diff": max_abs(none_cells, "acc"),
            "remedy_acc_mean_abs_diff": mean_abs(rem_cells, "acc"),
            "remedy_acc_max_abs_diff": max_abs(rem_cells, "acc"),
            "differing_verdicts": [{"cell": cell_name(v.spec, v.metric, v.seeds), "mine": v.mine,
                                    "theirs": v.theirs, "mine_diff": v.mine_diff,
                                    "theirs_diff": v.theirs_diff}
                                   for v in self.verdicts if not v.identical],
            "passed": self.passed,
        }


def cell_name(spec: RunSpec, name: str, seeds: tuple[int, ...] | None = None) -> str:
    """``EfficientNet-B4 Deepfakes pixel_bleach{...} c40 seed 0 acc``: one cell, readable."""
    params = "" if spec.method_params == "{}" else spec.method_params
    seed = f"seed {spec.seed}" if seeds is None else \
        f"seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}"
    opts = "" if spec.options == "{}" else f" options {spec.options}"
    if seeds is None and fit_seed(spec):
        seed += f" fit {fit_seed(spec)}"
    return (f"{PRETTY.get(spec.detector, spec.detector)} {spec.manipulation} {spec.method}{params} "
            f"{spec.train_compression}->{spec.test_compression} {seed}{opts} {name}")


def _inside(value: float, ci: list[float] | None) -> bool | None:
    return None if ci is None else bool(ci[0] <= value <= ci[1])


def claim(label: str) -> str:
    """What a verdict claims: its sign and mark where it is significant, else ``n.s.``."""
    return label if label.endswith(("*", CONDITIONAL_MARK)) else "n.s." if label != "n/a" else label


def verdict_label(diff: float | None, mark: str) -> str:
    """A verdict as the tables print it: the difference's sign and its mark (``+*``, ``-``)."""
    if diff is None or not np.isfinite(diff):
        return "n/a"
    sign = "+" if diff > 0 else "-" if diff < 0 else "0"
    return sign + (mark if sign != "0" else "")


def pooled_verdict(records: RecordSet, remedies: list[RunSpec], name: str) -> Verdict | None:
    """Remedy minus ``none`` over the fits of ``remedies`` (grouped by detector seed, each seed
    its own ``none``) and videos: :func:`bench.core.verdict.hierarchical_paired_bootstrap`;
    None where a record is missing or the seeds do not share their test faces."""
    bases = list(dict.fromkeys(baseline_spec(s) for s in remedies))  # one none per detector seed
    rem_arrays = [records.arrays(s) for s in remedies]
    none_arrays = [records.arrays(b) for b in bases]
    if any(a is None for a in rem_arrays + none_arrays):
        return None
    ref = rem_arrays[0]
    try:
        rem = [np.asarray(a["prob"])[align(ref, a)] for a in rem_arrays]
        non = [np.asarray(b["prob"])[align(ref, b)] for b in none_arrays]
    except ValueError:  # the seeds do not share their test faces
        return None
    groups = [bases.index(baseline_spec(s)) for s in remedies]
    try:
        return hierarchical_paired_bootstrap(rem, non, np.asarray(ref["label"]),
                                             np.asarray(ref["video"]), metric=name, groups=groups,
                                             level=LEVEL)
    except ValueError:
        return None


def _pooled(records: RecordSet, remedies: list[RunSpec], name: str) -> tuple[float | None, str]:
    v = pooled_verdict(records, remedies, name)
    return (None, "") if v is None else (v.diff, v.mark)


def _verdict(records: RecordSet, remedies: list[RunSpec], name: str) -> tuple[float | None, str]:
    if len(remedies) == 1:
        t = records.paired(remedies[0], baseline_spec(remedies[0]), name, LEVEL)
        diff = None if t is None else t["diff"]
        return diff, verdict_label(diff, CONDITIONAL_MARK if t is not None and t["significant"] else "")
    diff, mark = _pooled(records, remedies, name)
    return diff, verdict_label(diff, mark)


def fit_seed(spec: RunSpec) -> int:
    """The run's method fit seed (0 where specs have none)."""
    return int(getattr(spec, "fit_seed", 0))


def verdict_cells(specs: list[RunSpec]) -> dict[RunSpec, list[RunSpec]]:
    """The remedy runs of ``specs`` grouped into verdict cells (key: :func:`over_fits`), each
    sorted by detector seed and fit seed; only runs whose ``none`` is among ``specs``."""
    present = set(specs)
    groups: dict[RunSpec, list[RunSpec]] = {}
    for spec in specs:
        if spec.method != "none" and baseline_spec(spec) in present:
            groups.setdefault(over_fits(spec), []).append(spec)
    return {k: sorted(v, key=lambda s: (s.seed, fit_seed(s))) for k, v in groups.items()}


def over_fits(spec: RunSpec) -> RunSpec:
    """The verdict's cell: ``spec`` with its detector seed (and fit seed, where specs have one)
    set to 0, so that every fit of every seed of one cell is tested together."""
    return replace(spec, seed=0, **({"fit_seed": 0} if hasattr(spec, "fit_seed") else {}))


def _store(path: Path, what: str) -> ResultsStore:
    path = Path(path)
    if not path.is_dir():
        raise VerifyInputError(f"{what}: {path} is not a folder")
    store = ResultsStore(path)
    if not store.record_paths():
        raise VerifyInputError(f"{what}: no run records in {store.runs_dir}")
    return store


def compare(mine: Path, theirs: Path, tolerance: float | None = None,
            none_tolerance: float | None = None) -> Comparison:
    """Compare the records of ``mine`` with ``theirs`` (module docstring; None: the default
    :data:`TOLERANCE` / :data:`NONE_TOLERANCE`); raises :class:`VerifyInputError` for a missing
    folder or no run in common."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    none_tolerance = NONE_TOLERANCE if none_tolerance is None else none_tolerance
    if tolerance is not None and not 0.0 <= tolerance <= 1.0:
        raise VerifyInputError(f"--tolerance must be between 0 and 1, got {tolerance}")
    if not none_tolerance >= 0.0:
        raise VerifyInputError(f"--none-tolerance must be >= 0 points, got {none_tolerance}")
    sm, st = _store(mine, "--results"), _store(theirs, "--against")
    rm, rt = RecordSet(sm.index(), sm), RecordSet(st.index(), st)
    common = sorted(set(rm) & set(rt), key=lambda s: s.run_id)
    if not common:
        raise VerifyInputError(f"no run in common between {sm.runs_dir} and {st.runs_dir} "
                               "(other profile, options or seeds?)")
    out = Comparison(Path(mine), Path(theirs), tolerance, none_tolerance,
                     only_mine=len(set(rm) - set(rt)), only_theirs=len(set(rt) - set(rm)),
                     common=len(common))
    for spec in common:
        for name in METRICS:
            a, b = metric(rm[spec], name, LEVEL), metric(rt[spec], name, LEVEL)
            if a is None or b is None:
                continue
            out.cells.append(CellDiff(spec, name, float(a), float(b),
                                      _inside(a, rt.interval(spec, name, LEVEL)),
                                      _inside(b, rm.interval(spec, name, LEVEL))))
    for specs in verdict_cells(common).values():
        seeds = tuple(dict.fromkeys(s.seed for s in specs))
        for name in METRICS:
            dm, vm = _verdict(rm, specs, name)
            dt, vt = _verdict(rt, specs, name)
            if vm == "n/a" and vt == "n/a":
                continue
            out.verdicts.append(VerdictDiff(specs[0], seeds, name, vm, vt, dm, dt))
    return out


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(c: Comparison, max_rows: int = 40) -> str:
    """A short summary: cells compared, inside intervals, verdicts identical, what differs."""
    f = c.figures()
    needed = (f"goal {100 * GOAL:g} %, not judged" if c.tolerance is None
              else f"needed {100 * c.tolerance:g} %")
    judged = (f"{f['verdicts_opposite_significant']} of {f['verdicts_compared']} verdicts over "
              f"detector seeds significant with opposite signs (needed 0); "
              f"{f['verdicts_identical']} identical ({_fmt(f['verdicts_identical_pct'])} %, {needed}), "
              f"{f['verdicts_same_claim']} with the same claim, {f['verdicts_same_sign']} with the "
              "same sign"
              if f["verdicts_compared"] else "no verdict over several detector seeds in common "
              "(run with --seeds 0,1,2 to judge them)")
    moved = (f"`none` accuracy moved {_fmt(f['none_acc_mean_abs_diff'])} points on average "
             f"(allowed {c.none_tolerance:g})" if f["none_acc_mean_abs_diff"] is not None
             else "no `none` cell in common")
    lines = [f"# verify: {c.mine} against {c.theirs}", "",
             f"**{'PASS' if c.passed else 'FAIL'}**: {moved}; {judged}.", "",
             f"- runs in common: {c.common} "
             f"(only here: {c.only_mine}, only there: {c.only_theirs})",
             f"- cells compared (accuracy and AUC, frame level): {f['cells_compared']}; inside each "
             f"other's 95 % interval: {f['cells_inside_intervals']} "
             f"({_fmt(f['cells_inside_pct'])} %)",
             f"- accuracy moved, `none` cells: mean {_fmt(f['none_acc_mean_abs_diff'])}, max "
             f"{_fmt(f['none_acc_max_abs_diff'])} points; remedy cells: mean "
             f"{_fmt(f['remedy_acc_mean_abs_diff'])}, max {_fmt(f['remedy_acc_max_abs_diff'])}",
             f"- verdicts conditional on one trained detector (reported, not judged): "
             f"{f['conditional_identical']} of {f['conditional_compared']} identical",
             "", "A verdict is remedy minus `none` on the same faces and seeds: `+*`/`-*` significant "
             "at 95 % over fits and videos with several detector seeds (`bench/core/verdict.py`); "
             f"`+{CONDITIONAL_MARK}`/`-{CONDITIONAL_MARK}` significant, conditional on one trained "
             "detector (its fits and the videos; one fit: the videos only); `+`/`-` not "
             "significant. The same claim: significant the same way, or not significant in "
             "both sets; the same sign: the difference points the same way, significant or not.", ""]
    differing = [v for v in c.verdicts if not v.identical]
    if differing:
        lines += ["## Differing verdicts", "", "| cell | here | there | diff here | diff there |",
                  "|---|---|---|---|---|"]
        for v in differing[:max_rows]:
            lines.append(f"| {cell_name(v.spec, v.metric, v.seeds)} | {v.mine} | {v.theirs} | "
                         f"{_fmt(v.mine_diff)} | {_fmt(v.theirs_diff)} |")
        if len(differing) > max_rows:
            lines.append(f"| ... and {len(differing) - max_rows} more | | | | |")
        lines.append("")
    outside = sorted((x for x in c.cells if not x.inside), key=lambda x: -abs(x.diff))
    if outside:
        lines += ["## Cells outside each other's interval (largest first)", "",
                  "| cell | here | there | diff |", "|---|---|---|---|"]
        for x in outside[:max_rows]:
            lines.append(f"| {cell_name(x.spec, x.metric)} | {x.mine:.1f} | {x.theirs:.1f} | "
                         f"{x.diff:+.1f} |")
        if len(outside) > max_rows:
            lines.append(f"| ... and {len(outside) - max_rows} more | | | |")
        lines.append("")
    return "\n".join(lines)


def write(c: Comparison, out_dir: Path, stem: str = "verify") -> tuple[Path, Path]:
    """``<out_dir>/<stem>.md`` and ``<stem>.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    md.write_text(markdown(c), encoding="utf-8")
    js.write_text(json.dumps(c.figures(), indent=1), encoding="utf-8")
    return md, js



__all__ = ["CellDiff", "Comparison", "VerdictDiff", "VerifyInputError", "cell_name", "compare",
           "claim", "fit_seed", "markdown", "over_fits", "pooled_verdict", "verdict_cells", "verdict_label", "write"]
