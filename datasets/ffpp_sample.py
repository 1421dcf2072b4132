"""A small FaceForensics++-shaped tree from the synthetic renderer: try the ``ffpp`` path
without the real data (``python -m bench make-ffpp-sample DIR``).

It writes the renderer's clips in FaceForensics++'s download layout and official split
format (see :mod:`datasets.ffpp`)::

    DIR/original_sequences/youtube/c23/videos/000.mp4
    DIR/manipulated_sequences/<Manipulation>/c23/videos/000_003.mp4   # 000's scene, 003's face
    DIR/splits/{train,val,test}.json                                  # [["000", "003"], ...]

Every pair ``(a, b)`` of a split has the real videos ``a`` and ``b`` and, per manipulation,
the fakes ``a_b`` and ``b_a``, as in FF++. ``c23`` is H.264 at CRF 23 (FF++'s HQ); ``c40``
(CRF 40, FF++'s LQ) is written only with ``c40=True``: without it, a run simulates c40 from
the c23 copies (compressed twice, said in the face cache manifest). The faces are procedural,
so OpenCV's Haar cascade (the default face detector) misses some of them: those videos are
left out of every compression alike and counted in the manifest's ``skipped``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench.core.dataset import FFPP_MANIPULATIONS, SPLITS
from bleachbench.datasets.synthetic import SyntheticFaces
from bleachbench.datasets.video_io import write_video

CRF = {"c23": 23, "c40": 40}


def make_ffpp_sample(
    root: str | Path,
    split_sizes: tuple[int, int, int] = (6, 4, 4),
    manipulations: Sequence[str] = FFPP_MANIPULATIONS,
    c40: bool = False,
    seed: int = 0,
    scene_size: int = 128,
    n_frames: int = 12,
) -> dict[str, int]:
    """Write the sample tree under ``root``; returns ``{"real": n, <manipulation>: n, ...}``.

    ``split_sizes``: real videos (identities) per split, even numbers (they are paired)."""
    root = Path(root)
    if any(n < 2 or n % 2 for n in split_sizes):
        raise ValueError(f"split_sizes must be even numbers >= 2 (ids are paired), got {split_sizes}")
    unknown = [m for m in manipulations if m not in FFPP_MANIPULATIONS]
    if unknown:
        raise ValueError(f"unknown manipulations {unknown}; FF++ has {', '.join(FFPP_MANIPULATIONS)}")
    src = SyntheticFaces(split_sizes=split_sizes, seed=seed, scene_size=scene_size,
                         n_frames=n_frames, cache_dir=root / ".render_cache")
    qualities = ("c23", "c40") if c40 else ("c23",)
    counts = {"real": 0, **{m: 0 for m in manipulations}}
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        ids = src.splits[split]
        pairs = [(ids[i], ids[i + 1]) for i in range(0, len(ids), 2)]
        (root / "splits" / f"{split}.json").write_text(
            json.dumps([[src.video_id(a), src.video_id(b)] for a, b in pairs]))
        for a in ids:
            frames = src.raw("real", a, None)
            for q in qualities:
                write_video(root / "original_sequences/youtube" / q / "videos"
                            / f"{src.video_id(a)}.mp4", frames, crf=CRF[q])
            counts["real"] += 1
        for m in manipulations:
            for a, b in pairs:
                for t, s in ((a, b), (b, a)):
                    frames = src.raw(m, t, s)
                    for q in qualities:
                        write_video(root / "manipulated_sequences" / m / q / "videos"
                                    / f"{src.video_id(t)}_{src.video_id(s)}.mp4", frames,
                                    crf=CRF[q])
                    counts[m] += 1
    import shutil

    shutil.rmtree(root / ".render_cache", ignore_errors=True)
    return counts
