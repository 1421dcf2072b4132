"""The face cache: sample frames, crop faces and store them once as memory-mapped uint8 arrays.

:func:`load_faces` turns the videos of one (source, manipulation, compression,
split) into a :class:`CachedFaceSet` of ``size x size`` RGB crops. The first call
decodes, compresses, detects and crops every video (one worker process per
core, videos independent, results in a fixed order) and writes::

    <cache_root>/<source>/<manipulation>_<compression>_<split>_<size>px_<F>f_<hash>/
        images.npy  labels.npy  manipulations.npy  video_ids.npy  frame_index.npy  manifest.json

into a temporary folder renamed into place at the end, so an interrupted build
never leaves a half cache; a file lock beside it makes a second process that
needs the same cache wait for the first's build instead of repeating it. Later
calls open the arrays with ``np.load(mmap_mode="r")``: no video is decoded.
The hash covers the source's ``fingerprint()`` and every parameter;
``manifest.json`` records the parameters, counts, skipped videos and the
creation time.

Frames: ``frames_per_video`` evenly spaced indices (``np.linspace``, see
:func:`datasets.video_io.sample_indices` for the I-frame note; ``skip_first``).
A source's ``Video.load`` may offer ``load_frames(compression, n, skip_first)
-> (frames, indices)`` to decode only the sampled frames, and faces are then
found on those; otherwise the whole clip is loaded, ``Video.face_boxes`` runs
on the whole clip, and both are sampled. Crops are resized with
``cv2.INTER_AREA``.

Faces of a source whose loaders offer ``base_frames`` (FF++, folder, DeepfakeBench) are
found once per video on its best stored quality and the same boxes crop every
compression (:func:`base_boxes`, memoised under ``<cache_root>/<source>/boxes/``), so
every compression holds the same videos and frames; the manifest's ``faces_found_at``
counts the videos per quality the faces were found at, ``dataset`` is the source's full
configuration and ``compression_provenance`` says, per category, whether the compression
was stored or simulated and from which base.

A video that is missing, truncated or corrupt, or where no face is found, is
skipped with a :class:`SkippedVideoWarning` and counted by reason in
``manifest["skipped"]`` (also ``CachedFaceSet.skipped``); no other sample
takes its place.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from bench.core.compression import compression_spec
from bench.core.dataset import REAL, SPLITS, ClipSource, Video, check_split
from bench.core.faceset import FaceSet
from bleachbench.datasets.face_detect import crop_face
from bleachbench.datasets.video_io import VideoReadError, sample_indices

CACHE_FORMAT = 1
ARRAYS = ("images", "labels", "manipulations", "video_ids", "frame_index")
_HOST = "h" + re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())  # in temp folder names (never all digits)
FOREIGN_TEMP_MAX_AGE_S = 24 * 3600  # another host's unfinished build counts as dead after a day


class SkippedVideoWarning(UserWarning):
    """A video left out of a face cache (missing, corrupt or truncated file, or no face)."""


@dataclass
class CachedFaceSet(FaceSet):
    """A :class:`FaceSet` read from the cache, with its ``manifest`` and folder."""

    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def skipped(self) -> dict[str, int]:
        """``{reason: number of videos}`` left out of this cache."""
        return dict(self.manifest.get("skipped", {}))


def select_videos(source: ClipSource, split: str, manipulation: str) -> list[Video]:
    """The videos of one manipulation, or of ``"all"`` (each real video once, then every fake)."""
    check_split(split)
    if manipulation != "all" and manipulation not in source.manipulations:
        raise KeyError(
            f"unknown manipulation {manipulation!r} for {source.name}; "
            f"expected 'all' or one of {', '.join(source.manipulations)}"
        )
    names = list(source.manipulations) if manipulation == "all" else [manipulation]
    chosen: dict[tuple[str, str], Video] = {}
    for name in names:
        for video in source.videos(split, name):
            chosen.setdefault(video.key, video)
    return list(chosen.values())


def cache_params(
    source: ClipSource,
    manipulation: str,
    compression: str,
    split: str,
    size: int,
    frames_per_video: int,
    skip_first: bool = False,
) -> dict[str, Any]:
    """Everything a cache depends on (its identity)."""
    return {
        "format": CACHE_FORMAT,
        "source": source.name,
        "fingerprint": source.fingerprint(),
        "manipulation": manipulation,
        "compression": compression,
        "compression_spec": compression_spec(compression),
        "split": split,
        "size": int(size),
        "frames_per_video": int(frames_per_video),
        "skip_first": bool(skip_first),
    }


def cache_dir(cache_root: Path | str, params: dict[str, Any]) -> Path:
    """The folder of the cache for ``params`` (see :func:`cache_params`)."""
    import hashlib

    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    name = (
        f"{params['manipulation']}_{params['compression']}_{params['split']}_"
        f"{params['size']}px_{params['frames_per_video']}f{'_skip1' if params['skip_first'] else ''}_{digest}"
    )
    return Path(cache_root) / params["source"] / name


def load_faces(
    source: ClipSource,
    manipulation: str,
    compression: str,
    split: str,
    size: int,
    frames_per_video: int,
    cache_root: Path | str = "work_dirs/cache/faces",
    workers: int | None = None,
    progress: bool = True,
    skip_first: bool = False,
) -> CachedFaceSet:
    """Face crops of ``source``'s ``split`` at ``compression``: from the cache, built on first use.

    ``manipulation`` is one of ``source.manipulations`` (its fakes plus the
    real videos) or ``"all"``. ``workers`` processes decode videos in
    parallel (default ``os.cpu_count()``; 1 = in this process).
    """
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive int (pixels), got {size!r}")
    if frames_per_video < 1:
        raise ValueError(f"frames_per_video must be >= 1, got {frames_per_video}")
    videos = select_videos(source, split, manipulation)
    params = cache_params(
        source, manipulation, compression, split, size, frames_per_video, skip_first
    )
    final = cache_dir(cache_root, params)
    if not (final / "manifest.json").is_file():
        with _build_lock(final):  # a concurrent process building the same cache: wait for it
            if not (final / "manifest.json").is_file():
                _build(final, params, videos, workers, progress,
                       describe_source(source, compression))
    return open_cache(final)


@contextmanager
def _build_lock(final: Path) -> Iterator[None]:
    """Hold ``.<cache>.lock`` beside the cache while it is built, so that two processes
    needing the same cache (``run --jobs N``, several ``--executor`` jobs) build it once: the
    second waits, then opens the first's. An OS file lock: released if the holder dies."""
    from bench.core.locks import file_lock

    with file_lock(final.parent / f".{final.name}.lock",
                   f"waiting for another process that builds the face cache {final.name} ...", 0.5):
        yield


