"""Test predictions: in face order, or for a test-time method in the stream order
(``predict_stream``); and where they are shared instead of made again: the real test faces of
one fitted method across the manipulations' cells (``predict_sharing_reals``), and the frozen
detector's pass that a method records for the ``none`` runs of the same faces
(``frozen_pass_cells``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from bench.core.faceset import FaceSet
from bench.core.fit_data import TEST_BATCH_SIZE, test_stream_order
from bench.core.method import fake_probability
from bench.core.registry import METHODS, resolve
from bench.core.spec import RunSpec

Recorded = dict[str, np.ndarray]  # per-face arrays a method hands back with its logits


@torch.no_grad()
def predict_outputs(predict: Callable[[torch.Tensor], Any], faces: FaceSet, device: torch.device,
                    batch_size: int = 64) -> tuple[np.ndarray, Recorded]:
    """Probability of "fake" for every face, in order, and what ``predict`` recorded.

    ``predict`` returns logits, or ``(logits, {name: per-face tensor})`` (a method's
    ``predict_recording``): those tensors are concatenated over the batches, in face order.
    """
    return _predict_batches(predict, faces, device, [slice(s, s + batch_size)
                                                     for s in range(0, len(faces), batch_size)])


def predict_stream(predict: Callable[[torch.Tensor], Any], faces: FaceSet, device: torch.device,
                   batch_size: int = TEST_BATCH_SIZE) -> tuple[np.ndarray, Recorded]:
    """:func:`predict_outputs` for a test-time method: the faces are predicted in batches of
    the stream order (:func:`bench.core.fit_data.test_stream_order`, classes mixed), and each
    result is returned in face order."""
    order = test_stream_order(len(faces))
    batches = [np.sort(order[s:s + batch_size]) for s in range(0, len(order), batch_size)]
    probs, recorded = _predict_batches(predict, faces, device, batches)
    index = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    inverse = np.empty_like(index)
    inverse[index] = np.arange(len(index))
    return probs[inverse], {k: v[inverse] for k, v in recorded.items()}


def _predict_batches(predict: Callable[[torch.Tensor], Any], faces: FaceSet, device: torch.device,
                     batches: list) -> tuple[np.ndarray, Recorded]:
    """``predict`` on each batch of faces (a slice or an index array), results concatenated."""
    out: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {}
    for index in batches:
        x, _ = faces.tensors(index)
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
