"""The embedded default dataset ``synthetic``: procedurally rendered talking-face clips.

Nothing is downloaded: every clip is rendered from a seed
(``datasets/synthetic_render.py``), forged by one of four FF++-named
manipulations (``datasets/synthetic_manipulations.py``), and cached on disk.
Organised as FaceForensics++: one real clip per identity, identity-disjoint
train/val/test splits in FF++'s 720/140/140 proportions, and fakes named
``a_b`` (target *a*, source *b*) from pairs within a split, the same pairs for
every manipulation, so each split holds as many fakes per manipulation as
real videos (1:1).

Frames are whole scenes; ``Video.load(compression)`` applies
``COMPRESSIONS[compression]`` to the whole clip, ``Video.face_boxes`` gives
the renderer's face box per frame (brows to chin, square, enlarged 1.3x as
FF++). Frame sampling: under H.264 (``c23``/``c40``) frame 0 is the clip's only
I-frame (keyint 250 > ``n_frames``) and compresses differently from the rest,
which are P/B frames as nearly all of an FF++ video; :meth:`SyntheticFaces.sample_frames`
gives evenly spaced frames that skip it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from bench.core.dataset import (
    FFPP_MANIPULATIONS,
    REAL,
    SPLITS,
    ClipSource,
    Video,
    check_split,
)
from bench.core.files import atomic_path
from bench.core.registry import COMPRESSIONS, DATASETS, build
from bench.core.schema import Rule
from bleachbench.datasets.synthetic_manipulations import MANIPULATIONS, ArtifactParams, Pair
from bleachbench.datasets.synthetic_render import (
    RENDER_VERSION,
    Identity,
    Motion,
    face_boxes,
    render_scene,
    sample_identity,
    sample_motion,
)

SYNTHETIC_VERSION = 2
SPLIT_SHARES = {"train": 720, "val": 140, "test": 140}  # FF++'s videos per split, of 1000
_STREAM = {"identity": 0, "motion": 1, "camera": 2, "manipulation": 3, "splits": 4}


@DATASETS.register_module(name="synthetic")
class SyntheticFaces(ClipSource):
    """Procedural talking faces with four FF++-named forgeries, generated from a seed (no download).

    Args:
        n_identities: real videos (one identity each); at least 15, so that val
            and test hold two identities (a pair) each.
        n_frames: frames per clip.
        scene_size: side of the square scene, px (the face box is about 0.55 of it).
        seed: everything (identities, motion, noise, splits, pairs) follows from it.
        split_sizes: ``(train, val, test)`` identity counts, overriding FF++'s
            72/14/14 shares of ``n_identities`` (a large test split is cheap and
            narrows the intervals: evaluation costs little next to training).
        cache_dir: raw clips are cached under ``cache_dir/<fingerprint>/``.
        **artifact_kwargs: fields of :class:`ArtifactParams` (strength and
            frequency of each manipulation's artifacts).
    """

    name = "synthetic"
    manipulations = FFPP_MANIPULATIONS
    #: types and ranges of its keys, checked with the configuration (bench/core/schema.py)
    config_ranges = {"n_identities": Rule("int", lo=5), "n_frames": Rule("int", lo=2),
                     "scene_size": Rule("int", lo=48), "seed": Rule("int", lo=0),
                     "split_sizes": Rule("ints", lo=1, length=3, optional=True)}
    # Every keyword it takes, for bench/core/config.py's key check (``**artifact_kwargs`` are the
    # fields of ArtifactParams): a typo is an error with the nearest valid key.
    config_keys = ("n_identities", "n_frames", "scene_size", "seed", "split_sizes", "cache_dir",
                   *(f.name for f in dataclasses.fields(ArtifactParams)))

    def __init__(
        self,
        n_identities: int = 300,
        n_frames: int = 12,
        scene_size: int = 128,
        seed: int = 0,
        split_sizes: tuple[int, int, int] | list[int] | None = None,
        cache_dir: str | os.PathLike[str] = "work_dirs/cache/synthetic",
        **artifact_kwargs: object,
    ) -> None:
        if int(n_frames) < 2:
            raise ValueError(f"synthetic: n_frames must be >= 2, got {n_frames}")
        if int(scene_size) < 48:
            raise ValueError(f"synthetic: scene_size must be >= 48 px, got {scene_size}")
        if split_sizes is not None:
            sizes = [int(v) for v in split_sizes]
            if len(sizes) != 3 or min(sizes[1:]) < 2 or sizes[0] < 1:
                raise ValueError(
                    f"synthetic: split_sizes must be (train, val, test) identity counts with "
                    f"train >= 1 and val, test >= 2, got {split_sizes!r}"
                )
            self.split_sizes: tuple[int, int, int] | None = (sizes[0], sizes[1], sizes[2])
            n_identities = sum(sizes)
        else:
            self.split_sizes = None
        self.n_identities = int(n_identities)
        self.n_frames = int(n_frames)
        self.scene_size = int(scene_size)
        self.seed = int(seed)
        self.params = ArtifactParams.from_kwargs(**artifact_kwargs)
        self.splits = self._split_identities()
        self.pairs = {
            split: _pairs(ids, self._rng("splits", 1, SPLITS.index(split)))
            for split, ids in self.splits.items()
        }
        self._width = max(3, len(str(self.n_identities - 1)))
        self.cache_root = Path(cache_dir) / self.fingerprint()
        self.renders = 0  # clips rendered by this instance (not read from the cache)
        # The face layer of the last real clip rendered, (target, FaceLayer): its fakes, rendered
        # next by prepare(), start from the very same layer (render_face is deterministic).
        self._real_face: tuple[int, object] | None = None
        self._compressors: dict[str, object] = {}

    # -- identity of the content -------------------------------------------------------
    def config(self) -> dict[str, object]:
        """Every parameter that changes the content, with the version constants."""
        return {
            "version": SYNTHETIC_VERSION,
            "render_version": RENDER_VERSION,
            "n_identities": self.n_identities,
            "n_frames": self.n_frames,
            "scene_size": self.scene_size,
            "seed": self.seed,
            **({"split_sizes": list(self.split_sizes)} if self.split_sizes else {}),
            "artifacts": dataclasses.asdict(self.params),
        }

    def fingerprint(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True).encode()
        return "synthetic-" + hashlib.sha1(blob).hexdigest()[:12]

    # -- splits and pairs --------------------------------------------------------------
    def _rng(self, stream: str, *keys: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _STREAM[stream], *keys])

    def _split_identities(self) -> dict[str, list[int]]:
        n = self.n_identities
        total = sum(SPLIT_SHARES.values())
        n_val = int(round(n * SPLIT_SHARES["val"] / total))
        n_test = int(round(n * SPLIT_SHARES["test"] / total))
        if self.split_sizes is not None:
            n_val, n_test = self.split_sizes[1], self.split_sizes[2]
        if min(n_val, n_test) < 2:
            raise ValueError(
                f"synthetic: n_identities={n} gives {n_val} val / {n_test} test identities; "
                "at least 2 each are needed (use n_identities >= 15)"
            )
        perm = self._rng("splits", 0).permutation(n).tolist()
        return {
            "train": sorted(perm[: n - n_val - n_test]),
            "val": sorted(perm[n - n_val - n_test : n - n_test]),
            "test": sorted(perm[n - n_test :]),
        }

    def video_id(self, index: int) -> str:
        return f"{index:0{self._width}d}"

    def sample_frames(self, k: int) -> list[int]:
        """``k`` evenly spaced frame indices, skipping frame 0 (the I-frame) when possible."""
        first = 1 if self.n_frames > k else 0
        return sorted({int(round(v)) for v in np.linspace(first, self.n_frames - 1, k)})

    # -- the ClipSource contract ------------------------------------------------------
    def videos(self, split: str, manipulation: str) -> list[Video]:
        """Real videos of ``split`` plus the fakes ``a_b`` of ``manipulation`` in it (1:1)."""
        check_split(split)
        if manipulation not in MANIPULATIONS:
            raise ValueError(
                f"synthetic: unknown manipulation {manipulation!r}; expected one of {', '.join(MANIPULATIONS)}"
            )
        out = [self._video(REAL, a, None) for a in self.splits[split]]
        out += [self._video(manipulation, a, b) for a, b in self.pairs[split]]
        return out

    def _video(self, manipulation: str, target: int, source: int | None) -> Video:
        vid = (
            self.video_id(target)
            if source is None
            else f"{self.video_id(target)}_{self.video_id(source)}"
        )

        def load(compression: str) -> np.ndarray:
            return self.load(manipulation, target, source, compression)

        def boxes_for(frames: np.ndarray) -> list[tuple[int, int, int, int] | None]:
            if (
                frames.ndim != 4
                or frames.shape[0] != self.n_frames
                or frames.shape[1:3] != (self.scene_size,) * 2
            ):
                raise ValueError(
                    f"synthetic video {vid}: face boxes are for frames [{self.n_frames},{self.scene_size},"
                    f"{self.scene_size},3], got {list(frames.shape)}"
                )
            return list(self.boxes(target))

        return Video(vid, manipulation, int(manipulation != REAL), load, boxes_for)

    # -- rendering and cache ----------------------------------------------------------
    def prepare(self, splits: tuple[str, ...] = SPLITS, workers: int | None = None) -> int:
        """Render every missing clip of ``splits`` (reals and all four fakes) into the cache.

        Optional: ``Video.load`` renders lazily anyway; this does it up front on
        ``workers`` processes (default: all CPUs; forked, so POSIX only, else
        serial). Returns the number of clips rendered.
        """
        targets = [a for split in splits for a in self.pairs[check_split(split)]]
        workers = min(len(targets), workers or os.cpu_count() or 1)
        if workers <= 1 or "fork" not in mp.get_all_start_methods():
            return sum(self._prepare_pair(pair) for pair in targets)
        global _PREPARING
        _PREPARING = self
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                rendered = sum(pool.map(_prepare_in_worker, targets, chunksize=4))
        finally:
            _PREPARING = None
        self.renders += rendered
        return rendered

    def _prepare_pair(self, pair: tuple[int, int]) -> int:
        before = self.renders
        a, b = pair
        self.raw(REAL, a, None)
        for name in MANIPULATIONS:
            self.raw(name, a, b)
        return self.renders - before

    @lru_cache(maxsize=64)  # noqa: B019 - instances are few and long-lived; ~0.5 MB each
    def identity(self, index: int) -> Identity:
        return sample_identity(self._rng("identity", index), self.scene_size)

    @cache  # noqa: B019 - T small tuples per identity
    def boxes(self, index: int) -> tuple[tuple[int, int, int, int], ...]:
        """Identity ``index``'s per-frame face boxes, the same for its real video and every
        fake that targets it. Kept apart from :meth:`identity`, whose 64-entry cache (its
        textures are ~0.5 MB) a face cache's sweep over hundreds of targets evicts: the
        boxes of the test split's 2,000 videos drew an identity afresh every time."""
        return tuple(face_boxes(self.identity(index), self.motion(index)))

    @lru_cache(maxsize=1024)  # noqa: B019 - a few arrays of length T
    def motion(self, index: int) -> Motion:
        return sample_motion(self._rng("motion", index), self.n_frames, self.scene_size)

    def camera_settings(self, index: int) -> tuple[float, float]:
        """(optics blur, sensor noise) of identity ``index``'s video, drawn from ``camera_*``."""
        rng = self._rng("camera", index, 1)
        (b0, b1), (n0, n1) = self.params.camera_blur, self.params.camera_noise
        return float(rng.uniform(b0, b1)), float(rng.uniform(n0, n1))

    def load(
        self, manipulation: str, target: int, source: int | None, compression: str
    ) -> np.ndarray:
        """The clip at ``compression`` (``COMPRESSIONS`` entry) as uint8 [T,H,W,3]."""
        frames = self.raw(manipulation, target, source)
        if compression not in self._compressors:
            self._compressors[compression] = build(COMPRESSIONS, compression)
        out = self._compressors[compression](frames)
        if out.shape != frames.shape or out.dtype != np.uint8:
            raise ValueError(
                f"compression {compression!r} returned {out.dtype}{list(out.shape)}, expected uint8{list(frames.shape)}"
            )
        return out

    def raw(self, manipulation: str, target: int, source: int | None) -> np.ndarray:
        """Uncompressed frames, rendered once and then read from the disk cache."""
        path = self._path(manipulation, target, source)
        if path.exists():
            try:
                return np.load(path)
            except (OSError, ValueError):  # a truncated file from a killed run: render again
                pass
        frames = self._render(manipulation, target, source)
        _save(path, frames)
        return frames

    def _path(self, manipulation: str, target: int, source: int | None) -> Path:
        if manipulation == REAL:
            return self.cache_root / REAL / f"{self.video_id(target)}.npy"
        if source is None:
            raise ValueError(f"synthetic: a {manipulation} fake needs a source identity")
        return (
            self.cache_root / manipulation / f"{self.video_id(target)}_{self.video_id(source)}.npy"
        )

    def _render(self, manipulation: str, target: int, source: int | None) -> np.ndarray:
        """Render one clip; a fake renders all four manipulations of its pair (shared face layers)."""
        if manipulation == REAL:
            self.renders += 1
            frames, face = render_scene(
                self.identity(target), self.motion(target), self._rng("camera", target),
                *self.camera_settings(target),
            )
            self._real_face = (target, face)
            return frames
        assert source is not None
        base = Pair(
            target=self.identity(target),
            target_motion=self.motion(target),
            target_frames=self.raw(REAL, target, None),
            source=self.identity(source),
            source_motion=self.motion(source),
            rng=self._rng("manipulation", target),
            params=self.params,
            blur=self.camera_settings(target)[0],
            noise=self.camera_settings(target)[1],
        )
        if self._real_face is not None and self._real_face[0] == target:
            base.layers["target"] = self._real_face[1]  # render_face(target, its motion) again
        wanted = None
        for name, forge in MANIPULATIONS.items():
            path = self._path(name, target, source)
            if name != manipulation and path.exists():
                continue
            rng = self._rng("manipulation", target, FFPP_MANIPULATIONS.index(name))
            self.renders += 1
            frames = np.clip(
                np.rint(forge(dataclasses.replace(base, rng=rng)) * 255.0), 0, 255
            ).astype(np.uint8)
            if name == manipulation:
                wanted = frames
            else:
                _save(path, frames)
        assert wanted is not None
        return wanted


_PREPARING: SyntheticFaces | None = None  # the dataset a forked prepare() worker renders for


def _prepare_in_worker(pair: tuple[int, int]) -> int:
    assert _PREPARING is not None
    return _PREPARING._prepare_pair(pair)


def _pairs(ids: list[int], rng: np.random.Generator) -> list[tuple[int, int]]:
    """FF++-style (target, source) pairs: ids paired two by two, both directions (a_b and b_a).

    With an odd count the last three form a cycle, so every identity is the
    target of exactly one fake and the source of exactly one.
    """
    order = [ids[i] for i in rng.permutation(len(ids))]
    out: list[tuple[int, int]] = []
    stop = len(order) - 3 if len(order) % 2 else len(order)
    for i in range(0, stop, 2):
        a, b = order[i], order[i + 1]
        out += [(a, b), (b, a)]
    if len(order) % 2:
        x, y, z = order[-3:]
        out += [(x, y), (y, z), (z, x)]
    return sorted(out)


def _save(path: Path, frames: np.ndarray) -> None:
    """Write atomically (a killed run leaves no half-written clip under the final name)."""
    with atomic_path(path) as tmp:
        np.save(tmp, frames)
