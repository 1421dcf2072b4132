"""What a method's ``fit`` receives: one :class:`FitData` bundle, holding only what the method declares.

A method declares its needs as class (or instance) flags, read by :func:`hand_over`:

=========================  ==========================================================
flag                       effect on the bundle and the detector
=========================  ==========================================================
``needs_labels``           False: every FaceSet in the bundle has its labels replaced
                           by -1, its manipulations by ``"?"`` and its video ids by
                           ``""`` (a video id names a fake's source identity)
``needs_paired_hq_lq``     True: ``train_hq``/``val_hq`` hold the HQ (detector's train
                           compression) face of every row of ``train_lq``/``val_lq``
``test_time``              True: ``test_lq`` holds the unlabelled LQ test faces
``needs_compression_known``True: ``compression`` names the LQ compression
``retrains_detector``      True: ``fit`` gets a deep copy of the detector (any method
                           that changes a parameter or buffer, BN statistics included)
``needs_detector_training``True: ``detector_train_hq`` holds the detector's own training
                           faces, as its training saw them (same compression, same class
                           balancing), ``detector_train_lq`` row i the LQ face of row i,
                           and ``detector_train_options`` its training options (a
                           retraining defence trained with the detector's recipe)
=========================  ==========================================================

Pairing (:func:`pair_faces`): a face is identified by (manipulation, video id,
frame index); the face cache samples the same frames of a video at every
compression and crops them with the source's box for that frame (the synthetic
source's boxes come from its renderer and are the same at every compression; a
source that detects faces does so on each compression's frames, so its boxes may
differ by a few pixels). LQ faces without an HQ partner are dropped from both.

Test order (``test_time``): the engine calls ``predict`` on consecutive batches
of ``test_batch_size`` faces in the stream order (:func:`test_stream_order`: the
test faces shuffled with a fixed seed, so that every batch mixes classes and
manipulations as a deployed stream would), once each (a test-time method may
adapt inside ``predict``), and files each prediction under its face;
``FitData.test_batches`` yields ``test_lq`` in the same order. A stored test
set lists all reals before the fakes: a method that adapts on single-class
batches, such as Tent with batch statistics, would learn the class order
instead of the compression. A test-time method is fitted afresh for every test
set.

:func:`hand_over` is the engine's only way into ``fit``: it builds the bundle,
copies the detector where declared, calls ``fit`` (old-style plug-ins with
``fit(detector, train_lq, val_lq, work_dir, device)`` are called that way) and
checks that the frozen detector's parameters and buffers are bit-identical after.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.faceset import FaceSet

FLAGS = ("retrains_detector", "needs_labels", "needs_paired_hq_lq", "needs_compression_known",
         "test_time", "needs_detector_training")
FLAG_DEFAULTS = {"retrains_detector": False, "needs_labels": True, "needs_paired_hq_lq": False,
                 "needs_compression_known": False, "test_time": False,
                 "needs_detector_training": False}
TEST_BATCH_SIZE = 64  # the engine's prediction batch (bench.run.engine.predict_outputs)
TEST_STREAM_SEED = 0  # the shuffle of the test faces a test-time method sees (test_stream_order)


def test_stream_order(n: int, seed: int = TEST_STREAM_SEED) -> np.ndarray:
    """The order in which a test-time method sees ``n`` test faces: a seeded permutation."""
    return np.random.default_rng(seed).permutation(n)


@dataclass(frozen=True)
class FitData:
    """The data a method is given; fields it did not declare are ``None``."""

    train_lq: FaceSet
    val_lq: FaceSet
    train_hq: FaceSet | None = None  # row i = the HQ face of train_lq row i
    val_hq: FaceSet | None = None  # row i = the HQ face of val_lq row i
    test_lq: FaceSet | None = None  # unlabelled, in face order (predicted in stream order)
    test_batch_size: int = TEST_BATCH_SIZE
    compression: str | None = None  # the LQ compression's registry name
    seed: int = 0
    detector_train_hq: FaceSet | None = None  # the detector's training faces, as it saw them
    detector_train_lq: FaceSet | None = None  # row i = the LQ face of detector_train_hq row i
    detector_train_options: dict[str, Any] | None = None  # its train_detector options
    # the run's detector trainer (``bench.run.training.train_detector``'s signature), handed to
    # methods that retrain (``retrains_detector``), so that no plug-in imports the run machinery
    trainer: Callable[..., dict[str, Any]] | None = None

    def train(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Train a detector with the run's trainer (only for methods that retrain)."""
        if self.trainer is None:
            raise RuntimeError("no trainer was handed over: only methods that declare "
                               "retrains_detector = True get one")
        return self.trainer(*args, **kwargs)

    def test_batches(self) -> Iterator[torch.Tensor]:
        """The unlabelled test faces as float ``[B,3,H,W]`` batches, in the stream order the
        engine predicts them in (:func:`test_stream_order`)."""
        if self.test_lq is None:
            raise RuntimeError("test_lq is only given to methods that declare test_time = True")
        order = test_stream_order(len(self.test_lq))
        for start in range(0, len(order), self.test_batch_size):
            yield self.test_lq.tensors(np.sort(order[start:start + self.test_batch_size]))[0]


