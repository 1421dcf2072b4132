"""Evaluation and the record: a fitted method's test predictions (shared where they are the
same numbers: bench/run/predict.py), metrics with 95 % bootstrap intervals over videos, the
per-face arrays saved beside the record (``runs/<run_id>.npz``), and the record with its facts,
timings and resolved configuration; and what an existing record says about the data and the
configuration it was made with (to set it aside when either changed)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.faceset import FaceSet
from bench.core.fit_data import TEST_BATCH_SIZE
from bench.core.fit_data import flags as fit_flags
from bench.core.intervals import BootstrapConfig, add_intervals
from bench.core.metrics import compute_metrics
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.run.faces import Faces
from bench.run.fits import Fit
from bench.run.predict import Recorded, predict_sharing_reals, predict_stream
from bench.run.summary import StageClock


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


class Records:
    """Predicts a fitted method on its test faces and writes the run's record (``write``)."""

    def __init__(self, profile: dict[str, Any], store: ResultsStore, faces: Faces,
                 config: Callable[[RunSpec], dict[str, Any]], device: torch.device,
                 clock: StageClock, flush_denormal: bool) -> None:
        self.profile, self.store, self.faces, self.config = profile, store, faces, config
        self.device, self.clock, self.flush_denormal = device, clock, flush_denormal
        self._real_probs: dict[Any, Any] = {}  # predict_sharing_reals' memo
        # P(fake) of the frozen detector on a test set, as a method recorded it from its own
        # frozen pass (records_frozen_prob): (checkpoint, cell) -> (probs, the run that made them)
        self._frozen_probs: dict[tuple, tuple[np.ndarray, str]] = {}

    def predict(self, spec: RunSpec, fit: Fit, checkpoint: str,
                test: FaceSet) -> tuple[np.ndarray, Recorded, str | None]:
        """P(fake) of every test face, the arrays the method recorded, and the run whose
        frozen detector pass gave the numbers (None: predicted here)."""
        method = fit.method
        # A method's predict_recording also hands back per-face arrays of the same passes,
        # which its artifacts() then reads instead of predicting the faces again.
        predict = getattr(method, "predict_recording", method.predict)
        size = self.faces.image_size(spec.detector)
        cell = (checkpoint, spec.dataset, spec.manipulation, spec.test_compression, size,
                len(test))
        taken_from = None
        if getattr(method, "predicts_frozen_detector", False) and cell in self._frozen_probs:
            # The detector's own pass on these faces, already made by a method that records it
            # (e.g. the bleach's frozen pass): the same numbers, batch for batch, not recomputed.
            probs, taken_from = self._frozen_probs[cell]
            recorded: Recorded = {}
        elif fit_flags(method)["test_time"]:  # adapts while it predicts: every face, streamed
            probs, recorded = predict_stream(predict, test, self.device,
                                             batch_size=TEST_BATCH_SIZE)
        else:
            probs, recorded = predict_sharing_reals(
                predict, test, self.device, self._real_probs,
                (fit.key, spec.dataset, spec.test_compression, size), batch_size=TEST_BATCH_SIZE)
        if getattr(method, "records_frozen_prob", False) and "frozen_prob" in recorded:
            self._frozen_probs[cell] = (np.asarray(recorded["frozen_prob"], dtype=np.float32),
                                        spec.run_id)
        return probs, recorded, taken_from

    def write(self, spec: RunSpec, fit: Fit, det_info: dict[str, Any], test: FaceSet,
              t0: float) -> Path:
        """Evaluate ``fit`` on ``test`` and write ``spec``'s record (``t0``: when the run began)."""
        t = time.perf_counter()
        probs, recorded, taken_from = self.predict(spec, fit, str(det_info["checkpoint"]), test)
        predict_s = time.perf_counter() - t
        metrics = compute_metrics(test.labels, probs, test.video_keys)
        extra: dict[str, np.ndarray] = {}
        if hasattr(fit.method, "artifacts"):
            extra = (fit.method.artifacts(test, self.device, recorded=recorded) if recorded
                     else fit.method.artifacts(test, self.device))
        arrays = run_arrays(test, probs, extra)
        metrics = add_intervals(metrics, arrays,
                                BootstrapConfig.from_dict(self.profile.get("intervals")))
        self.clock.add("evaluation", t)
        facts = self.facts(spec, fit, det_info, len(test), taken_from)
        return self.store.write(
            spec, metrics,
            timings={"method_fit_s": fit.seconds, "predict_s": predict_s,
                     "total_s": time.perf_counter() - t0,
                     "detector_train_s": det_info.get("seconds")},
            checkpoints={"detector": str(det_info["checkpoint"]),
                         "method_work_dir": str(fit.work)},
            facts=json.loads(json.dumps(facts, default=str)),
            arrays=arrays,
            config=json.loads(json.dumps(self.config(spec), default=str)),
        )

    def facts(self, spec: RunSpec, fit: Fit, det_info: dict[str, Any], n_test: int,
              taken_from: str | None) -> dict[str, Any]:
        """What the record says about how its numbers were made."""
        size = self.faces.image_size(spec.detector)
        return {**fit.facts, "method_cfg": fit.cfg, "n_test_faces": n_test,
                "data_fingerprint": self.faces.fingerprint(spec.dataset),
                "torch_threads": torch.get_num_threads(),  # the weights' last bits follow it
                "flush_denormal": self.flush_denormal,
                "detector_best_val_acc": det_info.get("best_val_acc"),
                "detector_resumed_from_epoch": det_info.get("resumed_from_epoch", 0),
                **({"predictions_from": f"the frozen detector pass recorded by {taken_from}"}
                   if taken_from else {}),
                "skipped_videos": {split: self.faces.skipped(spec, c, split, size)
                                   for split, c in (("train", fit.compression),
                                                    ("val", fit.compression),
                                                    ("test", spec.test_compression))}}
