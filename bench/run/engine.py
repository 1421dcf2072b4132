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

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.core import config as C
from bench.core.dataset import ClipSource
from bench.core.detector import Detector, face_size
from bench.core.faceset import FaceSet
from bench.core.files import check_free_space, disk_guard, human, sweep_stale_temps
from bench.core.fit_data import TEST_BATCH_SIZE, build_fit_data, hand_over
from bench.core.fit_data import flags as fit_flags
from bench.core.intervals import BootstrapConfig, add_intervals
from bench.core.locks import detector_lock, run_lock
from bench.core.method import fake_probability
from bench.core.metrics import compute_metrics
from bench.core.registry import DATASETS, DETECTORS, METHODS, build, resolve
from bench.core.spec import RunSpec, canonical_json
from bench.core.store import ResultsStore, atomic_write_text, stored_path
from bench.run.run_config import detector_key, run_config


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")
    return torch.device(device)


def balance_classes(faces: FaceSet, seed: int = 0, oversample: bool = False) -> FaceSet:
    """Make real and fake faces equally many, by undersampling the larger class or
    (``oversample``) by repeating randomly chosen faces of the smaller one.

    Used where one model learns all four manipulations at once (the quick profile), where
    a set holds four fakes per real clip. Detector training oversamples the real faces
    (every fake is seen; more optimiser steps, which training from scratch needs);
    validation and the method's fit undersample the fakes (cheaper, still balanced).
    """
    rng = np.random.default_rng(seed)
    idx = [np.flatnonzero(faces.labels == c) for c in (0, 1)]
    if min(len(i) for i in idx) == 0:
        return faces
    if oversample:
        n = max(len(i) for i in idx)
        keep = [np.concatenate([i, rng.choice(i, n - len(i), replace=True)]) for i in idx]
    else:
        n = min(len(i) for i in idx)
        keep = [i if len(i) == n else rng.choice(i, n, replace=False) for i in idx]
    return faces.subset(np.sort(np.concatenate(keep)))


train_options = C.train_options  # re-exported: the profile's train section for a detector


Recorded = dict[str, np.ndarray]  # per-face arrays a method hands back with its logits


@torch.no_grad()
def predict_outputs(predict: Callable[[torch.Tensor], Any], faces: FaceSet, device: torch.device,
                    batch_size: int = 64) -> tuple[np.ndarray, Recorded]:
    """Probability of "fake" for every face, in order, and what ``predict`` recorded.

    ``predict`` returns logits, or ``(logits, {name: per-face tensor})`` (a method's
    ``predict_recording``): those tensors are concatenated over the batches, in face order.
    """
    out: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(faces), batch_size):
        x, _ = faces.tensors(slice(start, start + batch_size))
        res = predict(x.to(device))
        logits, rec = res if isinstance(res, tuple) else (res, {})
        out.append(fake_probability(logits).cpu().numpy())
        for k, v in rec.items():  # half floats (AMP) as float32: numpy has no bfloat16
            v = v.detach().float() if v.is_floating_point() else v.detach()
            parts.setdefault(k, []).append(v.cpu().numpy())
    probs = np.concatenate(out) if out else np.zeros(0)
    return probs, {k: np.concatenate(v) for k, v in parts.items()}


def predict_sharing_reals(predict: Callable[[torch.Tensor], Any], faces: FaceSet,
                          device: torch.device, memo: dict[Any, Any],
                          key: Any, batch_size: int = 64) -> tuple[np.ndarray, Recorded]:
    """:func:`predict_outputs`, with the real faces' probabilities (and recorded arrays) kept in
    ``memo[key]`` and reused while the next face set holds the same real faces (video ids and
    frames, in order).

    One detector and one fitted method tested on every manipulation meet the same real test
    faces in each manipulation's cell; predicting them once saves about 3/8 of the test
    predictions over four manipulations. A face's prediction does not depend on the others
    in its batch (detectors in eval mode, checked on all five at 1 and 2 threads); with more
    than one thread a partial batch can move a logit by about 1e-9. Only for methods whose
    predictions are per face: never a test-time method, which adapts while it predicts.
    """
    real = np.asarray(faces.labels) == 0
    idx = np.flatnonzero(real)
    frames = (np.asarray(faces.frame_index)[idx] if faces.frame_index is not None
              else np.full(len(idx), -1))
    ident = np.array([f"{v}#{f}" for v, f in zip(np.asarray(faces.video_ids)[idx].tolist(),
                                                 frames.tolist())], dtype=str)
    cached = memo.get(key)
    if cached is None or not np.array_equal(cached[0], ident):
        memo[key] = cached = (ident, *predict_outputs(predict, faces.subset(idx), device,
                                                      batch_size))
    fake_probs, fake_rec = predict_outputs(predict, faces.subset(np.flatnonzero(~real)), device,
                                           batch_size)
    probs = np.empty(len(faces), dtype=np.float32)
    probs[real], probs[~real] = cached[1], fake_probs
    recorded: Recorded = {}
    for k in cached[2].keys() & fake_rec.keys():
        a, b = cached[2][k], fake_rec[k]
        recorded[k] = np.empty((len(faces), *a.shape[1:]), dtype=np.result_type(a, b))
        recorded[k][real], recorded[k][~real] = a, b
    return probs, recorded