def flags(method: Any) -> dict[str, bool]:
    """The declaration flags of ``method`` (instance attributes override class ones)."""
    return {name: bool(getattr(method, name, FLAG_DEFAULTS[name])) for name in FLAGS}


def strip_labels(faces: FaceSet) -> FaceSet:
    """The same images with labels -1, manipulations ``"?"``, video ids ``""``, no frame index."""
    n = len(faces)
    return FaceSet(faces.images, np.full(n, -1, dtype=np.int64), np.full(n, "?"),
                   np.full(n, ""), None)


def face_keys(faces: FaceSet) -> list[tuple[str, str, int]]:
    """(manipulation, video id, frame index) of every face."""
    if faces.frame_index is None:
        raise ValueError("pairing HQ and LQ faces needs FaceSet.frame_index (the face cache sets it)")
    return list(zip(faces.manipulations.tolist(), faces.video_ids.tolist(),
                    np.asarray(faces.frame_index).tolist()))


def pair_faces(lq: FaceSet, hq: FaceSet) -> tuple[FaceSet, FaceSet, int]:
    """``(lq', hq', dropped)``: ``hq'`` row i is the HQ face of ``lq'`` row i; unmatched LQ faces dropped."""
    if lq.size != hq.size:
        raise ValueError(f"pair_faces: LQ faces are {lq.size} px but HQ faces {hq.size} px")
    where = {key: i for i, key in enumerate(face_keys(hq))}
    lq_keys = face_keys(lq)
    if len(where) != len(face_keys(hq)) or len(set(lq_keys)) != len(lq_keys):
        raise ValueError("pair_faces: a (manipulation, video, frame) key repeats; cannot pair")
    keep = np.array([i for i, k in enumerate(lq_keys) if k in where], dtype=np.int64)
    if len(keep) == 0:
        raise ValueError("pair_faces: no LQ face has an HQ partner (different videos or frames?)")
    hq_idx = np.array([where[lq_keys[i]] for i in keep], dtype=np.int64)
    return lq.subset(keep), hq.subset(hq_idx), len(lq) - len(keep)


def lq_partners(hq: FaceSet, lq: FaceSet) -> tuple[FaceSet, FaceSet, int]:
    """``(hq', lq', dropped)``: ``lq'`` row i is the LQ face of ``hq'`` row i, for an ``hq`` that
    may repeat a face (an oversampled training set); HQ rows without an LQ partner dropped."""
    if lq.size != hq.size:
        raise ValueError(f"lq_partners: HQ faces are {hq.size} px but LQ faces {lq.size} px")
    where = {key: i for i, key in enumerate(face_keys(lq))}
    hq_keys = face_keys(hq)
    keep = np.array([i for i, k in enumerate(hq_keys) if k in where], dtype=np.int64)
    if len(keep) == 0:
        raise ValueError("lq_partners: no HQ face has an LQ partner (different videos or frames?)")
    lq_idx = np.array([where[hq_keys[i]] for i in keep], dtype=np.int64)
    return hq.subset(keep), lq.subset(lq_idx), len(hq) - len(keep)


