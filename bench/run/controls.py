"""Positive controls: plant the degradation a remedy is built to undo, and check that it undoes it.

For a frozen detector and its clean LQ faces (train, val, test), a control plants a known
degradation in all three splits, fits the remedy on the planted LQ train/val as the engine would
(:func:`bench.core.fit_data.build_fit_data` and :func:`~bench.core.fit_data.hand_over`), predicts the
planted LQ test faces and reports the fraction of ``none``'s loss that the remedy recovers::

    recovered = (acc_remedy_planted - acc_none_planted) / (acc_none_clean - acc_none_planted)

Pass: ``recovered >= PASS_FRACTION`` (0.7). A remedy that fails its own control is a bug (or a
limit of the remedy) to find before any table about it is believed.

Plants (:data:`PLANTS`):

- ``"pattern"``: a fixed additive pixel pattern ``P`` of at most ``a`` grey levels per pixel,
  added to every face (clipped to 0..255), *fitted* so that it moves every face's logit margin
  (fake - real) by the same amount ``delta``: a pure score shift, which costs accuracy, not
  ranking (:func:`shift_pattern`). ``delta`` is the smallest shift of the clean margins that
  costs ``none`` :data:`TARGET_DROP` on LQ train (:data:`SEARCH_SPLIT`); ``a`` runs through
  :data:`AMPLITUDES`, weakest first, until the rounded pattern costs ``none`` at least
  :data:`MIN_DROP` accuracy while its AUC moves at most :data:`MAX_AUC_MOVE`. (A pattern
  ``a * sign(mean gradient)``, the first design, moved the real detectors' ranking before their
  accuracy: no amplitude met both bounds on the quick Xception.)
- ``"bn_shift"``: a global contrast/brightness change ``x -> gain * x + offset`` (grey levels),
  which moves the first BatchNorm layer's input statistics by a per-channel affine map (undone
  exactly by re-estimated statistics, up to clipping); searched the same way, with no AUC bound.

HQ partners: a remedy that needs paired HQ faces gets the clean (unplanted) LQ faces as their
"HQ" partners (the degradation to undo is the plant); a remedy that retrains on the detector's own
training set gets clean/planted LQ train faces as its HQ/LQ pair.

Controls (:data:`CONTROLS`): which plant each remedy gets; a remedy with none in the table is
reported as "no control". ``HEAVY`` marks remedies that retrain a detector or a network from
scratch: included only when asked for (``controls --remedies all``).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.detector import Detector
from bench.core.faceset import FaceSet
from bench.core.fit_data import build_fit_data, flags, hand_over
from bench.core.metrics import acc_auc, oracle_accuracy
from bench.run.predict import predict_outputs, predict_stream

MIN_DROP = 0.08  # none must lose at least 8 accuracy points to the plant
MAX_AUC_MOVE = 0.015  # ... while its AUC moves at most 1.5 points (pattern plant)
PASS_FRACTION = 0.7
TARGET_DROP = 0.10  # the margin shift the pattern is fitted to make costs none 10 points on train
AMPLITUDES = (4, 8, 16)  # the pattern's bound in grey levels, tried weakest first
FIT_STEPS = 120  # Adam steps of the pattern fit (batches of FIT_BATCH search faces)
FIT_BATCH = 32
# (gain, offset), weakest first; per channel (R, G, B) at the end: a colour cast, for a detector
# that global contrast and brightness cost too little (the quick Xception: 3 points at most)
BN_SHIFTS = ((1.0, 8), (1.0, -8), (1.0, 16), (1.0, -16), (0.8, 20), (1.2, -20), (1.0, 32),
             (1.0, -32), (0.6, 40), (1.4, -40), (1.0, 64), (1.0, -64),
             ((1.3, 1.0, 0.7), 0), ((0.7, 1.0, 1.3), 0), (1.0, (40, 0, -40)), (1.0, (-40, 0, 40)),
             ((1.5, 1.0, 0.5), 0), ((0.5, 1.0, 1.5), 0), (1.0, (80, 0, -80)), (1.0, (-80, 0, 80)))


@dataclass(frozen=True)
class Control:
    """One control: a remedy (registered name and options), its plant, and why."""

    label: str
    method: str
    plant: str  # "pattern" | "bn_shift"
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


CONTROLS: tuple[Control, ...] = (
    Control("pixel_bleach (paper_literal)", "pixel_bleach", "pattern", {"variant": "paper_literal"},
            "a fixed additive pattern: one bleach (-P) undoes it for every face"),
    Control("pixel_bleach (reread)", "pixel_bleach", "pattern", {"variant": "reread"},
            "a fixed additive pattern: one bleach (-P) undoes it for every face"),
    Control("threshold", "threshold", "pattern", {},
            "the pattern shifts scores, ranking kept: a new threshold undoes it"),
    Control("bn_adapt", "bn_adapt", "bn_shift", {},
            "contrast/brightness: an affine map of the first BatchNorm's input statistics"),
    Control("head_refit", "head_refit", "pattern", {},
            "the pattern moves the features along a direction: a refitted head can follow it"),
    Control("tent", "tent", "bn_shift", {},
            "contrast/brightness: BatchNorm statistics of the test batches undo it"),
    Control("lq_finetune", "lq_finetune", "pattern", {},
            "fine-tuning on planted faces learns to ignore the pattern"),
    Control("add_kd", "add_kd", "pattern", {},
            "the student learns the teacher's clean-face decisions on planted faces"),
    Control("mixed_training", "mixed_training", "pattern", {},
            "retrained on clean + planted copies of its training faces"),
    Control("restoration", "restoration", "pattern", {},
            "planted -> clean pairs: the U-Net learns to subtract P"),
    Control("stability_denoiser", "stability_denoiser", "pattern", {},
            "planted -> clean pairs: detector(D(planted)) matched to detector(clean)"),
)
HEAVY = ("lq_finetune", "add_kd", "mixed_training", "restoration", "stability_denoiser")
NO_CONTROL = {"none": "the baseline itself: nothing to recover"}


def _probabilities(detector: Detector, faces: FaceSet, device: torch.device) -> np.ndarray:
    """P(fake) of the frozen detector for every face, in order (the engine's own prediction)."""
    return predict_outputs(detector, faces, device)[0]


def with_images(faces: FaceSet, images: np.ndarray) -> FaceSet:
    return FaceSet(images, faces.labels, faces.manipulations, faces.video_ids, faces.frame_index)


def add_pattern(faces: FaceSet, pattern: np.ndarray) -> FaceSet:
    """``faces`` + ``pattern`` ([H, W, 3] grey levels), clipped to 0..255."""
    img = np.clip(faces.images.astype(np.int16) + pattern.astype(np.int16)[None], 0, 255)
    return with_images(faces, img.astype(np.uint8))


def affine_shift(faces: FaceSet, gain: float | Sequence[float],
                 offset: float | Sequence[float]) -> FaceSet:
    """``gain * x + offset`` (grey levels; a number, or one per channel R, G, B), rounded and
    clipped to 0..255."""
    gain, offset = np.asarray(gain, np.float32), np.asarray(offset, np.float32)
    img = np.clip(np.round(faces.images.astype(np.float32) * gain + offset), 0, 255)
    return with_images(faces, img.astype(np.uint8))


@torch.no_grad()
def margins(detector: Detector, faces: FaceSet, device: torch.device,
            batch_size: int = 64) -> np.ndarray:
    """The logit margin (fake - real) of every face, in order."""
    out = []
    for start in range(0, len(faces), batch_size):
        logits = detector(faces.tensors(slice(start, start + batch_size))[0].to(device)).float()
        out.append((logits[:, 1] - logits[:, 0]).cpu())
    return torch.cat(out).numpy()


def shift_to_drop(labels: np.ndarray, margin: np.ndarray, drop: float) -> float:
    """The smallest signed shift of every margin that costs accuracy ``drop`` at threshold 0
    (``inf`` if none does)."""
    correct = (margin > 0) == (labels == 1)
    best = math.inf
    for sign in (1.0, -1.0):  # shifting by sign * t flips the faces with 0 < -sign * margin < t
        for t in np.sort(-sign * margin[-sign * margin > 0]) + 1e-3:
            if correct.mean() - ((margin + sign * t > 0) == (labels == 1)).mean() >= drop:
                if t < abs(best):
                    best = sign * float(t)
                break
    return best


def shift_pattern(detector: Detector, faces: FaceSet, device: torch.device, amplitude: float,
                  delta: float, seed: int = 0, steps: int = FIT_STEPS,
                  batch_size: int = FIT_BATCH) -> np.ndarray:
    """A pattern of at most ``amplitude`` grey levels, [H, W, 3] integers, fitted (Adam on
    seeded batches of ``faces``) so that every face's margin moves by ``delta``."""
    base = torch.from_numpy(margins(detector, faces, device))
    g = torch.Generator().manual_seed(seed)
    h, w = faces.images.shape[1:3]
    weights = torch.zeros(1, 3, h, w, device=device, requires_grad=True)
    opt = torch.optim.Adam([weights], lr=0.05)
    for _ in range(steps):
        idx = np.sort(torch.randperm(len(faces), generator=g)[:batch_size].numpy())
        x = faces.tensors(idx)[0].to(device)
        pattern = amplitude / 255.0 * torch.tanh(weights)
        logits = detector((x + pattern).clamp(0, 1)).float()
        moved = logits[:, 1] - logits[:, 0] - base[idx].to(device)
        loss = ((moved - delta) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    pattern = torch.round(amplitude * torch.tanh(weights.detach()))[0].permute(1, 2, 0)
    return pattern.cpu().numpy().astype(np.int16)


@dataclass
class Plant:
    """A chosen plant: how to apply it, what it is, and what it does to ``none`` on val."""

    kind: str
    apply: Callable[[FaceSet], FaceSet]
    description: str
    val_drop: float
    val_auc_move: float
    meets_target: bool


def search_plant(kind: str, detector: Detector, val: FaceSet, device: torch.device,
                 seed: int = 0) -> Plant:
    """The weakest plant of ``kind`` that costs ``none`` >= MIN_DROP accuracy on ``val`` (and, for
    the pattern, moves AUC <= MAX_AUC_MOVE); else the one that comes closest. ``val`` is the set
    the plant is searched on: :func:`run_controls` passes clean LQ *train* (:data:`SEARCH_SPLIT`)."""
    acc0, auc0 = acc_auc(val.labels, _probabilities(detector, val, device))
    # candidates: (description, a function that builds the plant's apply), weakest first
    candidates: list[tuple[str, Callable[[], Callable[[FaceSet], FaceSet]]]] = []
    if kind == "pattern":
        delta = shift_to_drop(val.labels, margins(detector, val, device), TARGET_DROP)
        if not math.isfinite(delta):  # no shift costs it that much (at chance): try one anyway
            delta = -1.0
        for a in AMPLITUDES:
            def fitted(a: float = a) -> Callable[[FaceSet], FaceSet]:
                pattern = shift_pattern(detector, val, device, a, delta, seed)
                return lambda f: add_pattern(f, pattern)
            candidates.append((f"<= {a} grey levels, fitted to move every margin by {delta:+.2f}",
                               fitted))
    elif kind == "bn_shift":
        for gain, offset in BN_SHIFTS:
            shift = (f"{'+' if offset >= 0 else '-'} {abs(offset):g}"
                     if isinstance(offset, (int, float)) else f"+ {_rgb(offset)}")
            candidates.append((f"x * {_rgb(gain)} {shift} grey levels",
                               lambda g=gain, o=offset: lambda f: affine_shift(f, g, o)))
    else:
        raise ValueError(f"unknown plant {kind!r}; expected one of {PLANTS}")
    auc_bound = MAX_AUC_MOVE if kind == "pattern" else math.inf
    best: tuple[tuple[float, float], Plant] | None = None
    for description, build_apply in candidates:
        apply = build_apply()
        acc, auc = acc_auc(val.labels, _probabilities(detector, apply(val), device))
        drop = acc0 - acc
        move = abs(auc - auc0) if auc is not None and auc0 is not None else 0.0
        plant = Plant(kind, apply, description, drop, move, drop >= MIN_DROP and move <= auc_bound)
        if plant.meets_target:
            return plant
        # closest: of those that cost MIN_DROP, the smallest AUC move; else the largest drop
        score = (1.0, -move) if drop >= MIN_DROP else (0.0, drop)
        if best is None or score > best[0]:
            best = (score, plant)
    assert best is not None
    return best[1]


PLANTS = ("pattern", "bn_shift")
# The split the plant is searched on. Not val: on the quick Xception a 2-grey-level pattern aligned
# with the mean gradient of 120 val faces moved their AUC by 0.5 but test AUC by 8.3 points (the
# pattern fitted those faces); LQ train has 840 faces and is never a remedy's held-out set.
SEARCH_SPLIT = "train"


def run_control(control: Control, build: Callable[[str, dict[str, Any]], Any], detector: Detector,
                clean: dict[str, FaceSet], plant: Plant, device: torch.device, work_dir: Path,
                seed: int = 0, none: dict[str, float] | None = None,
                detector_training: Callable[[], tuple[FaceSet, FaceSet, dict[str, Any]]] | None = None,
                trainer: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Fit ``control``'s remedy on planted LQ train/val, predict planted LQ test; one table row."""
    planted = {split: plant.apply(faces) for split, faces in clean.items()}
    if none is None:
        none = none_accuracies(detector, clean, planted, device)
    method = build(control.method, control.options)
    f = flags(method)
    det_training = None
    if f["needs_detector_training"]:
        if detector_training is not None:
            hq, _, opts = detector_training()
            det_training = lambda: (hq, plant.apply(hq), opts)  # noqa: E731
        else:  # the LQ train faces stand in: clean = "HQ", planted = "LQ"
            det_training = lambda: (clean["train"], planted["train"], {})  # noqa: E731
    data, _ = build_fit_data(
        method, planted["train"], planted["val"], seed=seed,
        hq=lambda split: clean[split], test_lq=lambda: planted["test"],
        detector_training=det_training, trainer=trainer)
    facts = hand_over(method, detector, data, work_dir, device)
    prob = (predict_stream if f["test_time"] else predict_outputs)(
        method.predict, planted["test"], device)[0]
    acc, auc = acc_auc(planted["test"].labels, prob)
    lost = none["clean_acc"] - none["planted_acc"]
    recovered = (acc - none["planted_acc"]) / lost if lost > 0 else None
    ceiling = (none["planted_oracle_acc"] - none["planted_acc"]) / lost if lost > 0 else None
    return {
        "remedy": control.label, "method": control.method, "plant": plant.description,
        "none_clean_acc": none["clean_acc"], "none_planted_acc": none["planted_acc"],
        "none_clean_auc": none["clean_auc"], "none_planted_auc": none["planted_auc"],
        "remedy_planted_acc": acc, "remedy_planted_auc": auc,
        "recovered": recovered, "pass": recovered is not None and recovered >= PASS_FRACTION,
        "threshold_ceiling": ceiling,
        "plant_meets_target": bool(lost >= MIN_DROP and (plant.kind != "pattern" or abs(
            (none["planted_auc"] or 0) - (none["clean_auc"] or 0)) <= MAX_AUC_MOVE)),
        "best_epoch": facts.get("best_epoch"), "note": control.note,
        "epochs_run": len([h for h in facts.get("history", []) if int(h.get("epoch", 0)) >= 0]),
        "history": facts.get("history", []),
    }


def none_accuracies(detector: Detector, clean: dict[str, FaceSet], planted: dict[str, FaceSet],
                    device: torch.device) -> dict[str, float]:
    """``none`` on clean and planted LQ test, and the best threshold's accuracy on planted test
    (what a pure recalibration could win back: the ceiling of ``threshold``'s control)."""
    ca, cu = acc_auc(clean["test"].labels, _probabilities(detector, clean["test"], device))
    prob = _probabilities(detector, planted["test"], device)
    pa, pu = acc_auc(planted["test"].labels, prob)
    return {"clean_acc": ca, "clean_auc": cu, "planted_acc": pa, "planted_auc": pu,
            "planted_oracle_acc": oracle_accuracy(prob, planted["test"].labels) / 100.0}


def run_controls(controls: Sequence[Control], build: Callable[[str, dict[str, Any]], Any],
                 detector: Detector, clean: dict[str, FaceSet], device: torch.device,
                 work_root: Path | None = None, seed: int = 0,
                 detector_training: Callable[[], tuple[FaceSet, FaceSet, dict[str, Any]]] | None = None,
                 trainer: Callable[..., dict[str, Any]] | None = None,
                 log: Callable[[str], None] | None = None,
                 on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every control on one detector: one plant per kind (searched on clean LQ
    :data:`SEARCH_SPLIT`), one row each (``on_row`` sees each as soon as it is done)."""
    detector.eval()
    plants: dict[str, Plant] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(work_root) if work_root is not None else Path(tmp)
        for i, control in enumerate(controls):
            if control.plant not in plants:
                plants[control.plant] = search_plant(control.plant, detector,
                                                     clean[SEARCH_SPLIT], device, seed)
                if log:
                    p = plants[control.plant]
                    log(f"plant {control.plant}: {p.description} ({SEARCH_SPLIT}: none "
                        f"-{100 * p.val_drop:.1f} acc, AUC moves {100 * p.val_auc_move:.2f})")
            plant = plants[control.plant]
            planted = {split: plant.apply(faces) for split, faces in clean.items()}
            none = none_accuracies(detector, clean, planted, device)
            row = run_control(control, build, detector, clean, plant, device,
                              root / f"{i:02d}_{control.method}", seed, none,
                              detector_training, trainer)
            if log:
                log(f"{control.label}: recovered {_pct(row['recovered'])} %")
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


def _rgb(value: float | Sequence[float]) -> str:
    """A number as ``1.4``, one per channel as ``(1.3, 1, 0.7)``."""
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return "(" + ", ".join(f"{v:g}" for v in value) + ")"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The controls table: one row per (remedy, detector, seed)."""
    lines = ["| remedy | detector | seed | plant | none clean acc / AUC | none planted acc / AUC "
             "| remedy planted acc / AUC | kept epoch (of) | recovered % | best threshold recovers % "
             "| pass |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("no_control"):
            lines.append(f"| {r['remedy']} | {r.get('detector', '')} | {r.get('seed', '')} | "
                         f"no control: {r['no_control']} | | | | | | | |")
            continue
        flag = "" if r["plant_meets_target"] else " (plant off target)"
        kept = "" if r.get("best_epoch") is None else f"{r['best_epoch']} ({r.get('epochs_run', '')})"
        lines.append(
            f"| {r['remedy']} | {r.get('detector', '')} | {r.get('seed', '')} | {r['plant']}{flag} | "
            f"{_pct(r['none_clean_acc'])} / {_pct(r['none_clean_auc'])} | "
            f"{_pct(r['none_planted_acc'])} / {_pct(r['none_planted_auc'])} | "
            f"{_pct(r['remedy_planted_acc'])} / {_pct(r.get('remedy_planted_auc'))} | {kept} | "
            f"{_pct(r['recovered'])} | {_pct(r.get('threshold_ceiling'))} | "
            f"{'yes' if r['pass'] else 'NO'} |")
    return "\n".join(lines) + "\n"
