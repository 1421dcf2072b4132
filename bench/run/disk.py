"""The disk a grid needs at peak, estimated from its plan before any work: face caches not
built yet, checkpoints of detectors not trained yet, and records with their per-face arrays;
a grid that needs more than the results folder has free is refused up front."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.core import config as C
from bench.core.files import check_free_space, human
from bench.core.registry import DETECTORS, build
from bench.core.spec import RunSpec
from bench.run.faces import Faces

CHECKPOINT_COPIES = 7  # weights x (epoch_N + best_N with Adam's 2 moments: 3 + 3) + best.pth
RECORD_BYTES, FACE_ARRAY_BYTES, MARGIN = 64_000, 256, 1.1


def needed_caches(spec: RunSpec, faces: Faces) -> list[tuple[str, str, str]]:
    """(manipulation, compression, split) of every face cache run ``spec`` reads."""
    det_manip = spec.manipulation if faces.per_manipulation else "all"
    fit_manip = spec.manipulation if faces.method_per_manipulation else "all"
    return [(det_manip, spec.train_compression, "train"),
            (det_manip, spec.train_compression, "val"),
            (det_manip, spec.test_compression, "test"),
            (fit_manip, spec.method_fit_compression, "train"),
            (fit_manip, spec.method_fit_compression, "val")]


def cache_bytes(faces: Faces, dataset: str, manip: str, comp: str, split: str,
                size: int) -> tuple[int, int]:
    """(bytes to build, number of faces) of one face cache: 0 bytes if it is built."""
    from bleachbench.datasets.face_cache import cache_dir, cache_params, select_videos

    source = faces.source(dataset)
    fpv = faces.frames_per_video(split)
    n = len(select_videos(source, split, manip)) * fpv
    params = cache_params(source, manip, comp, split, size, fpv, faces.skip_first)
    built = (cache_dir(faces.results / "cache" / "faces", params) / "manifest.json").is_file()
    return (0 if built else n * size * size * 3), n


def parameter_count(profile: dict[str, Any], detector: str) -> int:
    """Parameters of ``detector`` as the profile builds it (0 if it fails to build: it fails,
    named, where it is trained)."""
    try:
        model = build(DETECTORS, {"type": detector, **C.detector_kwargs(profile, detector)})
    except Exception:  # noqa: BLE001
        return 0
    return sum(p.numel() for p in model.parameters())


def disk_estimate(specs: Sequence[RunSpec], faces: Faces) -> dict[str, int]:
    """Bytes the runs ``specs`` need at peak, by part: ``faces`` (each face cache not built
    yet: n faces x size^2 x 3), ``checkpoints`` (each detector not trained yet: parameters x
    4 bytes x :data:`CHECKPOINT_COPIES`) and ``records`` (a record and its per-face arrays
    each); ``total`` with a 10 % margin."""
    profile = faces.profile
    caches: dict[tuple, tuple[int, int]] = {}
    detectors: dict[tuple, int] = {}
    params_of: dict[str, int] = {}
    records = 0
    for spec in specs:
        size = faces.image_size(spec.detector)
        n_test = 0
        for manip, comp, split in needed_caches(spec, faces):
            key = (spec.dataset, manip, comp, split, size)
            if key not in caches:
                caches[key] = cache_bytes(faces, *key)
            if split == "test":
                n_test = caches[key][1]
        records += RECORD_BYTES + n_test * FACE_ARRAY_BYTES
        det_manip = spec.manipulation if faces.per_manipulation else "all"
        det = (spec.dataset, det_manip, spec.detector, spec.train_compression, spec.seed)
        if det in detectors:
            continue
        epochs = int(C.train_options(profile, spec.detector).get("epochs", 1) or 0)
        if epochs and spec.detector not in params_of:
            params_of[spec.detector] = parameter_count(profile, spec.detector)
        detectors[det] = params_of[spec.detector] * 4 * CHECKPOINT_COPIES if epochs else 0
    face_bytes = sum(b for b, _ in caches.values())
    ckpt = sum(detectors.values())
    return {"faces": face_bytes, "checkpoints": ckpt, "records": records,
            "total": int((face_bytes + ckpt + records) * MARGIN)}


def check_disk(specs: Sequence[RunSpec], faces: Faces) -> int:
    """Refuse (:class:`~bench.core.files.DiskFullError`) runs that need more disk than the
    results folder has free, before any work; the estimate in bytes."""
    est = disk_estimate(specs, faces)
    check_free_space(faces.results, est["total"],
                     f"face caches {human(est['faces'])}, checkpoints "
                     f"{human(est['checkpoints'])}, records {human(est['records'])}")
    return est["total"]
