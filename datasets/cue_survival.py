"""How much of each manipulation's trace survives a compression: a testbed diagnostic, no detector.

A fake clip and its real target clip differ only where the forgery acted. At a
compression ``c`` that difference is the residual ``r_c = fake_c - real_c``
(whole frames, float). The *cue* a detector trained on the HQ compression can
read is ``r_hq``; what is left of it at the LQ compression is the part of
``r_lq`` along ``r_hq``:

    survival = <r_hq, r_lq> / <r_hq, r_hq>

1 means the LQ clip keeps the HQ cue as it is, 0 that none of it is left (what
the LQ codec adds to each clip on its own is uncorrelated with ``r_hq`` and
averages out). Pooled over pairs (sums of the dot products and energies), with
a 95 % bootstrap interval over pairs. Also reported: the cue's RMS at HQ, in
8-bit levels (how strong it is before the loss).

It is a linear, detector-free proxy: a cue can survive in this sense and still
be unreadable to a given network, and a network can read non-linear traces this
misses. It is meant for tuning a renderer (``ArtifactParams``) before paying
for trainings: FaceForensics++'s Table III has Deepfakes the least hurt by C40
and Face2Face or NeuralTextures the most, and a testbed whose Face2Face cue
survives better than its Deepfakes cue cannot show that.

Pairs: a fake ``a_b`` is paired with the real video ``a`` (FF++'s naming, which
``synthetic`` and ``ffpp`` follow); fakes without a real target are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.core.dataset import ClipSource, Video


@dataclass(frozen=True)
class CueSurvival:
    """One manipulation's cue survival from ``hq`` to ``lq`` over ``n_pairs`` fake/real pairs."""

    manipulation: str
    n_pairs: int
    survival: float
    survival_ci: tuple[float, float]
    rms_hq: float  # RMS of fake - real at hq, in 8-bit levels


def _ratio_ci(dot: np.ndarray, energy: np.ndarray, n_boot: int, level: float,
              seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(dot), size=(n_boot, len(dot)))
    ratios = dot[idx].sum(axis=1) / np.maximum(energy[idx].sum(axis=1), 1e-12)
    lo, hi = np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def cue_survival(source: ClipSource, manipulations: Sequence[str], hq: str = "c23",
                 lq: str = "c40", split: str = "test", n_pairs: int = 20,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> list[CueSurvival]:
    """The cue survival of each manipulation, from its first ``n_pairs`` fakes of ``split``."""
    if n_pairs < 2:
        raise ValueError(f"cue_survival: n_pairs must be >= 2, got {n_pairs}")
    out = []
    real_clips: dict[tuple[str, str], np.ndarray] = {}  # one load of each real clip for every manipulation

    def real_clip(video: Video, compression: str) -> np.ndarray:
        key = (video.video_id, compression)
        if key not in real_clips:
            real_clips[key] = video.load(compression)
        return real_clips[key]

    for m in manipulations:
        videos = source.videos(split, m)
        reals = {v.video_id: v for v in videos if v.label == 0}
        fakes = [v for v in videos if v.label == 1 and v.video_id.split("_")[0] in reals][:n_pairs]
        if len(fakes) < 2:
            raise ValueError(f"cue_survival: {m} has {len(fakes)} fake(s) of split {split!r} "
                             "with a real target video; need at least 2")
        dot, energy, pixels = np.zeros(len(fakes)), np.zeros(len(fakes)), 0
        for i, fake in enumerate(fakes):
            real = reals[fake.video_id.split("_")[0]]
            r_hq = fake.load(hq).astype(np.float64) - real_clip(real, hq).astype(np.float64)
            r_lq = fake.load(lq).astype(np.float64) - real_clip(real, lq).astype(np.float64)
            dot[i], energy[i] = float((r_hq * r_lq).sum()), float((r_hq * r_hq).sum())
            pixels += r_hq.size
        if energy.sum() <= 0:
            raise ValueError(f"cue_survival: {m}'s fakes equal their real targets at {hq!r}")
        out.append(CueSurvival(m, len(fakes), float(dot.sum() / energy.sum()),
                               _ratio_ci(dot, energy, n_boot, level, seed),
                               float(np.sqrt(energy.sum() / pixels))))
    return out


def markdown(rows: Sequence[CueSurvival], hq: str, lq: str) -> str:
    """The rows as a markdown table (survival with its interval, strongest survival first)."""
    lines = [f"| Manipulation | Pairs | Cue survival {hq} -> {lq} | 95 % interval | Cue RMS at {hq} (8-bit) |",
             "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r.survival):
        lines.append(f"| {r.manipulation} | {r.n_pairs} | {r.survival:.2f} | "
                     f"[{r.survival_ci[0]:.2f}, {r.survival_ci[1]:.2f}] | {r.rms_hq:.2f} |")
    return "\n".join(lines) + "\n"


__all__ = ["CueSurvival", "cue_survival", "markdown"]
