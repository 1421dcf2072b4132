"""Learning curves of Pixel Bleach per epoch, starting from the untrained state (issue 32, item 2).

Why: on the quick testbed the fitted bleach is worse than ``none``. Three explanations
predict different curves:

- the objective itself does the damage: accuracy/AUC fall below epoch 0 (no bleach) on the
  sets the bleach is fitted on (the offset set, all LQ train) as well as held out;
- the fit's scale: in-sample rises while held-out (LQ val, LQ test) falls, and the gap
  closes when the fit gets more faces (``--train-frames``);
- detector sensitivity: neither; the bleach barely moves in-sample or held-out.

The fit is the project's own: :class:`methods.pixel_bleach.PixelBleach` with its loop
(``methods/bleach_fit.py``), handed over as the engine does (``build_fit_data`` +
``hand_over``), with ``select_untrained=True`` so that the loop evaluates the untrained
generator (bleach exactly 0 with ``zero_init``) before its first epoch. The loop has no
per-epoch callback; :class:`CurveBleach` hooks the loop's own per-epoch val evaluation
(``_evaluate`` on the LQ val set, called once before training and once after every
epoch's BatchNorm recalibration) and, at that moment, scores every tracked set with the
generator exactly as the loop left it. Selection (which epoch the fit keeps) is reported
both ways: among the trained epochs only (the default fit) and with the untrained state
as a candidate. Nothing in the loop changes: the trajectory of the generator is the same
as without the hook (selection does not feed back into training).

Epoch 0 = no bleach (the frozen detector, i.e. ``none``); epoch k = after k epochs.

Sets (``--fit default``, the quick profile's fit: all manipulations, balanced):
``offset`` (the balanced offset set the loop trains on: every FP/FN of the frozen
detector on LQ train plus as many correct faces), ``train`` (all LQ train faces the fit
is given), ``val`` (LQ val, the selection set), ``test`` (LQ test); each reported for
every manipulation asked (its fakes + all reals of the set) and ``all``.
``--fit per_manipulation``: one fit per manipulation on that manipulation's LQ train/val
(the paper's protocol), default 20 epochs at batch 14.

Test intervals: for every epoch, a paired stratified bootstrap (reals and fakes resampled
separately, the same resample for epoch k and epoch 0) of test accuracy and AUC minus
epoch 0's: 95 % percentile interval.

Usage (after the detector is trained, e.g. by ``python -m bench run --method none``)::

    python tools/bleach_curves.py --detector xception --seed 0 --fit default \
        --manipulations FaceSwap,NeuralTextures --results work_dirs/issue32
    python tools/bleach_curves.py --fit per_manipulation --epochs 20 --batch-size 14 ...
    python tools/bleach_curves.py --fit default --train-frames 12 ...   # more LQ fit faces

``--train-frames N`` takes N frames per LQ train clip (``faces.train_frames_per_video``)
from a second :class:`bench.run.engine.Engine` whose profile differs only there, used for
faces only: the detector comes from the first engine. The detector's cache key includes the
train frames (``detector_key``'s ``frames``), so the option cannot be given to the engine
that builds the detector without retraining it.

Writes ``<out>/<name>.json`` and ``<out>/<name>.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.core.faceset import FaceSet  # noqa: E402
from bench.core.fit_data import build_fit_data, hand_over  # noqa: E402
from bleachbench.methods.pixel_bleach import ARRAYS, PixelBleach  # noqa: E402

SETS = ("offset", "train", "val", "test")
N_BOOT = 400


# -- metrics -----------------------------------------------------------------------------------
def fast_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """AUC by the rank-sum (ties averaged); None with one class."""
    labels = np.asarray(labels)
    n1 = int((labels == 1).sum())
    n0 = len(labels) - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(scores)  # ties averaged
    return float((ranks[labels == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy at P(fake) > 0.5, AUC, false positives (real called fake), false negatives."""
    labels = np.asarray(labels)
    pred = (np.asarray(probs) > 0.5).astype(np.int64)
    return {"n": int(len(labels)), "acc": float((pred == labels).mean()) if len(labels) else None,
            "auc": fast_auc(labels, probs),
            "fp": int(((pred == 1) & (labels == 0)).sum()),
            "fn": int(((pred == 0) & (labels == 1)).sum())}


