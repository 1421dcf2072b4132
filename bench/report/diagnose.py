"""``python -m bench diagnose --run RUN_ID``: how a fitted Pixel Bleach acts on the detector.

For one pixel_bleach run record it prints, on the run's seeded subsample of
test faces (at most 512, both classes):

- the mean norm of phi (the head's input) and the mean logit margin
  (fake - real) before and after the bleach, per class, and the Spearman rank
  correlation of the margins before and after, per class (a bleach that
  corrects keeps the order of faces; one that erases the evidence does not);
- the cosine of each face's bleach to the mean bleach (median, per class): near
  1 means one bleach for all faces, a constant image rather than a correction;
- from the fit's work dir (``arrays.npz``): the balanced offset sample's FP, FN
  and correctly classified faces and the share of each I (+1, -1, 0) in them.

Sources: the arrays saved beside the record (``runs/<run_id>.npz``, Pixel
Bleach's artifact keys) where present; the bleaches themselves (and anything
missing) come from reloading the detector checkpoint and the generator of the
method's work dir and the test faces from the face cache, inference only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from bench.core.detector import freeze
from bench.core.registry import DETECTORS, build, load_builtins
from bench.core.spec import RunSpec
from bench.core.store import ResultsStore

CLASSES = ((0, "real"), (1, "fake"))
ARTIFACT_KEYS = ("idx_sub", "label_sub", "phi_before", "phi_after", "margin_before", "margin_after")


def read_record(results: Path, run_id: str) -> dict[str, Any]:
    """The record ``RESULTS/runs/<run_id>.json`` (a clear error naming the folder if absent)."""
    path = Path(results) / "runs" / f"{run_id}.json"
    if not path.exists():
        known = sorted(p.stem for p in (Path(results) / "runs").glob("pixel_bleach-*.json"))
        hint = f"; pixel_bleach runs there: {', '.join(known[:5])}" if known else ""
        raise FileNotFoundError(f"no run record {path}{hint}")
    return ResultsStore._read(path)


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def feature_stats(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per class: n, mean ||phi|| and mean margin before/after, Spearman of the margins."""
    out = {}
    labels = np.asarray(arrays["label_sub"])
    for c, name in CLASSES:
        sel = labels == c
        pb = np.asarray(arrays["phi_before"][sel], dtype=np.float64)
        pa = np.asarray(arrays["phi_after"][sel], dtype=np.float64)
        mb = np.asarray(arrays["margin_before"][sel], dtype=np.float64)
        ma = np.asarray(arrays["margin_after"][sel], dtype=np.float64)
        if not sel.any():
            out[name] = {"n": 0}
            continue
        out[name] = {
            "n": int(sel.sum()),
            "norm_before": float(np.linalg.norm(pb, axis=1).mean()),
            "norm_after": float(np.linalg.norm(pa, axis=1).mean()),
            "margin_before": float(mb.mean()),
            "margin_after": float(ma.mean()),
            "spearman": _spearman(mb, ma),
            "acc_before": float(((mb > 0) == bool(c)).mean()),
            "acc_after": float(((ma > 0) == bool(c)).mean()),
        }
    return out


