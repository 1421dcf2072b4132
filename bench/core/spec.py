"""A run spec: the flat, hashable description of one evaluation, and its stable id.

A run is one cell of a paper table: a detector trained on ``train_compression``
of ``dataset``/``manipulation``, remedied by ``method`` (with its parameters),
tested on ``test_compression``, under a ``profile`` and a ``seed``. The id is a
hash of the canonical JSON of every field, so it is the same in every process,
on every machine and in every Python version.

``fit_seed`` numbers a fit of the method on the same trained detector (``--fit-seeds``):
fit seed 0 is the historical fit, seeded by the detector ``seed`` as before, and is left out
of the identity, so every spec without a fit seed keeps its id and record. Fit seed ``f > 0``
seeds the method (initialisation, data order, fit-data balancing) with :attr:`method_seed`
and is part of the identity, so the records of different fits never collide.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the bytes the id is computed from."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


FIT_SEED_STRIDE = 1000  # method seed of fit f > 0 on detector seed s: s + 1000 * f


@dataclass(frozen=True)
class RunSpec:
    dataset: str
    manipulation: str
    detector: str
    method: str
    train_compression: str = "c23"
    test_compression: str = "c40"
    fit_compression: str = ""  # what the method trains on; "" = the test compression (the paper's LQ)
    method_params: str = "{}"  # canonical JSON of the method's parameters
    profile: str = "quick"
    options: str = "{}"  # canonical JSON of profile overrides (--cfg-options) other than the method's
    seed: int = 0
    fit_seed: int = 0  # which fit of the method (0: the historical one; omitted from the id)
    # Fields that are not part of the identity (e.g. a human label) would go below.
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = int if f.name in ("seed", "fit_seed") else str
            if not isinstance(value, expected):
                raise TypeError(f"RunSpec.{f.name} must be {expected.__name__}, got {value!r}")
        for name in ("method_params", "options"):
            json.loads(getattr(self, name))  # must be valid JSON
        if self.fit_seed < 0:
            raise ValueError(f"RunSpec.fit_seed must be >= 0, got {self.fit_seed}")

    @classmethod
    def make(cls, *, method_params: dict[str, Any] | None = None,
             options: dict[str, Any] | None = None, **kw: Any) -> RunSpec:
        """Build a spec from plain dicts for the JSON fields."""
        return cls(method_params=canonical_json(method_params or {}),
                   options=canonical_json(options or {}), **kw)

    def identity(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("label")
        if not d["fit_seed"]:  # fit seed 0 hashes (and is recorded) as before fit seeds existed
            d.pop("fit_seed")
        return d

    @property
    def method_seed(self) -> int:
        """The seed the method's fit uses: the detector ``seed`` for fit seed 0 (as before fit
        seeds existed), else ``seed + FIT_SEED_STRIDE * fit_seed`` (distinct for every detector
        seed below the stride)."""
        return self.seed + FIT_SEED_STRIDE * self.fit_seed

    @property
    def run_id(self) -> str:
        digest = hashlib.sha256(canonical_json(self.identity()).encode()).hexdigest()
        return f"{self.method}-{self.detector}-{self.manipulation}-{self.test_compression}-{digest[:12]}"

    @property
    def method_fit_compression(self) -> str:
        return self.fit_compression or self.test_compression

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.method_params)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise KeyError(f"unknown run spec fields: {sorted(unknown)}")
        return cls(**d)
