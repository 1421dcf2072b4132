"""A run's resolved configuration: what each component was built with, defaults filled in
(stored in the record as ``config``), and the key a trained detector is cached under."""

from __future__ import annotations

from typing import Any

from bench.core.compression import compression_spec
from bench.core.config import (
    detector_kwargs,
    detector_per_manipulation,
    method_kwargs,
    method_per_manipulation,
    train_options,
    with_defaults,
)
from bench.core.detector import face_size
from bench.core.registry import DETECTORS, METHODS, resolve


def run_config(profile: dict[str, Any], spec: Any, dataset_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The complete configuration of run ``spec``: what each component was built with,
    defaults filled in (stored in the record as ``config``)."""
    from bench.run.training import build_runner  # mmengine: imported when a run starts

    train = train_options(profile, spec.detector)
    return {
        "profile": profile.get("name"),
        "dataset": dataset_kwargs,
        "faces": {**profile["faces"], "size": face_size(resolve(DETECTORS, spec.detector),
                                                        profile["faces"].get("size")),
                  "profile_size": profile["faces"].get("size")},
        "detector": {"type": spec.detector, **with_defaults(
            resolve(DETECTORS, spec.detector), detector_kwargs(profile, spec.detector))},
        "train": with_defaults(build_runner, train,
                               skip=("detector", "train", "val", "work_dir", "device", "seed",
                                     "progress", "hooks", "keep_checkpoints")),
        "method": {"type": spec.method, **with_defaults(
            resolve(METHODS, spec.method),
            method_kwargs(profile, spec.method, spec.params,
                          getattr(spec, "method_seed", spec.seed)))},
        "train_compression": spec.train_compression,
        "test_compression": spec.test_compression,
        "fit_compression": spec.method_fit_compression,
        "detector_per_manipulation": detector_per_manipulation(profile),
        "method_per_manipulation": method_per_manipulation(profile),
        "intervals": dict(profile.get("intervals") or {}),
        "seed": spec.seed,
    }


def detector_key(config: dict[str, Any], *, fingerprint: str, manipulation: str,
                 compression: str, frames: dict[str, int], size: int) -> dict[str, Any]:
    """Exactly what a trained detector depends on (hashed into its checkpoint folder)."""
    return {
        "fingerprint": fingerprint,
        "manipulation": manipulation,
        "train_compression": compression,
        "compression_spec": compression_spec(compression),
        "faces": {"size": int(size), "skip_first": bool(config["faces"].get("skip_first", False)),
                  **frames},
        "detector": config["detector"],
        "train": config["train"],
        "seed": config["seed"],
    }


__all__ = ["detector_key", "run_config"]
