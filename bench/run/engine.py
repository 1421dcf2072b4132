"""The engine: runs a grid of run specs and writes one record per run.

For each spec it builds (or finds cached) the face crops, trains (or loads) the
detector on the train compression, fits the method on the LQ train split
(val for model selection), evaluates on the test split and writes the record.
Detector checkpoints are cached by (dataset, manipulation, detector, train
compression, profile, seed) and shared by every method; face crops are cached
by the face cache. A run whose record exists is skipped unless ``force``, or unless the
record was made on other data (its data fingerprint differs from the dataset's now, e.g.
after a renderer change): that record is moved to ``runs/stale/`` and the run made again.
Each record carries 95 % bootstrap intervals over videos (``acc_ci``, ``auc_ci``;
the profile's optional ``intervals`` section sets them, see bench/core/intervals.py),
and its per-face arrays are saved beside it as ``runs/<run_id>.npz``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bench.core import config as C
from bench.core.dataset import ClipSource
from bench.core.detector import Detector
from bench.core.devices import pick_device
from bench.core.faceset import FaceSet
from bench.core.files import disk_guard, sweep_stale_temps
from bench.core.locks import run_lock
from bench.core.registry import METHODS, resolve
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.run import disk
from bench.run.detectors import Detectors
from bench.run.faces import Faces, balance_classes
from bench.run.fits import Fits
from bench.run.predict import frozen_pass_cells, predict_outputs, predict_sharing_reals
from bench.run.records import Records, config_changes, data_fingerprint, run_arrays
from bench.run.run_config import run_config
from bench.run.summary import RunSummary, StageClock

# Re-exported: where callers found them before the engine was split by concern.
__all__ = ["Engine", "RunSummary", "StageClock", "balance_classes", "config_changes",
           "data_fingerprint", "frozen_pass_cells", "pick_device", "predict_outputs",
           "predict_sharing_reals", "run_arrays", "train_options"]

train_options = C.train_options  # re-exported: the profile's train section for a detector


class Engine:
    """Runs specs under one profile, writing records to ``results``: the coordinator of the
    face access (:class:`~bench.run.faces.Faces`), the frozen detectors
    (:class:`~bench.run.detectors.Detectors`), the method fits (:class:`~bench.run.fits.Fits`)
    and the records (:class:`~bench.run.records.Records`)."""

    CHECKPOINT_COPIES, RECORD_BYTES = disk.CHECKPOINT_COPIES, disk.RECORD_BYTES

    def __init__(self, profile: dict[str, Any], results: str | Path = "results",
                 device: str = "auto", progress: bool = True) -> None:
        C.check_profile(profile)
        self.profile = profile
        # Denormal floats (below 1.2e-38) in a trained network's gradients made F3-Net's CPU
        # training step 2x slower after its first 50 iterations (convolution backward); flushed
        # to zero they cost nothing. Updates that small do not move a float32 weight (four
        # training steps from a trained F3-Net: bit-identical weights; docs, "Performance").
        # Process-wide, CPU only; ``flush_denormal=False`` keeps IEEE denormals.
        self.flush_denormal = bool(profile.get("flush_denormal", True))
        torch.set_flush_denormal(self.flush_denormal)
        self.results = Path(results)
        self.store = ResultsStore(self.results)
        self.device = pick_device(device)
        self.progress = progress
        self.clock = StageClock()
        self.summary = RunSummary()
        self._configs: dict[RunSpec, dict[str, Any]] = {}  # resolved once per spec
        self.facesets = Faces(profile, self.results, progress)
        self.detectors = Detectors(profile, self.results, self.facesets, self.config,
                                   self.device, progress, self.clock, self.summary)
        self.fits = Fits(profile, self.results, self.facesets, self.detectors, self.device,
                         progress, self.clock)
        self.records = Records(profile, self.store, self.facesets, self.config, self.device,
                               self.clock, self.flush_denormal)
        self._run_started = time.time()  # run() resets it: records newer are another process's

    # -- what the parts answer, under the names callers use ---------------------------------------
    def source(self, name: str) -> ClipSource:
        return self.facesets.source(name)

    def fingerprint(self, name: str) -> str:
        return self.facesets.fingerprint(name)

    def dataset_kwargs(self, name: str) -> dict[str, Any]:
        return self.facesets.dataset_kwargs(name)

    def faces(self, dataset: str, manipulation: str, compression: str, split: str,
              size: int, frames: int | None = None) -> FaceSet:
        """The faces of one cache; ``frames``: faces per clip (default: the split's)."""
        return self.facesets.load(dataset, manipulation, compression, split, size, frames)

    def skipped(self, spec: RunSpec, compression: str, split: str, size: int) -> dict[str, int]:
        return self.facesets.skipped(spec, compression, split, size)

    def frames_per_video(self, split: str) -> int:
        return self.facesets.frames_per_video(split)

    def train_faces_per_video(self, detector: str) -> int | None:
        return self.facesets.train_faces_per_video(detector)

    def image_size(self, detector: str) -> int:
        return self.facesets.image_size(detector)

    @property
    def per_manipulation(self) -> bool:
        return self.facesets.per_manipulation

    @property
    def method_per_manipulation(self) -> bool:
        return self.facesets.method_per_manipulation

    def detector(self, spec: RunSpec) -> tuple[Detector, dict[str, Any]]:
        return self.detectors.get(spec)

    def detector_training_set(self, spec: RunSpec, lq_compression: str
                              ) -> tuple[FaceSet, FaceSet, dict[str, Any]]:
        return self.detectors.training_set(spec, lq_compression)

    def method_cfg(self, spec: RunSpec) -> dict[str, Any]:
        return self.fits.method_cfg(spec)

    def disk_estimate(self, specs: Sequence[RunSpec]) -> dict[str, int]:
        return disk.disk_estimate(specs, self.facesets)

    def check_disk(self, specs: Sequence[RunSpec]) -> int:
        return disk.check_disk(specs, self.facesets)

    def config(self, spec: RunSpec) -> dict[str, Any]:
        """The resolved configuration of ``spec`` (bench/run/run_config.py), stored in its
        record (resolved once per spec; do not mutate)."""
        if spec not in self._configs:
            self._configs[spec] = run_config(self.profile, spec, self.dataset_config(spec))
        return self._configs[spec]

    def dataset_config(self, spec: RunSpec) -> dict[str, Any]:
        """The dataset as the record states it: a source that reports its resolved configuration
        (``resolved_config()``: defaults included, e.g. FF++'s face detector and base
        compressions) gives that, plus where each of the run's compressions comes from
        (``provenance``: stored, or simulated from which base); otherwise the options it was
        built with."""
        ds = {k: v for k, v in self.dataset_kwargs(spec.dataset).items() if k != "cache_dir"}
        source = self.source(spec.dataset)
        if not hasattr(source, "resolved_config"):
            return ds
        out = dict(source.resolved_config())
        if hasattr(source, "provenance"):
            out["compressions"] = {c: source.provenance(c) for c in dict.fromkeys(
                (spec.train_compression, spec.test_compression))}
        return out

    # -- runs -----------------------------------------------------------------------------------
    def run_one(self, spec: RunSpec) -> Path | None:
        """Make ``spec``'s record under its run lock (:func:`bench.core.locks.run_lock`); None
        if another process made it meanwhile (this one waited for it and reuses it)."""
        with run_lock(self.results / "locks" / spec.run_id):
            path = self.store.path(spec)
            if path.exists() and path.stat().st_mtime >= self._run_started and \
                    self.store.check_arrays_file(spec):
                return None  # another process made it since this run began: reuse it
            return self._run_one(spec)

    def _run_one(self, spec: RunSpec) -> Path:
        """The detector, the test faces, the method's fit, then the record."""
        t0 = time.perf_counter()
        detector, det_info = self.detector(spec)
        t = time.perf_counter()
        test = self.faces(spec.dataset, spec.manipulation, spec.test_compression, "test",
                          self.image_size(spec.detector))
        self.clock.add("faces", t)
        fit = self.fits.fit(spec, detector, det_info["checkpoint"], test)
        return self.records.write(spec, fit, det_info, test, t0)

    def changed_config(self, spec: RunSpec, record: dict[str, Any]) -> list[str]:
        """What differs between ``record``'s configuration and ``spec``'s now (a method's
        ``runtime_keys``, e.g. a cache budget, never count)."""
        runtime = getattr(resolve(METHODS, spec.method), "runtime_keys", ())
        return config_changes(record.get("config"), self.config(spec),
                              ignore=tuple(f"method.{k}" for k in runtime))

    def check(self, specs: Sequence[RunSpec]) -> None:
        """Everything a grid needs, checked before any work: the configuration against the
        components' signatures, every name (detector, method, compression, manipulation)."""
        from bench.run.checks import check_specs

        C.check_profile(self.profile, deep=True, detectors={s.detector for s in specs})
        check_specs(specs, {name: self.source(name) for name in {s.dataset for s in specs}})

    def run(self, specs: Sequence[RunSpec], force: bool = False) -> RunSummary:
        """Run ``specs`` (skipping those with a record unless ``force``); a record that does
        not parse is never overwritten, not even with ``force``."""
        specs = list(dict.fromkeys(specs))
        self.check(specs)
        self._run_started = time.time()
        todo = [spec for spec in specs if self._needs_run(spec, force)]
        # Group by detector so each is trained once and kept in memory while it is used; a
        # `none` cell that another method's frozen pass covers runs after it (frozen_pass_cells).
        later = frozen_pass_cells(todo)
        todo.sort(key=lambda s: (s.detector, s.seed, s.manipulation, s in later,
                                 s.method != "none", s.method, s.fit_seed))
        needed = self.check_disk(todo) if todo else 0
        if todo:
            for path in sweep_stale_temps(self.results, before=self._run_started):
                tqdm.write(f"removed a stale temp file of an interrupted write: {path}")
        bar = tqdm(todo, desc="runs", unit="run", disable=not self.progress or not todo)
        with disk_guard(self.results, needed):
            for spec in bar:
                bar.set_postfix_str(f"{spec.detector}/{spec.manipulation}/{spec.method}/{spec.test_compression}")
                if self.run_one(spec) is None:
                    tqdm.write(f"{spec.run_id}: made by another process meanwhile; reused")
                    self.summary.skipped.append(spec.run_id)
                else:
                    self.summary.ran.append(spec.run_id)
        self.summary.stages = dict(self.clock.seconds)
        return self.summary

    def _needs_run(self, spec: RunSpec, force: bool) -> bool:
        """Whether ``spec`` runs: it has no record, ``force``, or its record was made on other
        data or with another configuration (that record is then set aside, saying so)."""
        record = self.store.read(spec)  # raises on a corrupt record, even with force
        if record is not None:
            self._check_arrays(spec, force)
        if record is None or force:
            return True
        old = data_fingerprint(record)
        new = self.fingerprint(spec.dataset)
        if old is not None and old != new:
            moved = self.store.set_aside(spec, old)
            tqdm.write(f"{spec.run_id}: its record was made on other data ({old}; the "
                       f"dataset is now {new}, e.g. a new renderer version): moved to "
                       f"{moved}, running it again")
            return True
        # Records are named by the run (detector, method, ...), not by every setting behind it:
        # a profile whose defaults changed (a new release) must not serve the old numbers as
        # the new ones.
        changed = self.changed_config(spec, record)
        if not changed:
            self.summary.skipped.append(spec.run_id)
            return False
        moved = self.store.set_aside(spec, "config-" + C.digest(record["config"], 8))
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        tqdm.write(f"{spec.run_id}: its record was made with another configuration "
                   f"({', '.join(changed[:3])}{more} differ): moved to {moved}, "
                   "running it again")
        return True

    def _check_arrays(self, spec: RunSpec, force: bool) -> None:
        """A run's corrupt ``.npz`` stops the run naming it; ``force`` replaces it, saying so."""
        from bench.core.files import CorruptFileError

        try:
            self.store.check_arrays_file(spec)
        except CorruptFileError as exc:
            if not force:
                raise
            tqdm.write(f"{exc.path}: corrupt per-face arrays; --force makes them again "
                       "(the file is replaced)")
