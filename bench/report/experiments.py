"""Experiments: which runs happen, kept apart from the tables that lay their records out.

A table (:mod:`bench.report.tables`) is a layout of records: it reads records and shows
a dash for a missing run. An experiment is a named grid of run specs plus the
tables to render once it has run; ``run`` and ``reproduce`` execute experiments,
and neither changes a table (a table over other methods is a new instance, with
a title and a file name that say which methods it shows).

- ``method_vs_none`` (``python -m bench run --method M``): the detectors' ``none``
  baseline on HQ and LQ test (Table I's runs) and method ``M`` beside ``none`` on
  LQ test, rendered as Table I and as Table III over ``none, M``.
- ``tables`` (``python -m bench reproduce NAME``): the runs the named tables show.

A user's experiment is one registered class with ``specs(ctx)`` and ``tables()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.core.registry import EXPERIMENTS
from bench.core.spec import RunSpec
from bench.report.tables import GridContext, MainResults, Table, get_table, seed_grid


class Experiment:
    """Base class: a grid of runs (``specs``) and the tables that show them (``tables``)."""

    name = ""

    def tables(self) -> list[Table]:
        raise NotImplementedError

    def specs(self, ctx: GridContext) -> list[RunSpec]:
        """Every run, for every seed of ``ctx``, without duplicates (the tables' grids)."""
        return list(dict.fromkeys(s for t in self.tables() for s in seed_grid(t, ctx)))


@EXPERIMENTS.register_module(name="method_vs_none")
class MethodVsNone(Experiment):
    """A method beside ``none`` on LQ test, and the HQ/LQ baselines (what ``run`` runs)."""

    name = "method_vs_none"

    def __init__(self, method: str = "pixel_bleach") -> None:
        self.method = method

    def tables(self) -> list[Table]:
        methods = ("none",) if self.method == "none" else ("none", self.method)
        return [MainResults(methods), get_table("cross_compression")]


@EXPERIMENTS.register_module(name="tables")
class TablesExperiment(Experiment):
    """The runs that the named tables show (what ``reproduce`` runs)."""

    name = "tables"

    def __init__(self, names: Sequence[str] = ("main",)) -> None:
        self.names = tuple(names)

    def tables(self) -> list[Table]:
        return [get_table(n) for n in self.names]


__all__ = ["Experiment", "MethodVsNone", "TablesExperiment"]