def bleach_cosines(bleaches: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Median cosine of each (flattened) bleach to the mean bleach, overall and per class."""
    flat = bleaches.reshape(len(bleaches), -1).astype(np.float64)
    mean = flat.mean(0)
    denom = np.linalg.norm(flat, axis=1) * np.linalg.norm(mean)
    cos = np.where(denom > 0, flat @ mean / np.where(denom > 0, denom, 1), np.nan)
    out: dict[str, Any] = {
        "median": float(np.nanmedian(cos)) if np.isfinite(cos).any() else None,
        "mean_abs": float(np.abs(flat).mean()),
    }
    for c, name in CLASSES:
        part = cos[labels == c]
        out[name] = float(np.nanmedian(part)) if np.isfinite(part).any() else None
    return out


def offset_stats(work_arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """The balanced offset sample's groups (FP, FN, TN, TP) with the share of each I in them."""
    idx = work_arrays["offset_index"]
    label = work_arrays["train_label"][idx]
    wrong = work_arrays["train_wrong"][idx]
    direction = work_arrays["train_direction"][idx]
    groups = {
        "FP": wrong & (label == 0), "FN": wrong & (label == 1),
        "TN": ~wrong & (label == 0), "TP": ~wrong & (label == 1),
    }  # fmt: skip
    out = {}
    for name, sel in groups.items():
        n = int(sel.sum())
        out[name] = {"n": n, **{f"I={v:+d}": (float((direction[sel] == v).mean()) if n else None)
                                for v in (1, -1, 0)}}
    out["all train"] = {
        "n": int(len(work_arrays["train_label"])),
        **{f"I={v:+d}": float((work_arrays["train_direction"] == v).mean()) for v in (1, -1, 0)},
    }
    return out


def reload(record: dict[str, Any], results: Path, device: torch.device,
           config: str | Path | None = None):
    """``(method, test_faces)``: the fitted bleach from its checkpoints and the run's test faces.
    ``config``: the ``--config`` file of a run made from one (its profile is not packaged)."""
    from bench.core.config import ConfigError
    from bench.core.profiles import PROFILES, get_profile
    from bench.run.engine import Engine
    from bench.run.training import load_detector_checkpoint
    from bleachbench.methods.pixel_bleach import PixelBleach

    spec = RunSpec.from_dict(record["spec"])
    if config is None and spec.profile not in PROFILES:
        raise ConfigError(f"run {record['run_id']} was made with profile {spec.profile!r}, not a "
                          "packaged one: pass --config FILE, the file it was run with")
    engine = Engine(get_profile(spec.profile, json.loads(spec.options), config=config), results,
                    str(device), progress=False)
    size = engine.image_size(spec.detector)
    faces = engine.faces(spec.dataset, spec.manipulation, spec.test_compression, "test", size)
    detector = load_detector_checkpoint(build(DETECTORS, spec.detector),
                                        engine.store.resolve(record["checkpoints"]["detector"]),
                                        trusted=True)
    freeze(detector.to(device))
    method = PixelBleach.load(record["facts"]["method_cfg"], detector,
                              engine.store.resolve(record["checkpoints"]["method_work_dir"]),
                              size, device)
    return method, faces


def diagnose(results: Path, run_id: str, device: str = "cpu",
             config: str | Path | None = None) -> dict[str, Any]:
    """Every number the report prints, as a dict (JSON-able). ``config``: the ``--config`` file
    the run was made with, where its profile is not a packaged one."""
    load_builtins()
    results = Path(results)
    record = read_record(results, run_id)
    if record["spec"]["method"] != "pixel_bleach":
        raise ValueError(f"diagnose reads pixel_bleach runs; {run_id} is method "
                         f"{record['spec']['method']!r}")
    dev = torch.device(device)
    report: dict[str, Any] = {"run_id": run_id, "spec": record["spec"],
                              "metrics": record["metrics"].get("frame", {}),
                              "variant": record["facts"].get("variant", "unknown")}
    npz = results / "runs" / f"{run_id}.npz"
    arrays: dict[str, np.ndarray] = {}
    if npz.exists():
        with np.load(npz) as data:
            arrays = {k: data[k] for k in ARTIFACT_KEYS if k in data.files}
    report["sources"] = {"features": "runs npz" if len(arrays) == len(ARTIFACT_KEYS) else "reloaded"}
    try:
        method, faces = reload(record, results, dev, config)
    except (FileNotFoundError, KeyError, RuntimeError, ValueError) as exc:
        method, faces = None, None
        report["sources"]["reload_error"] = f"{type(exc).__name__}: {exc}"
    if len(arrays) < len(ARTIFACT_KEYS):
        if method is None:
            raise FileNotFoundError(f"{npz} lacks the bleach arrays and the checkpoints could not be "
                                    f"reloaded ({report['sources']['reload_error']})")
        arrays = method.artifacts(faces, dev)
    report["features"] = feature_stats(arrays)
    if method is not None:
        chunks = []
        for start in range(0, len(arrays["idx_sub"]), 64):
            x, _ = faces.tensors(arrays["idx_sub"][start : start + 64])
            chunks.append(method.bleaches(x).float().cpu().numpy())
        report["bleach_cosine"] = bleach_cosines(np.concatenate(chunks),
                                                 np.asarray(arrays["label_sub"]))
    from bench.core.store import resolve_stored

    work = resolve_stored(results, record["checkpoints"].get("method_work_dir", "")) / "arrays.npz"
    if work.is_file():
        with np.load(work) as data:
            report["offset"] = offset_stats({k: data[k] for k in data.files})
    else:
        report["offset"] = None
        report["sources"]["offset"] = f"missing {work} (a fit from before arrays.npz was written)"
    return report


def _f(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def format_report(r: dict[str, Any]) -> str:
    """The report as plain text."""
    s = r["spec"]
    m = r["metrics"]
    lines = [f"diagnosis of {r['run_id']}",
             f"  {s['detector']} / {s['manipulation']} / test {s['test_compression']} / "
             f"variant {r['variant']}; test acc {_f(m.get('acc'), 2)}, AUC {_f(m.get('auc'), 2)}",
             f"  sources: {r['sources']}", "",
             "features and margins on the test subsample (margin = logit fake - real)",
             f"  {'class':<6}{'n':>5}{'|phi| before':>14}{'after':>9}{'margin before':>15}"
             f"{'after':>9}{'acc before':>12}{'after':>8}{'spearman':>10}"]
    for name, st in r["features"].items():
        if not st["n"]:
            lines.append(f"  {name:<6}{0:>5}")
            continue
        lines.append(f"  {name:<6}{st['n']:>5}{st['norm_before']:>14.2f}{st['norm_after']:>9.2f}"
                     f"{st['margin_before']:>15.2f}{st['margin_after']:>9.2f}"
                     f"{st['acc_before']:>12.3f}{st['acc_after']:>8.3f}{_f(st['spearman']):>10}")
    cos = r.get("bleach_cosine")
    lines += ["", "cosine of each face's bleach to the mean bleach (median; 1 = one bleach for all)"]
    if cos:
        lines.append(f"  all {_f(cos['median'])}, real {_f(cos['real'])}, fake {_f(cos['fake'])}; "
                     f"mean |bleach| {cos['mean_abs']:.4f} (pixels in [0, 1])")
    else:
        lines.append("  n/a (checkpoints could not be reloaded)")
    lines += ["", "balanced offset sample (LQ train): groups and the share of each I"]
    if r["offset"]:
        for name, st in r["offset"].items():
            shares = ", ".join(f"{k} {_f(v, 2)}" for k, v in st.items() if k != "n")
            lines.append(f"  {name:<10}{st['n']:>6}   {shares}")
    else:
        lines.append(f"  n/a ({r['sources'].get('offset')})")
    return "\n".join(lines)