def open_cache(path: Path | str) -> CachedFaceSet:
    """Open a finished cache folder (arrays memory-mapped read-only)."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"not a finished face cache (no manifest.json): {path}")
    from bench.core.files import corrupt

    fix = f"delete the folder {path} (the next run builds it again)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise corrupt("face cache manifest", manifest_path, exc, fix) from exc
    arrays = {}
    for name in ARRAYS:
        try:
            arrays[name] = np.load(path / f"{name}.npy", mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:  # truncated: "mmap length is greater ..."
            raise corrupt("face cache", path / f"{name}.npy", exc, fix) from exc
    n = (manifest.get("counts") or {}).get("faces")
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1 or (n is not None and lengths["images"] != n):
        raise corrupt("face cache", path, f"array lengths {lengths} (manifest: {n} faces)", fix)
    return CachedFaceSet(
        arrays["images"],
        np.asarray(arrays["labels"]),
        np.asarray(arrays["manipulations"]),
        np.asarray(arrays["video_ids"]),
        np.asarray(arrays["frame_index"]),
        manifest=manifest,
        path=path,
    )


def prepare(
    source: ClipSource,
    compressions: Sequence[str],
    splits: Sequence[str] = SPLITS,
    size: int = 299,
    frames_per_video: int = 32,
    cache_root: Path | str = "work_dirs/cache/faces",
    manipulations: str | Sequence[str] = "all",
    workers: int | None = None,
    progress: bool = True,
    skip_first: bool = False,
) -> list[Path]:
    """Build every (manipulation, compression, split) cache ahead of a run; returns their folders.

    ``manipulations``: ``"all"`` (one cache holding every manipulation), one
    name, or a list of names (one cache each; ``"all"`` may be among them).
    """
    names = [manipulations] if isinstance(manipulations, str) else list(manipulations)
    grid = [(m, c, s) for m in names for c in compressions for s in splits]
    paths = []
    for m, c, s in tqdm(grid, desc="face caches", disable=not progress):
        faces = load_faces(
            source, m, c, s, size, frames_per_video, cache_root, workers, progress, skip_first
        )
        assert faces.path is not None
        paths.append(faces.path)
    return paths


# ---------------------------------------------------------------- building


@dataclass
class _Result:
    crops: np.ndarray | None  # uint8[k,S,S,3]
    frame_index: np.ndarray | None
    reason: str | None = None  # why the video was skipped
    message: str = ""
    base: str | None = None  # the stored quality its faces were found at (None: at this one)


def base_boxes(
    video: Video, indices: np.ndarray, boxes_dir: Path | None = None
) -> tuple[list[Any], str]:
    """The face boxes of frames ``indices`` found on the video's best stored quality
    (``video.load.base_frames``), and that quality's name: the same boxes for every
    compression. Memoised on disk under ``boxes_dir`` (one small JSON per video and frame
    set) when the loader has a ``base_key()`` and the face finder a ``describe()``, so that
    the face detector runs once per video, whatever the number of compressions."""
    loader = video.load
    memo = None
    describe = getattr(video.face_boxes, "describe", None)
    if boxes_dir is not None and hasattr(loader, "base_key") and callable(describe):
        import hashlib

        key = json.dumps([loader.base_key(), describe(), np.asarray(indices).tolist()])
        memo = Path(boxes_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"
        if memo.is_file():
            try:
                saved = json.loads(memo.read_text(encoding="utf-8"))
                return [None if b is None else tuple(b) for b in saved["boxes"]], saved["base"]
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged memo: find the faces again
    frames, base = loader.base_frames(indices)
    boxes = list(video.face_boxes(frames))
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
        tmp.write_text(json.dumps({"base": base, "video": f"{video.manipulation}/{video.video_id}",
                                   "boxes": [None if b is None else [int(v) for v in b]
                                             for b in boxes]}))
        os.replace(tmp, memo)
    return boxes, base


def process_video(
    video: Video, compression: str, size: int, frames_per_video: int, skip_first: bool,
    boxes_dir: Path | None = None,
) -> _Result:
    """Sample, compress, detect and crop one video (runs in a worker).

    A loader with ``base_frames(indices)`` (FF++, folder, DeepfakeBench sources) has its
    faces found once, on its best stored quality, and the same boxes crop every
    compression (:func:`base_boxes`). Otherwise, with a ``load_frames`` fast path, faces
    are found on the sampled frames only; else ``face_boxes`` sees the whole clip (a source
    may know its boxes per clip position, and tracking then spans every frame).
    """
    base = None
    try:
        loader = video.load
        if hasattr(loader, "load_frames"):
            frames, idx = loader.load_frames(compression, frames_per_video, skip_first)
            if hasattr(loader, "base_frames"):
                boxes, base = base_boxes(video, np.asarray(idx), boxes_dir)
            else:
                boxes = video.face_boxes(frames)
        else:
            clip = loader(compression)
            idx = sample_indices(len(clip), frames_per_video, skip_first)
            frames = clip[idx]
            if hasattr(loader, "base_frames"):
                boxes, base = base_boxes(video, np.asarray(idx), boxes_dir)
            else:
                all_boxes = video.face_boxes(clip)
                boxes = [all_boxes[i] for i in idx]
    except FileNotFoundError as exc:
        return _Result(None, None, "missing_file", str(exc))
    except VideoReadError as exc:
        return _Result(None, None, "truncated" if "truncated" in str(exc) else "corrupt", str(exc))
    keep = [i for i, b in enumerate(boxes) if b is not None]
    if not keep:
        where = "" if base is None else (
            f" at {base} (faces are found once per video, at its best stored quality: "
            "it is left out of every compression)")
        return _Result(None, None, "no_face", f"no face in {len(frames)} sampled frames{where}",
                       base=base)
    crops = np.stack([crop_face(frames[i], boxes[i], size) for i in keep])  # type: ignore[arg-type]
    return _Result(crops, np.asarray(idx)[keep].astype(np.int64), base=base)


_JOBS: tuple[list[Video], tuple[Any, ...]] | None = None  # inherited by forked workers


def _work_index(i: int) -> _Result:
    assert _JOBS is not None
    videos, args = _JOBS
    return process_video(videos[i], *args)


def _work_video(job: tuple[Video, tuple[Any, ...]]) -> _Result:
    return process_video(job[0], *job[1])


def _init_worker() -> None:
    # Spawned workers only: in a forked child, cv2.setNumThreads deadlocks when the parent
    # had already used OpenCV's thread pool (measured here: the call never returns).
    cv2.setNumThreads(1)


def _results(videos: list[Video], args: tuple[Any, ...], workers: int) -> Iterator[_Result]:
    """Per-video results in the order of ``videos`` (fork where the platform has it, else spawn)."""
    global _JOBS
    if workers <= 1 or len(videos) <= 1:
        for v in videos:
            yield process_video(v, *args)
        return
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    if ctx.get_start_method() == "fork":
        _JOBS = (videos, args)
        jobs: Iterable[Any] = range(len(videos))
        fn: Any = _work_index
    else:  # spawn: videos travel by pickle (a source's loaders must be picklable)
        jobs, fn = [(v, args) for v in videos], _work_video
    try:
        init = None if ctx.get_start_method() == "fork" else _init_worker
        with ctx.Pool(min(workers, len(videos)), initializer=init) as pool:
            yield from pool.imap(fn, jobs, chunksize=1)
    finally:
        _JOBS = None


def describe_source(source: ClipSource, compression: str) -> dict[str, Any]:
    """What a manifest says of the source: its full configuration with defaults
    (``resolved_config()``, else ``config()``) and, per category, whether ``compression`` was
    stored or simulated and from which base (``provenance(compression)``)."""
    out: dict[str, Any] = {}
    for attr in ("resolved_config", "config"):
        if callable(getattr(source, attr, None)):
            out["dataset"] = json.loads(json.dumps(getattr(source, attr)(), default=str))
            break
    if callable(getattr(source, "provenance", None)):
        out["compression_provenance"] = source.provenance(compression)
    return out


def _build(
    final: Path, params: dict[str, Any], videos: list[Video], workers: int | None, progress: bool,
    source_description: dict[str, Any] | None = None,
) -> None:
    source_description = source_description or {}
    start = time.time()
    size, fpv = params["size"], params["frames_per_video"]
    _remove_stale_temps(final)
    tmp = final.parent / f".tmp-{final.name}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    try:
        images = np.lib.format.open_memmap(
            tmp / "images.npy",
            mode="w+",
            dtype=np.uint8,
            shape=(max(len(videos) * fpv, 1), size, size, 3),
        )
        header = images.offset
        n = 0
        labels: list[int] = []
        manips: list[str] = []
        ids: list[str] = []
        frame_index: list[np.ndarray] = []
        skipped: Counter[str] = Counter()
        skipped_videos: list[dict[str, str]] = []
        args = (params["compression"], size, fpv, params["skip_first"], final.parent / "boxes")
        found_at: Counter[str] = Counter()
        bar = tqdm(
            total=len(videos),
            desc=f"faces {params['manipulation']}/{params['compression']}/{params['split']}",
            disable=not progress,
        )
        for video, res in zip(videos, _results(videos, args, workers or os.cpu_count() or 1)):
            bar.update(1)
            if res.base is not None:
                found_at[res.base] += 1
            if res.reason is not None or res.crops is None:
                skipped[res.reason or "unknown"] += 1
                skipped_videos.append(
                    {
                        "manipulation": video.manipulation,
                        "video_id": video.video_id,
                        "reason": str(res.reason),
                        "message": res.message,
                    }
                )
                warnings.warn(
                    f"skipping {video.manipulation}/{video.video_id}: {res.reason}: {res.message}",
                    SkippedVideoWarning,
                    stacklevel=2,
                )
                continue
            k = len(res.crops)
            images[n : n + k] = res.crops
            n += k
            labels += [video.label] * k
            manips += [video.manipulation] * k
            ids += [video.video_id] * k
            frame_index.append(res.frame_index)
        bar.close()
        images.flush()
        del images
        if n == 0:
            raise RuntimeError(
                f"no face could be extracted from any of the {len(videos)} videos "
                f"({dict(skipped)}); first problem: {skipped_videos[0]['message'] if skipped_videos else 'no videos'}"
            )
        _shrink_npy(tmp / "images.npy", header, n, (size, size, 3))
        np.save(tmp / "labels.npy", np.asarray(labels, dtype=np.int64))
        np.save(tmp / "manipulations.npy", np.asarray(manips, dtype=str))
        np.save(tmp / "video_ids.npy", np.asarray(ids, dtype=str))
        np.save(tmp / "frame_index.npy", np.concatenate(frame_index).astype(np.int64))
        faces_per = Counter(manips)
        manifest = {
            "params": params,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.time() - start, 3),
            "counts": {
                "videos": len(videos),
                "videos_used": len(videos) - sum(skipped.values()),
                "faces": n,
                "real_faces": int(faces_per.get(REAL, 0)),
                "fake_faces": int(n - faces_per.get(REAL, 0)),
                "faces_per_manipulation": dict(sorted(faces_per.items())),
            },
            "skipped": dict(sorted(skipped.items())),
            "skipped_videos": skipped_videos,
            # where the faces were found ({quality: videos}); {} = on these frames themselves
            "faces_found_at": dict(sorted(found_at.items())),
            **source_description,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (
                final / "manifest.json"
            ).is_file():  # not a concurrent finished build: a real error
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _shrink_npy(path: Path, header_len: int, rows: int, row_shape: tuple[int, ...]) -> None:
    """Rewrite a v1.0 ``.npy`` header in place for ``rows`` rows (same length), then truncate the data."""
    shape = (rows, *row_shape)
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': " + repr(shape) + ", }"
    pad = header_len - 10 - len(text) - 1
    if pad < 0:
        raise RuntimeError(f"cannot rewrite the header of {path}")
    blob = (
        np.lib.format.magic(1, 0)
        + (header_len - 10).to_bytes(2, "little")
        + (text + " " * pad + "\n").encode("latin1")
    )
    with open(path, "r+b") as f:
        f.write(blob)
        f.truncate(header_len + rows * int(np.prod(row_shape)))


def _remove_stale_temps(final: Path, now: float | None = None) -> None:
    """Remove temp folders of this cache left by builds that are gone.

    A temp folder is named ``.tmp-<cache>-<host>-<pid>-<random>``. One of this host
    whose process is gone is removed. On a results folder shared between hosts the pid
    of another host's build cannot be checked: its folder is removed only once it has
    not changed for :data:`FOREIGN_TEMP_MAX_AGE_S`. (Folders from before the host was
    in the name, ``.tmp-<cache>-<pid>-<random>``, are treated as this host's.)
    """
    if not final.parent.is_dir():
        return
    now = time.time() if now is None else now
    prefix = f".tmp-{final.name}-"
    for tmp in final.parent.glob(prefix + "*"):
        rest = tmp.name[len(prefix):].split("-")
        host, pid_text = ((_HOST, rest[0]) if rest[0].isdigit()
                          else (rest[0], rest[1] if len(rest) > 1 else ""))
        try:
            if host != _HOST:
                if now - tmp.stat().st_mtime > FOREIGN_TEMP_MAX_AGE_S:
                    shutil.rmtree(tmp, ignore_errors=True)
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, PermissionError, FileNotFoundError):
            continue