def paired_bootstrap(labels: np.ndarray, probs: np.ndarray, base: np.ndarray,
                     n_boot: int = N_BOOT, seed: int = 0) -> dict[str, list[float] | None]:
    """95 % intervals of acc(probs) - acc(base) and AUC(probs) - AUC(base): reals and fakes
    resampled separately, the same resample for both."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    if len(real) == 0 or len(fake) == 0:
        return {"d_acc_ci": None, "d_auc_ci": None}
    d_acc, d_auc = [], []
    ok, ok0 = (probs > 0.5) == labels, (base > 0.5) == labels
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(real, len(real)), rng.choice(fake, len(fake))])
        d_acc.append(ok[idx].mean() - ok0[idx].mean())
        d_auc.append(fast_auc(labels[idx], probs[idx]) - fast_auc(labels[idx], base[idx]))
    return {"d_acc_ci": [float(np.percentile(d_acc, 2.5)), float(np.percentile(d_acc, 97.5))],
            "d_auc_ci": [float(np.percentile(d_auc, 2.5)), float(np.percentile(d_auc, 97.5))]}


# -- the hooked fit ----------------------------------------------------------------------------
class CurveBleach(PixelBleach):
    """PixelBleach whose per-epoch val evaluation also calls ``curve_hook(self)`` (see module doc)."""

    curve_hook: Callable[[PixelBleach], None] | None = None
    curve_val: FaceSet | None = None

    def _evaluate(self, faces: FaceSet) -> dict[str, Any]:
        out = super()._evaluate(faces)
        if self.curve_hook is not None and faces is self.curve_val:
            self.curve_hook(self)
        return out


@torch.no_grad()
def bleached_probs(method: PixelBleach, faces: FaceSet, frozen: tuple[torch.Tensor, ...],
                   batch: int = 64) -> np.ndarray:
    """P(fake) of the frozen detector on the bleached faces, the generator in eval mode, from a
    kept frozen pass ``frozen`` = (feature, phi, logits) of every face."""
    assert method.generator is not None and method._detector is not None
    was_training = method.generator.training
    method.generator.eval()
    out = []
    for start in range(0, len(faces), batch):
        sl = slice(start, start + batch)
        x = faces.tensors(sl)[0].to(method._device)
        bleached = method._bleach(x, tuple(t[sl] for t in frozen))[0]
        out.append(method._detector(bleached).softmax(1)[:, 1].float().cpu())
    method.generator.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


@torch.no_grad()
def frozen_pass(method: PixelBleach, faces: FaceSet, batch: int = 64) -> tuple[torch.Tensor, ...]:
    """(feature, phi, logits) of the frozen detector on every face (the bleach's own pass)."""
    assert method._detector is not None
    parts = []
    for start in range(0, len(faces), batch):
        x = faces.tensors(slice(start, start + batch))[0].to(method._device)
        feature, phi = method._feature_pair(x)
        parts.append((feature, phi, method._detector.classify(phi)))
    return tuple(torch.cat([p[i] for p in parts]) for i in range(3))


def groups(faces: FaceSet, manipulations: Sequence[str]) -> dict[str, np.ndarray]:
    """Row indices per reported group: ``all`` and, per manipulation, its fakes + every real."""
    out = {"all": np.arange(len(faces))}
    real = faces.manipulations == "real"
    for m in manipulations:
        keep = real | (faces.manipulations == m)
        if (faces.manipulations == m).any():
            out[m] = np.flatnonzero(keep)
    return out


def bleach_curves(detector: torch.nn.Module, train_lq: FaceSet, val_lq: FaceSet, test_lq: FaceSet,
                  method_cfg: dict[str, Any], work_dir: Path, device: torch.device,
                  manipulations: Sequence[str] = (), n_boot: int = N_BOOT,
                  log: Callable[[str], None] | None = None, score_every: int = 1,
                  on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Fit Pixel Bleach (``method_cfg``: its keyword arguments) on ``train_lq``/``val_lq`` and
    score the offset set, LQ train, LQ val and LQ test at the untrained state and after every
    epoch. Returns ``{"rows": [...], "history": [...], "fit": {...}, "selection": {...}}``;
    a row is ``{epoch, set, group, n, acc, auc, fp, fn}`` (+ test intervals). ``on_epoch``
    gets the partial result (rows so far, ``"partial": True``) after every epoch, so that a fit
    stopped early still leaves its curve. ``score_every``: score the four sets only at epoch 0,
    every ``score_every``-th epoch, the last, and the epoch the fit keeps (the loop's own LQ
    val history keeps every epoch); a long fit's scoring otherwise costs more than the fit."""
    work_dir = Path(work_dir)
    if work_dir.exists():  # a stored fit would be restored without running the loop
        shutil.rmtree(work_dir)
    cfg = {k: v for k, v in method_cfg.items() if k != "type"}
    cfg["select_untrained"] = True  # the loop then evaluates epoch 0 (no bleach) itself
    method = CurveBleach(**cfg)
    data, _ = build_fit_data(method, train_lq, val_lq, seed=int(cfg.get("seed", 0)))
    method.curve_val = data.val_lq
    kept: dict[str, tuple[torch.Tensor, ...]] = {}
    sets: dict[str, FaceSet] = {"train": data.train_lq, "val": data.val_lq, "test": test_lq}
    base: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    epoch_counter = [0]
    offset_index: list[np.ndarray] = []
    started = time.perf_counter()

    def score(m: PixelBleach, epoch: int) -> None:
        """Score every tracked set with the generator as it is now, filed under ``epoch``."""
        if not offset_index:
            offset_index.append(np.load(work_dir / ARRAYS)["offset_index"])
        probs: dict[str, np.ndarray] = {}
        for name, faces in sets.items():
            if name not in kept:
                kept[name] = frozen_pass(m, faces)
            probs[name] = bleached_probs(m, faces, kept[name])
        probs["offset"] = probs["train"][offset_index[0]]
        if epoch == 0:
            base.update(probs)
        for name in SETS:
            faces = sets["train"].subset(offset_index[0]) if name == "offset" else sets[name]
            for group, idx in groups(faces, manipulations).items():
                row = {"epoch": epoch, "set": name, "group": group,
                       **metrics(probs[name][idx], faces.labels[idx])}
                if name == "test" and epoch > 0:
                    row.update(paired_bootstrap(faces.labels[idx], probs[name][idx],
                                                base[name][idx], n_boot, seed=epoch))
                rows.append(row)
        if log:
            t = [r for r in rows if r["epoch"] == epoch and r["group"] == "all"]
            log(f"epoch {epoch}: " + ", ".join(
                f"{r['set']} acc {100 * r['acc']:.1f} AUC {100 * (r['auc'] or 0):.1f}" for r in t)
                + f" ({time.perf_counter() - started:.0f} s)")

    def hook(m: PixelBleach) -> None:
        epoch = epoch_counter[0]
        epoch_counter[0] += 1
        if epoch % max(1, score_every) and epoch != int(cfg.get("epochs", epoch)):
            return  # not scored: the generator trajectory is unchanged
        score(m, epoch)
        if on_epoch is not None:
            on_epoch({"rows": list(rows), "history": [], "partial": True,
                      "selection": {"metric": m.select_metric, "trained_only": None,
                                    "with_untrained": None},
                      "n_offset": int(len(offset_index[0])),
                      "seconds": time.perf_counter() - started})

    method.curve_hook = hook
    facts = hand_over(method, detector, data, work_dir, device)
    history = [{k: v for k, v in h.items()} for h in facts.get("history", [])]
    for h in history:
        h["epoch"] = int(h["epoch"]) + 1  # the loop's -1 (untrained) is epoch 0 here
    trained = [h for h in history if h["epoch"] > 0]
    from bleachbench.methods.pixel_bleach import select_score

    def best(cands: list[dict[str, Any]]) -> int:
        scores = [select_score(h, method.select_metric) for h in cands]
        return int(cands[int(np.argmax(scores))]["epoch"])  # first maximum, as the loop's ">"

    chosen = int(facts.get("best_epoch", -1)) + 1  # the generator the loop left in place
    if chosen > 0 and all(r["epoch"] != chosen for r in rows):
        score(method, chosen)  # --score-every skipped it
    fit = {k: v for k, v in facts.items() if k not in ("history",)}
    return {"rows": rows, "history": history, "fit": json.loads(json.dumps(fit, default=str)),
            "selection": {"metric": method.select_metric,
                          "trained_only": best(trained) if trained else None,
                          "with_untrained": best(history) if history else None},
            "n_offset": int(len(offset_index[0])) if offset_index else None,
            "seconds": time.perf_counter() - started, "partial": False}


# -- report ------------------------------------------------------------------------------------
def _p(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def markdown(result: dict[str, Any], title: str) -> str:
    """One table per group: epoch rows; acc/AUC per set, test FP/FN and test deltas with intervals."""
    rows = result["rows"]
    loss = {h["epoch"]: h.get("loss_total") for h in result["history"]}
    partial = (f"PARTIAL: stopped or still running after epoch {max(r['epoch'] for r in rows)}. "
               if result.get("partial") else "")
    lines = [f"# {title}", "", partial + f"selection ({result['selection']['metric']}): kept epoch "
             f"{result['selection']['trained_only']} among trained epochs, "
             f"{result['selection']['with_untrained']} with the untrained state as a candidate; "
             f"offset set {result['n_offset']} faces; {result['seconds']:.0f} s.", ""]
    for group in dict.fromkeys(r["group"] for r in rows):
        g = [r for r in rows if r["group"] == group]
        n = {s: next((r["n"] for r in g if r["set"] == s), 0) for s in SETS}
        lines += [f"## {group}", "",
                  f"| epoch | offset acc / AUC (n={n['offset']}) | train acc / AUC (n={n['train']}) "
                  f"| val acc / AUC (n={n['val']}) | test acc / AUC (n={n['test']}) | test FP / FN "
                  "| test Δacc [95 %] | test ΔAUC [95 %] | train loss |",
                  "|---|---|---|---|---|---|---|---|---|"]
        empty = {"acc": None, "auc": None, "fp": "–", "fn": "–"}
        for epoch in sorted({r["epoch"] for r in g}):
            e = {r["set"]: r for r in g if r["epoch"] == epoch}
            t = e.get("test", empty)
            d_acc = d_auc = ""
            t0 = next((r for r in g if r["epoch"] == 0 and r["set"] == "test"), None)
            if epoch > 0 and t0 is not None and t["acc"] is not None:
                d_acc = f"{100 * (t['acc'] - t0['acc']):+.1f}{_ci(t.get('d_acc_ci'))}"
                d_auc = (f"{100 * ((t['auc'] or 0) - (t0['auc'] or 0)):+.1f}"
                         f"{_ci(t.get('d_auc_ci'))}")
            lo = loss.get(epoch)
            lines.append(
                f"| {epoch} | " + " | ".join(f"{_p(e.get(s, empty)['acc'])} / {_p(e.get(s, empty)['auc'])}"
                                            for s in SETS)
                + f" | {t['fp']} / {t['fn']} | {d_acc} | {d_auc} | "
                + ("" if lo is None or lo != lo else f"{lo:.3f}") + " |")
        lines.append("")
    return "\n".join(lines)


MOVE = 1.0  # AUC points: a change smaller than this is read as "flat" in the summary's reading


def _row(result: dict[str, Any], group: str, epoch: int, name: str) -> dict[str, Any] | None:
    return next((r for r in result["rows"] if r["group"] == group and r["epoch"] == epoch
                 and r["set"] == name), None)


def reading(d_in: float, d_out: float) -> str:
    """Which explanation a fit's AUC changes (points, kept epoch minus epoch 0) point to:
    in-sample = all LQ train faces of the fit, held-out = LQ test (issue 32, item 2)."""
    if d_in <= -MOVE:
        return "objective: in-sample AUC falls"
    if d_in >= MOVE and d_out <= -MOVE:
        return "scale: in-sample rises, held-out falls"
    if d_in >= MOVE and d_out >= MOVE:
        return "helps: both rise"
    if d_out <= -MOVE:
        return "held-out falls, in-sample flat"
    return "flat"


def summarise(results: Sequence[dict[str, Any]]) -> str:
    """One markdown row per curves result and group: AUC at epoch 0 (no bleach) and at the epoch
    the default selection keeps (best trained epoch on LQ val), per set; the test change with its
    95 % interval; the epoch that selection with the untrained state keeps; and the reading."""
    head = ("| detector | seed | fit | LQ fit faces | group | offset AUC | all LQ train AUC "
            "| LQ val AUC | LQ test AUC | test Δacc [95 %] | test ΔAUC [95 %] "
            "| kept (with untrained) | reading |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        kept = res["selection"]["trained_only"]
        if kept is None:
            continue
        per_manip = res.get("fit_kind") == "per_manipulation"
        fit = res["name"].split("_")[0] if per_manip else "default"
        fit += f", {res['method_cfg']['epochs']} ep / batch {res['method_cfg']['batch_size']}"
        groups = [g for g in dict.fromkeys(r["group"] for r in res["rows"])
                  if g == "all" or not per_manip]
        scored = {r["epoch"] for r in res["rows"]}
        shown = kept if kept in scored else max(scored)  # runs made before the kept epoch was scored
        label = f"{kept} ({res['selection']['with_untrained']})" + (
            "" if shown == kept else f", not scored: epoch {shown} shown")
        for group in groups:
            cells, deltas = [], {}
            for name in SETS:
                a, b = _row(res, group, 0, name), _row(res, group, shown, name)
                if a is None or b is None or a["auc"] is None or b["auc"] is None:
                    cells.append("–")
                    continue
                deltas[name] = 100 * (b["auc"] - a["auc"])
                cells.append(f"{100 * a['auc']:.1f} → {100 * b['auc']:.1f}")
            t0, tk = _row(res, group, 0, "test"), _row(res, group, shown, "test")
            if t0 is None or tk is None:
                continue
            d_acc = f"{100 * (tk['acc'] - t0['acc']):+.1f}{_ci(tk.get('d_acc_ci'))}"
            d_auc = f"{deltas.get('test', float('nan')):+.1f}{_ci(tk.get('d_auc_ci'))}"
            read = (reading(deltas["train"], deltas["test"])
                    if "train" in deltas and "test" in deltas else "")
            lines.append(f"| {res['detector']} | {res['seed']} | {fit} | {res['n_train']} | {group} | "
                         + " | ".join(cells) + f" | {d_acc} | {d_auc} | {label} | {read} |")
    return "\n".join(lines) + "\n"


# -- the published records: the held-out side only ---------------------------------------------
def published_summary(records: Path, detector: str = "xception",
                      manipulations: Sequence[str] = ("FaceSwap", "NeuralTextures"),
                      n_boot: int = 1000) -> str:
    """``none`` vs ``pixel_bleach`` (default parameters, fit seed 0) on LQ test per seed, from a
    published records folder (test probabilities of the same faces: paired bootstrap), with the
    fit's facts (LQ-train FP/FN, offset size, kept epoch, per-epoch val acc/AUC and the epoch's
    mean training cross-entropy on the offset set). Markdown."""
    recs: dict[tuple[str, str, int], tuple[dict[str, Any], Any]] = {}
    for f in sorted(Path(records).glob(f"*-{detector}-*-c40-*.json")):
        r = json.loads(f.read_text())
        s = r["spec"]
        if (s["method"] in ("none", "pixel_bleach") and s["method_params"] == "{}"
                and s["options"] == "{}" and s.get("fit_seed", 0) == 0):
            recs[(s["method"], s["manipulation"], int(s["seed"]))] = (r, np.load(f.with_suffix(".npz")))
    lines = ["| manipulation | seed | none acc / AUC | none FP / FN | bleach acc / AUC | bleach FP / FN "
             "| Δacc [95 %] | ΔAUC [95 %] | fit: LQ-train FP / FN, offset n, kept epoch "
             "| val acc / AUC, train CE per epoch |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m in manipulations:
        for seed in sorted({k[2] for k in recs if k[1] == m}):
            if ("none", m, seed) not in recs or ("pixel_bleach", m, seed) not in recs:
                continue
            (_, z0), (rb, zb) = recs[("none", m, seed)], recs[("pixel_bleach", m, seed)]
            if not (np.array_equal(z0["label"], zb["label"]) and np.array_equal(z0["video"], zb["video"])):
                raise ValueError(f"{m} seed {seed}: none and pixel_bleach scored different faces")
            y = z0["label"].astype(np.int64)
            a, b = metrics(z0["prob"], y), metrics(zb["prob"], y)
            ci = paired_bootstrap(y, zb["prob"], z0["prob"], n_boot, seed=0)
            fa = rb["facts"]
            hist = "; ".join(f"{_p(h['acc'])} / {_p(h['auc'])}, CE {h['loss_ce']:.2f}"
                             for h in fa.get("history", []))
            lines.append(
                f"| {m} | {seed} | {_p(a['acc'])} / {_p(a['auc'])} | {a['fp']} / {a['fn']} "
                f"| {_p(b['acc'])} / {_p(b['auc'])} | {b['fp']} / {b['fn']} "
                f"| {100 * (b['acc'] - a['acc']):+.1f}{_ci(ci['d_acc_ci'])} "
                f"| {100 * ((b['auc'] or 0) - (a['auc'] or 0)):+.1f}{_ci(ci['d_auc_ci'])} "
                f"| {fa['n_train_fp']} / {fa['n_train_fn']}, {fa['n_balanced']}, {fa['best_epoch'] + 1} "
                f"| {hist} |")
    return "\n".join(lines) + "\n"


def offset_shift_model(records: Path, detector: str = "xception", seed: int = 0,
                       manipulations: Sequence[str] = ("FaceSwap", "Face2Face", "Deepfakes",
                                                       "NeuralTextures")) -> dict[str, Any]:
    """What the cross-entropy on an offset set asks for if the bleach could only shift the logit.

    LQ train scores are not stored in a records folder, so LQ test's ``none`` scores stand in:
    all reals + as many fakes drawn from the four manipulations (the quick fit's balanced set),
    then the offset set as the fit builds it (every wrong face + as many correct ones, seeded).
    ``b`` minimises the mean cross-entropy of ``logit + b`` on it; applied to each manipulation's
    test set it gives the accuracy and FP/FN a pure shift would reach. A shift keeps the AUC,
    so whatever the real bleach loses beyond this is ranking, not the offset set's class mix."""
    from scipy.optimize import minimize_scalar

    probs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m in manipulations:
        for f in sorted(Path(records).glob(f"none-{detector}-{m}-c40-*.json")):
            s = json.loads(f.read_text())["spec"]
            if s["options"] == "{}" and int(s["seed"]) == seed:
                z = np.load(f.with_suffix(".npz"))
                probs[m] = (z["prob"].astype(np.float64), z["label"].astype(np.int64))

    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return np.log(p) - np.log1p(-p)

    first = probs[manipulations[0]]
    real = first[0][first[1] == 0]
    fakes = np.concatenate([probs[m][0][probs[m][1] == 1] for m in manipulations])
    rng = np.random.default_rng(seed)
    p = np.concatenate([real, rng.choice(fakes, len(real), replace=False)])
    y = np.r_[np.zeros(len(real)), np.ones(len(real))].astype(np.int64)
    wrong = (p > 0.5) != y
    from bleachbench.methods.pixel_bleach import balanced_offset_indices

    idx = balanced_offset_indices(wrong, 1.0, seed)
    z, t = logit(p[idx]), 2 * y[idx] - 1
    b = float(minimize_scalar(lambda v: np.mean(np.logaddexp(0, -(z + v) * t)),
                              bounds=(-20, 20), method="bounded").x)
    out: dict[str, Any] = {"seed": seed, "n_offset": int(len(idx)), "offset_fp": int((wrong & (y == 0)).sum()),
                           "offset_fn": int((wrong & (y == 1)).sum()), "shift": b, "cells": {}}
    for m in manipulations:
        q, lab = probs[m]
        shifted = 1 / (1 + np.exp(-(logit(q) + b)))
        out["cells"][m] = {"none": metrics(q, lab), "shift": metrics(shifted, lab)}
    return out


# -- command line ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--detector", default="xception")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", default="quick")
    p.add_argument("--results", default="work_dirs/issue32")
    p.add_argument("--out", default=None, help="default: RESULTS/curves")
    p.add_argument("--fit", choices=("default", "per_manipulation"), default="default")
    p.add_argument("--manipulations", default="FaceSwap,NeuralTextures")
    p.add_argument("--epochs", type=int, default=None, help="default: the profile's (fit default), 20")
    p.add_argument("--batch-size", type=int, default=None, help="default: the profile's, 14")
    p.add_argument("--variant", default="reread", choices=("reread", "paper_literal"))
    p.add_argument("--train-frames", type=int, default=None,
                   help="LQ train frames per clip for the fit (faces.train_frames_per_video)")
    p.add_argument("--test-fakes", default=None,
                   help="score only these manipulations' test fakes (default: --manipulations)")
    p.add_argument("--device", default="auto")
    p.add_argument("--n-boot", type=int, default=N_BOOT)
    p.add_argument("--score-every", type=int, default=None,
                   help="score the sets at epoch 0, every Nth epoch and the last (default: every "
                        "epoch of the default fit, every 4th of the per-manipulation fit)")
    p.add_argument("--published", default=None, metavar="RECORDS",
                   help="only summarise none vs pixel_bleach from a published records folder "
                        "(e.g. results/quick/records): the held-out side, no fit")
    p.add_argument("--summarise", default=None, metavar="DIR",
                   help="only summarise the curves JSON files in DIR (one row per fit and group)")
    args = p.parse_args(argv)
    if args.summarise:
        found = sorted(Path(args.summarise).glob("*.json"))
        results = [r for r in (json.loads(f.read_text()) for f in found) if "rows" in r]
        print(summarise([r for r in results if not r.get("partial")]))
        return 0
    if args.published:
        out = Path(args.out) if args.out else Path(args.results) / "curves"
        out.mkdir(parents=True, exist_ok=True)
        md = published_summary(Path(args.published), args.detector,
                               [m.strip() for m in args.manipulations.split(",") if m.strip()])
        path = out / f"published_{args.detector}.md"
        shift = ["", "## A pure logit shift fitted by cross-entropy on an offset set (test scores as proxy)",
                 "", "| seed | offset n (FP / FN) | shift | manipulation | none acc, FP / FN | shift acc, FP / FN |",
                 "|---|---|---|---|---|---|"]
        for seed in (0, 1, 2):
            try:
                r = offset_shift_model(Path(args.published), args.detector, seed)
            except (KeyError, ValueError):
                continue
            for m, c in r["cells"].items():
                shift.append(f"| {seed} | {r['n_offset']} ({r['offset_fp']} / {r['offset_fn']}) | "
                             f"{r['shift']:+.2f} | {m} | {_p(c['none']['acc'])}, {c['none']['fp']} / "
                             f"{c['none']['fn']} | {_p(c['shift']['acc'])}, {c['shift']['fp']} / "
                             f"{c['shift']['fn']} |")
        md += "\n".join(shift) + "\n"
        path.write_text(f"# none vs pixel_bleach from {args.published} (epochs numbered from 1)\n\n" + md)
        print(md)
        return 0

    from bench.core.profiles import get_profile
    from bench.core.spec import RunSpec
    from bench.run.engine import Engine, balance_classes

    torch.set_num_threads(max(1, torch.get_num_threads()))
    profile = get_profile(args.profile, {})
    engine = Engine(profile, args.results, device=args.device, progress=False)
    ds = profile["dataset"]["type"]
    lq, hq = profile["test_compression"], profile["train_compression"]
    manips = [m.strip() for m in args.manipulations.split(",") if m.strip()]
    spec = RunSpec(dataset=ds, manipulation="all", detector=args.detector, method="pixel_bleach",
                   train_compression=hq, test_compression=lq, profile=profile["name"],
                   seed=args.seed)
    detector, info = engine.detector(spec)
    size = engine.image_size(args.detector)
    frames = args.train_frames  # more LQ fit faces, the detector unchanged (None: the split's)
    cfg = engine.method_cfg(spec)
    cfg["variant"] = args.variant
    cfg["progress"] = False
    if args.fit == "per_manipulation":
        cfg["epochs"], cfg["batch_size"] = args.epochs or 20, args.batch_size or 14
    else:
        cfg["epochs"] = args.epochs or cfg.get("epochs", 2)
        cfg["batch_size"] = args.batch_size or cfg.get("batch_size", 32)
    out = Path(args.out) if args.out else Path(args.results) / "curves"
    out.mkdir(parents=True, exist_ok=True)
    test_all = engine.faces(ds, "all", lq, "test", size)
    wanted = [m.strip() for m in (args.test_fakes or args.manipulations).split(",") if m.strip()]
    keep = np.isin(test_all.manipulations, ["real", *wanted])
    test_all = test_all.subset(np.flatnonzero(keep))
    tag = f"{args.detector}_seed{args.seed}_{args.variant}_e{cfg['epochs']}_b{cfg['batch_size']}"
    if args.train_frames is not None:
        tag += f"_trainframes{args.train_frames}"
    fits: list[tuple[str, FaceSet, FaceSet, FaceSet, list[str]]] = []
    if args.fit == "default":
        train = balance_classes(engine.faces(ds, "all", lq, "train", size, frames), args.seed)
        val = balance_classes(engine.faces(ds, "all", lq, "val", size), args.seed)
        fits.append((f"default_{tag}", train, val, test_all, manips))
    else:
        for m in manips:
            fits.append((f"{m}_{tag}", engine.faces(ds, m, lq, "train", size, frames),
                         engine.faces(ds, m, lq, "val", size), test_all.select_manipulation(m), [m]))
    for name, train, val, test, groups_ in fits:
        print(f"{name}: train {len(train)}, val {len(val)}, test {len(test)} faces; cfg {cfg}",
              flush=True)
        title = (f"Pixel Bleach curves: {name} (detector {args.detector} seed {args.seed}, profile "
                 f"{profile['name']}, fit {args.fit}, {args.variant}, {cfg['epochs']} epochs at batch "
                 f"{cfg['batch_size']}, {len(train)} LQ train faces)")

        def write(result: dict[str, Any], name: str = name, title: str = title,
                  n_train: int = len(train)) -> None:
            result.update({"name": name, "detector": args.detector, "seed": args.seed,
                       "profile": profile["name"], "method_cfg": cfg, "fit_kind": args.fit,
                       "train_frames": args.train_frames or engine.frames_per_video("train"),
                       "detector_checkpoint": str(info.get("checkpoint")),
                       "date": time.strftime("%Y-%m-%d %H:%M"), "torch_threads": torch.get_num_threads(),
                       "n_train": n_train})
            (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
            (out / f"{name}.md").write_text(markdown(result, title))

        result = bleach_curves(detector, train, val, test, cfg, Path(args.results) / "curves_work" / name,
                               engine.device, groups_, args.n_boot,
                               log=lambda s: print(s, flush=True), on_epoch=write,
                               score_every=args.score_every or (4 if args.fit == "per_manipulation" else 1))
        write(result)
        print(f"wrote {out / name}.md/json", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