def fingerprint(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in module.state_dict(keep_vars=False).items():
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def added_parameters(method: Any) -> int:
    """Parameters in the modules a method holds other than detectors (generators, U-Nets, ...)."""
    from bench.core.detector import Detector

    seen: set[int] = set()
    total = 0
    for value in vars(method).values():
        if isinstance(value, nn.Module) and not isinstance(value, Detector):
            for p in value.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
    return total


def changed_parameters(frozen: nn.Module, adapted: nn.Module) -> dict[str, int]:
    """Elements of parameters and of buffers that differ between two copies of a detector."""
    out = {"parameters": 0, "buffers": 0}
    mine = dict(adapted.named_parameters())
    for name, p in frozen.named_parameters():
        q = mine.get(name)
        if q is not None and q.shape == p.shape:
            out["parameters"] += int((q.detach().cpu() != p.detach().cpu()).sum())
    bufs = dict(adapted.named_buffers())
    for name, b in frozen.named_buffers():
        c = bufs.get(name)
        if c is not None and c.shape == b.shape:
            out["buffers"] += int((c.detach().cpu() != b.detach().cpu()).sum())
    return out


def is_old_style_fit(fit: Callable[..., Any]) -> bool:
    """True for ``fit(detector, train_lq, val_lq, work_dir, device)`` (before the bundle)."""
    params = [p for p in inspect.signature(fit).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
    return len(params) == 5


def build_fit_data(
    method: Any,
    train_lq: FaceSet,
    val_lq: FaceSet,
    *,
    hq: Callable[[str], FaceSet] | None = None,
    test_lq: Callable[[], FaceSet] | None = None,
    compression: str | None = None,
    seed: int = 0,
    detector_training: Callable[[], tuple[FaceSet, FaceSet, dict[str, Any]]] | None = None,
    trainer: Callable[..., dict[str, Any]] | None = None,
) -> tuple[FitData, dict[str, Any]]:
    """The bundle for ``method`` and facts about it; ``hq(split)``, ``test_lq()`` and
    ``detector_training()`` (the detector's HQ training faces, their LQ partners, its
    training options) load lazily."""
    f = flags(method)
    facts: dict[str, Any] = {}
    train_hq = val_hq = test = None
    det_hq = det_lq = det_opts = None
    if f["needs_detector_training"]:
        if detector_training is None:
            raise ValueError(f"{type(method).__name__} needs the detector's training set but "
                             "none was given")
        det_hq, det_lq, det_opts = detector_training()
        det_hq, det_lq, dropped = lq_partners(det_hq, det_lq)
        facts["detector_train"] = {"n": len(det_hq), "unpaired_dropped": dropped}
    if f["needs_paired_hq_lq"]:
        if hq is None:
            raise ValueError(f"{type(method).__name__} needs paired HQ faces but none were given")
        train_lq, train_hq, d_train = pair_faces(train_lq, hq("train"))
        val_lq, val_hq, d_val = pair_faces(val_lq, hq("val"))
        facts["unpaired_dropped"] = {"train": d_train, "val": d_val}
    if f["test_time"]:
        if test_lq is None:
            raise ValueError(f"{type(method).__name__} is test-time but no test faces were given")
        test = strip_labels(test_lq())
    if not f["needs_labels"]:
        train_lq, val_lq = strip_labels(train_lq), strip_labels(val_lq)
        train_hq = None if train_hq is None else strip_labels(train_hq)
        val_hq = None if val_hq is None else strip_labels(val_hq)
        det_hq = None if det_hq is None else strip_labels(det_hq)
        det_lq = None if det_lq is None else strip_labels(det_lq)
    data = FitData(train_lq, val_lq, train_hq, val_hq, test,
                   compression=compression if f["needs_compression_known"] else None, seed=seed,
                   detector_train_hq=det_hq, detector_train_lq=det_lq,
                   detector_train_options=None if det_opts is None else dict(det_opts),
                   trainer=trainer if f["retrains_detector"] else None)
    return data, facts


def hand_over(method: Any, detector: nn.Module, data: FitData, work_dir: Path,
              device: torch.device) -> dict[str, Any]:
    """Fit ``method`` on ``data`` (a detector copy if it retrains); return its facts plus costs.

    Raises ``RuntimeError`` if the frozen detector changed during ``fit``.
    """
    f = flags(method)
    before = fingerprint(detector)
    given = copy.deepcopy(detector) if f["retrains_detector"] else detector
    if is_old_style_fit(method.fit):
        facts = method.fit(given, data.train_lq, data.val_lq, work_dir, device) or {}
    else:
        facts = method.fit(given, data, work_dir, device) or {}
    if fingerprint(detector) != before:
        raise RuntimeError(
            f"{type(method).__name__}.fit changed the frozen detector; declare "
            "retrains_detector = True to work on a copy")
    facts = dict(facts)
    facts["declares"] = f
    facts["params_added"] = added_parameters(method)
    facts["detector_elements_changed"] = (changed_parameters(detector, given)
                                          if given is not detector else
                                          {"parameters": 0, "buffers": 0})
    return facts