def run_arrays(faces: FaceSet, probs: np.ndarray,
               extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The per-face arrays saved beside a run's record: ``prob``, ``label``, ``video`` + ``extra``.

    ``video`` is ``"<manipulation>/<video_id>"`` (``real/<id>`` for real faces). A key of
    ``extra`` (a method's artifacts) that clashes with these three is an error.
    """
    clash = set(extra or {}) & {"prob", "label", "video"}
    if clash:
        raise ValueError(f"Method.artifacts returned reserved key(s) {sorted(clash)}; "
                         "'prob', 'label' and 'video' are the engine's")
    video = np.array([f"{m}/{v}" for m, v in zip(faces.manipulations.tolist(),
                                                 faces.video_ids.tolist())], dtype=str)
    return {**(extra or {}), "prob": np.asarray(probs, dtype=np.float32),
            "label": np.asarray(faces.labels, dtype=np.int8), "video": video}


@dataclass
class StageClock:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def data_fingerprint(record: dict[str, Any] | None) -> str | None:
    """The fingerprint of the data a record was made on (``ClipSource.fingerprint``), or None.

    From ``facts.data_fingerprint``; for records written before that fact, from the detector
    checkpoint's folder (``checkpoints/<dataset>-<fingerprint>/...``)."""
    if not record:
        return None
    fp = (record.get("facts") or {}).get("data_fingerprint")
    if fp:
        return str(fp)
    dataset = str((record.get("spec") or {}).get("dataset", ""))
    parts = Path(str((record.get("checkpoints") or {}).get("detector") or "")).parts
    idx = [i for i, p in enumerate(parts) if p == "checkpoints"]
    if idx and idx[-1] + 1 < len(parts) and parts[idx[-1] + 1].startswith(dataset + "-"):
        return parts[idx[-1] + 1][len(dataset) + 1:]
    return None


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(cfg, dict):
        return {prefix: cfg}
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_changes(old: dict[str, Any] | None, new: dict[str, Any],
                   ignore: tuple[str, ...] = ()) -> list[str]:
    """The dotted keys whose values differ between a record's resolved configuration and the
    one a run would use now (JSON values: a tuple equals its list), ``ignore`` left out; an
    empty list for a record without one (written before records held it)."""
    if not old:
        return []
    a, b = _flatten(old), _flatten(json.loads(json.dumps(new, default=str)))
    return sorted(k for k in a.keys() | b.keys() if k not in ignore and a.get(k) != b.get(k))


def _cell(spec: RunSpec) -> tuple:
    """What a run's test predictions of the frozen detector depend on besides the method."""
    return (spec.dataset, spec.manipulation, spec.detector, spec.train_compression,
            spec.test_compression, spec.profile, spec.options, spec.seed)


def frozen_pass_cells(specs: Sequence[RunSpec]) -> dict[RunSpec, RunSpec]:
    """The specs of methods that predict with the frozen detector as it is (``none``,
    ``predicts_frozen_detector``) whose test faces a method that records that very pass
    (``records_frozen_prob``, the bleach) also predicts: spec -> the first such method's spec.
    Run after it, in the same process, they take its numbers instead of a pass of their own."""
    from bench.core.registry import registered_names

    known = set(registered_names(METHODS))

    def flag(method: str, name: str) -> bool:
        return method in known and bool(getattr(resolve(METHODS, method), name, False))

    sources: dict[tuple, RunSpec] = {}
    for spec in specs:
        if flag(spec.method, "records_frozen_prob"):
            sources.setdefault(_cell(spec), spec)
    return {spec: sources[_cell(spec)] for spec in specs
            if _cell(spec) in sources and flag(spec.method, "predicts_frozen_detector")}


class Engine:
    """Runs specs under one profile, writing records to ``results``."""

    def __init__(self, profile: dict[str, Any], results: str | Path = "results",
                 device: str = "auto", progress: bool = True) -> None:
        C.check_profile(profile)
        self.profile = profile
        # Denormal floats (below 1.2e-38) in a trained network's gradients made F3-Net's CPU
        # training step 2x slower after its first 50 iterations (convolution backward); flushed
        # to zero they cost nothing. Updates that small do not move a float32 weight (four
        # training steps from a trained F3-Net: bit-identical weights; README, "Budget").
        # Process-wide, CPU only; ``flush_denormal=False`` keeps IEEE denormals.
        self.flush_denormal = bool(profile.get("flush_denormal", True))
        torch.set_flush_denormal(self.flush_denormal)
        self.results = Path(results)
        self.store = ResultsStore(self.results)
        self.device = pick_device(device)
        self.progress = progress
        self.clock = StageClock()
        self._sources: dict[str, ClipSource] = {}
        self._fingerprints: dict[str, str] = {}
        self._faces: dict[tuple, FaceSet] = {}
        self._skipped: dict[tuple, dict[str, int]] = {}
        self._methods: dict[str, tuple[Any, dict[str, Any]]] = {}  # fitted, by fit key
        self._configs: dict[RunSpec, dict[str, Any]] = {}  # resolved once per spec
        self._real_probs: dict[Any, Any] = {}  # predict_sharing_reals' memo
        # P(fake) of the frozen detector on a test set, as a method recorded it from its own
        # frozen pass (records_frozen_prob): (checkpoint, cell) -> (probs, the run that made them)
        self._frozen_probs: dict[tuple, tuple[np.ndarray, str]] = {}
        self._detectors: dict[tuple, tuple[Detector, dict[str, Any]]] = {}
        self.summary = RunSummary()
        self._run_started = time.time()  # run() resets it: records newer are another process's

    # -- data -----------------------------------------------------------------------------------
    def dataset_kwargs(self, name: str) -> dict[str, Any]:
        """What source ``name`` is built with: the profile's ``dataset`` section if it names
        ``name`` (else none), and a cache folder under the results if the source takes one."""
        cfg = dict(self.profile["dataset"])
        if cfg.get("type") != name:
            cfg = {"type": name}
        factory = resolve(DATASETS, name)
        extra = C.accepted(factory, {"cache_dir": str(self.results / "cache" / name)})
        return {**extra, **cfg}

    def source(self, name: str) -> ClipSource:
        if name not in self._sources:
            self._sources[name] = build(DATASETS, self.dataset_kwargs(name))
        return self._sources[name]

    def fingerprint(self, name: str) -> str:
        """The data fingerprint of dataset ``name``, computed once (some sources hash their index)."""
        if name not in self._fingerprints:
            self._fingerprints[name] = self.source(name).fingerprint()
        return self._fingerprints[name]

    def config(self, spec: RunSpec) -> dict[str, Any]:
        """The resolved configuration of ``spec`` (bench/core/config.py), stored in its record
        (resolved once per spec; do not mutate)."""
        if spec not in self._configs:
            ds = {k: v for k, v in self.dataset_kwargs(spec.dataset).items() if k != "cache_dir"}
            self._configs[spec] = run_config(self.profile, spec, ds)
        return self._configs[spec]

    def faces(self, dataset: str, manipulation: str, compression: str, split: str,
              size: int) -> FaceSet:
        from bleachbench.datasets.face_cache import load_faces

        fpv = self.frames_per_video(split)
        key = (dataset, manipulation, compression, split, size, fpv)
        if key not in self._faces and manipulation != "all" and not self.per_manipulation:
            # One cache of every manipulation, sliced: real videos are decoded and compressed once.
            whole = self.faces(dataset, "all", compression, split, size)
            self._faces[key] = whole.select_manipulation(manipulation)
            self._skipped[key] = self._skipped[(dataset, "all", *key[2:])]
        if key not in self._faces:
            self._faces[key] = load_faces(
                self.source(dataset), manipulation, compression, split, size, fpv,
                cache_root=self.results / "cache" / "faces", progress=self.progress,
                skip_first=bool(self.profile["faces"].get("skip_first", False)))
            self._skipped[key] = dict(getattr(self._faces[key], "skipped", {}))
        return self._faces[key]

    @property
    def method_per_manipulation(self) -> bool:
        """Fit a method per manipulation (the paper) or once on all of them (quick profile)."""
        return C.method_per_manipulation(self.profile)

    @property
    def per_manipulation(self) -> bool:
        """The paper trains one detector per manipulation; the quick profile one for all four."""
        return C.detector_per_manipulation(self.profile)

    def skipped(self, spec: RunSpec, compression: str, split: str, size: int) -> dict[str, int]:
        """Videos the face cache skipped (corrupt, no face, ...) for the faces a run used."""
        fpv = self.frames_per_video(split)
        key = (spec.dataset, spec.manipulation, compression, split, size, fpv)
        return self._skipped.get(key, self._skipped.get((spec.dataset, "all", *key[2:]), {}))

    def frames_per_video(self, split: str) -> int:
        """Faces per video: ``faces.<split>_frames_per_video`` if the profile sets it, else
        ``faces.frames_per_video`` (the quick profile takes one face from each of many test videos)."""
        faces = self.profile["faces"]
        return int(faces.get(f"{split}_frames_per_video", faces["frames_per_video"]))

    def train_faces_per_video(self, detector: str) -> int | None:
        """``train.faces_per_video`` for ``detector`` (``per_detector`` first): the detector
        trains on at most this many of each training video's cached faces (None: all)."""
        k = C.train_options(self.profile, detector).get("faces_per_video")
        return None if k is None else int(k)

    def image_size(self, detector: str) -> int:
        return face_size(resolve(DETECTORS, detector), self.profile["faces"].get("size"))

    # -- detectors ------------------------------------------------------------------------------
    def detector(self, spec: RunSpec) -> tuple[Detector, dict[str, Any]]:
        """The frozen detector for ``spec``, trained on the train compression (cached).

        The checkpoint folder is keyed by a hash of exactly what the trained weights depend
        on (:func:`bench.core.config.detector_key`: data fingerprint, faces, train compression and
        its parameters, detector arguments, every training option, seed): changing any of
        them trains a new detector, repeating them reuses it. ``train.epochs=0`` trains
        nothing and evaluates the detector as built (e.g. ``detector.weights=PATH``).
        """
        from bench.run.training import load_detector_checkpoint, train_detector

        manip = spec.manipulation if self.per_manipulation else "all"
        cfg = self.config(spec)
        size = self.image_size(spec.detector)
        key = detector_key(cfg, fingerprint=self.fingerprint(spec.dataset),
                             manipulation=manip, compression=spec.train_compression,
                             frames={s: self.frames_per_video(s) for s in ("train", "val")},
                             size=size)
        digest = C.digest(key)
        if digest in self._detectors:
            return self._detectors[digest]
        det_kwargs = {k: v for k, v in cfg["detector"].items() if k != "type"}
        given = C.detector_kwargs(self.profile, spec.detector)
        t = time.perf_counter()
        if int(cfg["train"]["epochs"]) == 0:  # evaluate the detector as built, untrained here
            torch.manual_seed(spec.seed)
            model = build(DETECTORS, {"type": spec.detector, **given})
            info = {"checkpoint": f"untrained:{digest}", "best_val_acc": None, "epochs": 0,
                    "seconds": 0.0, "key": key, "weights": det_kwargs.get("weights")}
        else:
            train = self.faces(spec.dataset, manip, spec.train_compression, "train", size)
            train = train.per_video(self.train_faces_per_video(spec.detector))
            val = self.faces(spec.dataset, manip, spec.train_compression, "val", size)
            t = self.clock.add("faces", t)
            if manip == "all":  # four fakes per real clip: balance so accuracy means the same
                train = balance_classes(train, spec.seed, oversample=True)
                val = balance_classes(val, spec.seed)
            work = (self.results / "checkpoints" / f"{spec.dataset}-{key['fingerprint']}" /
                    f"{spec.detector}_{spec.train_compression}_{manip}_seed{spec.seed}_{size}px-{digest}")
            with detector_lock(work):  # concurrent jobs (--executor) never train one detector twice
                done = (work / "done.json").exists()
                if not done:
                    # Said even under --quiet: a training takes minutes, and a changed key (a new
                    # training option, another seed) retrains where a user may expect a reuse.
                    print(f"training {spec.detector} (seed {spec.seed}): no finished checkpoint "
                          f"with this configuration; into {work}", flush=True)
                    atomic_write_text(work / "config.json", json.dumps(
                        key, indent=2, sort_keys=True, default=str) + "\n")
                torch.manual_seed(spec.seed)
                model = build(DETECTORS, {"type": spec.detector, **given})
                opts = C.accepted(train_detector, C.train_options(self.profile, spec.detector))
                info = train_detector(model, train, val, work, device=str(self.device),
                                      seed=spec.seed, progress=self.progress, **opts)
            self.summary.cached["detectors"] += int(done)
            model = load_detector_checkpoint(build(DETECTORS, {"type": spec.detector, **given}),
                                             info["checkpoint"], trusted=True)
        model.to(self.device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.clock.add("detector training", t)
        self._detectors[digest] = (model, info)
        return model, info

    def detector_training_set(self, spec: RunSpec, lq_compression: str
                              ) -> tuple[FaceSet, FaceSet, dict[str, Any]]:
        """What ``spec``'s detector was trained on, for a method that retrains it with the same
        recipe (``needs_detector_training``): its HQ training faces as its training saw them
        (same balancing, same seed), the same faces' cache at ``lq_compression`` (paired by the
        method's bundle), and its training options."""
        from bench.run.training import train_detector

        manip = spec.manipulation if self.per_manipulation else "all"
        size = self.image_size(spec.detector)
        hq = self.faces(spec.dataset, manip, spec.train_compression, "train", size)
        hq = hq.per_video(self.train_faces_per_video(spec.detector))
        lq = self.faces(spec.dataset, manip, lq_compression, "train", size)
        if manip == "all":
            hq = balance_classes(hq, spec.seed, oversample=True)
        opts = C.accepted(train_detector, C.train_options(self.profile, spec.detector))
        return hq, lq, opts

    # -- runs -----------------------------------------------------------------------------------
    def method_cfg(self, spec: RunSpec) -> dict[str, Any]:
        """The method's arguments: profile ``method`` keys it takes, the run's parameters,
        and the run's method seed (the detector seed for fit seed 0; bench/core/config.py:
        :func:`~bench.core.config.method_kwargs`)."""
        return {"type": spec.method, **C.method_kwargs(self.profile, spec.method, spec.params,
                                                       spec.method_seed)}

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
        t0 = time.perf_counter()
        detector, det_info = self.detector(spec)
        size = self.image_size(spec.detector)
        t = time.perf_counter()
        fit_c = spec.method_fit_compression
        fit_manip = spec.manipulation if self.method_per_manipulation else "all"
        test = self.faces(spec.dataset, spec.manipulation, spec.test_compression, "test", size)
        cfg = self.method_cfg(spec)
        factory = resolve(METHODS, spec.method)
        quiet = {"progress": self.progress} if "progress" in C.signature_names(factory) else {}
        method = build(METHODS, {**cfg, **quiet})
        # A test-time method adapts to one test set: fitted afresh for each.
        on_test = ({"test": [spec.manipulation, spec.test_compression]}
                   if fit_flags(method)["test_time"] else {})
        # the checkpoint as the results folder stores it (relative): a moved folder's fits match
        fit_key = canonical_json({"det": stored_path(self.results, det_info["checkpoint"]),
                                  "cfg": cfg, "fit": fit_c,
                                  "manip": fit_manip, "seed": spec.method_seed, **on_test})
        work = self.results / "work" / hashlib.sha256(fit_key.encode()).hexdigest()[:16]
        t = self.clock.add("faces", t)
        t_fit = time.perf_counter()
        if fit_key in self._methods:
            method, facts = self._methods[fit_key]
        else:
            if getattr(method, "needs_fit_faces", True):
                train_lq = self.faces(spec.dataset, fit_manip, fit_c, "train", size)
                val_lq = self.faces(spec.dataset, fit_manip, fit_c, "val", size)
            else:  # a method that reads no faces: no LQ train/val caches are built for it
                train_lq = val_lq = test.subset(np.zeros(0, dtype=np.int64))
            if fit_manip == "all":
                train_lq = balance_classes(train_lq, spec.method_seed)
                val_lq = balance_classes(val_lq, spec.method_seed)
            t = self.clock.add("faces", t)
            from bench.run.training import train_detector

            data, bundle_facts = build_fit_data(
                method, train_lq, val_lq, compression=fit_c, seed=spec.method_seed, test_lq=lambda: test,
                hq=lambda split: self.faces(spec.dataset, fit_manip, spec.train_compression,
                                            split, size),
                detector_training=lambda: self.detector_training_set(spec, fit_c),
                trainer=train_detector)
            facts = {**hand_over(method, detector, data, work, self.device), **bundle_facts}
            facts["fit_on"] = {"manipulation": fit_manip, "compression": fit_c,
                               "n_train": len(data.train_lq), "n_val": len(data.val_lq)}
            self._methods[fit_key] = (method, facts)
        fit_s = time.perf_counter() - t_fit
        t = self.clock.add(f"method fit ({spec.method})", t)
        t_pred = time.perf_counter()
        # A method's predict_recording also hands back per-face arrays of the same passes,
        # which its artifacts() then reads instead of predicting the faces again.
        predict = getattr(method, "predict_recording", method.predict)
        cell = (str(det_info["checkpoint"]), spec.dataset, spec.manipulation,
                spec.test_compression, size, len(test))
        taken_from = None
        if getattr(method, "predicts_frozen_detector", False) and cell in self._frozen_probs:
            # The detector's own pass on these faces, already made by a method that records it
            # (e.g. the bleach's frozen pass): the same numbers, batch for batch, not recomputed.
            probs, taken_from = self._frozen_probs[cell]
            recorded = {}
        elif fit_flags(method)["test_time"]:  # adapts while it predicts: every face, in order
            probs, recorded = predict_outputs(predict, test, self.device,
                                              batch_size=TEST_BATCH_SIZE)
        else:
            probs, recorded = predict_sharing_reals(
                predict, test, self.device, self._real_probs,
                (fit_key, spec.dataset, spec.test_compression, size), batch_size=TEST_BATCH_SIZE)
        predict_s = time.perf_counter() - t_pred
        if getattr(method, "records_frozen_prob", False) and "frozen_prob" in recorded:
            self._frozen_probs[cell] = (np.asarray(recorded["frozen_prob"], dtype=np.float32),
                                        spec.run_id)
        metrics = compute_metrics(test.labels, probs, test.video_keys)
        extra: dict[str, np.ndarray] = {}
        if hasattr(method, "artifacts"):
            extra = (method.artifacts(test, self.device, recorded=recorded) if recorded
                     else method.artifacts(test, self.device))
        arrays = run_arrays(test, probs, extra)
        metrics = add_intervals(metrics, arrays, BootstrapConfig.from_dict(self.profile.get("intervals")))
        self.clock.add("evaluation", t)
        facts = {**facts, "method_cfg": cfg, "n_test_faces": len(test),
                 "data_fingerprint": self.fingerprint(spec.dataset),
                 "torch_threads": torch.get_num_threads(),  # the weights' last bits follow it
                 "flush_denormal": self.flush_denormal,
                 "detector_best_val_acc": det_info.get("best_val_acc"),
                 "detector_resumed_from_epoch": det_info.get("resumed_from_epoch", 0),
                 **({"predictions_from": f"the frozen detector pass recorded by {taken_from}"}
                    if taken_from else {}),
                 "skipped_videos": {split: self.skipped(spec, c, split, size) for split, c in
                                    (("train", fit_c), ("val", fit_c),
                                     ("test", spec.test_compression))}}
        return self.store.write(
            spec, metrics,
            timings={"method_fit_s": fit_s, "predict_s": predict_s, "total_s": time.perf_counter() - t0,
                     "detector_train_s": det_info.get("seconds")},
            checkpoints={"detector": str(det_info["checkpoint"]), "method_work_dir": str(work)},
            facts=json.loads(json.dumps(facts, default=str)),
            arrays=arrays,
            config=json.loads(json.dumps(self.config(spec), default=str)),
        )

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
        todo = []
        for spec in specs:
            record = self.store.read(spec)  # raises on a corrupt record, even with force
            if record is not None:
                self._check_arrays(spec, force)
            if record is not None and not force:
                old = data_fingerprint(record)
                new = self.fingerprint(spec.dataset)
                if old is not None and old != new:
                    moved = self.store.set_aside(spec, old)
                    tqdm.write(f"{spec.run_id}: its record was made on other data ({old}; the "
                               f"dataset is now {new}, e.g. a new renderer version): moved to "
                               f"{moved}, running it again")
                else:
                    # Records are named by the run (detector, method, ...), not by every setting
                    # behind it: a profile whose defaults changed (a new release) must not serve
                    # the old numbers as the new ones.
                    changed = self.changed_config(spec, record)
                    if not changed:
                        self.summary.skipped.append(spec.run_id)
                        continue
                    moved = self.store.set_aside(spec, "config-" + C.digest(record["config"], 8))
                    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
                    tqdm.write(f"{spec.run_id}: its record was made with another configuration "
                               f"({', '.join(changed[:3])}{more} differ): moved to {moved}, "
                               "running it again")
            todo.append(spec)
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

    # -- disk -----------------------------------------------------------------------------------
    CHECKPOINT_COPIES = 7  # weights x (epoch_N + best_N with Adam's 2 moments: 3 + 3) + best.pth
    RECORD_BYTES, FACE_ARRAY_BYTES, MARGIN = 64_000, 256, 1.1

    def disk_estimate(self, specs: Sequence[RunSpec]) -> dict[str, int]:
        """Bytes the runs ``specs`` need at peak, from the plan, by part: ``faces`` (each face
        cache not built yet: n faces x size^2 x 3), ``checkpoints`` (each detector not trained
        yet: parameters x 4 bytes x :attr:`CHECKPOINT_COPIES`) and ``records`` (a record and
        its per-face arrays each); ``total`` with a 10 % margin."""
        from bleachbench.datasets.face_cache import cache_dir, cache_params, select_videos

        caches: dict[tuple, int] = {}
        detectors: dict[tuple, int] = {}
        records = 0
        params_of: dict[str, int] = {}
        for spec in specs:
            size = self.image_size(spec.detector)
            det_manip = spec.manipulation if self.per_manipulation else "all"
            fit_manip = spec.manipulation if self.method_per_manipulation else "all"
            test_manip = spec.manipulation if self.per_manipulation else "all"
            need = [(det_manip, spec.train_compression, "train"),
                    (det_manip, spec.train_compression, "val"),
                    (test_manip, spec.test_compression, "test"),
                    (fit_manip, spec.method_fit_compression, "train"),
                    (fit_manip, spec.method_fit_compression, "val")]
            n_test = 0
            for manip, comp, split in need:
                key = (spec.dataset, manip, comp, split, size)
                fpv = self.frames_per_video(split)
                if key not in caches:
                    source = self.source(spec.dataset)
                    n = len(select_videos(source, split, manip)) * fpv
                    params = cache_params(source, manip, comp, split, size, fpv,
                                          bool(self.profile["faces"].get("skip_first", False)))
                    root = self.results / "cache" / "faces"
                    built = (cache_dir(root, params) / "manifest.json").is_file()
                    caches[key] = 0 if built else n * size * size * 3
                    caches[key + ("n",)] = n
                if split == "test":
                    n_test = caches[key + ("n",)]
            records += self.RECORD_BYTES + n_test * self.FACE_ARRAY_BYTES
            det = (spec.dataset, det_manip, spec.detector, spec.train_compression, spec.seed)
            if det not in detectors:
                epochs = int(C.train_options(self.profile, spec.detector).get("epochs", 1) or 0)
                if epochs == 0:
                    detectors[det] = 0
                else:
                    if spec.detector not in params_of:
                        try:
                            model = build(DETECTORS, {"type": spec.detector, **C.detector_kwargs(
                                self.profile, spec.detector)})
                        except Exception:  # noqa: BLE001 - it fails, named, where it is trained
                            params_of[spec.detector] = 0
                        else:
                            params_of[spec.detector] = sum(p.numel() for p in model.parameters())
                            del model
                    detectors[det] = params_of[spec.detector] * 4 * self.CHECKPOINT_COPIES
        faces = sum(v for k, v in caches.items() if k[-1] != "n")
        ckpt = sum(detectors.values())
        return {"faces": faces, "checkpoints": ckpt, "records": records,
                "total": int((faces + ckpt + records) * self.MARGIN)}

    def check_disk(self, specs: Sequence[RunSpec]) -> int:
        """Refuse (:class:`~bench.core.files.DiskFullError`) runs that need more disk than the
        results folder's has free, before any work; the estimate in bytes."""
        est = self.disk_estimate(specs)
        check_free_space(self.results, est["total"],
                         f"face caches {human(est['faces'])}, checkpoints "
                         f"{human(est['checkpoints'])}, records {human(est['records'])}")
        return est["total"]
