"""The four forgeries of the ``synthetic`` dataset, stand-ins for FaceForensics++'s.

Each turns a real target clip (identity *a*) into a fake, optionally using a
source identity or clip (*b*), as FF++'s ``a_b`` videos. They act on the raw
scene before compression, as FF++'s manipulations act on the raw video; each
leaves artifacts in a different frequency band so that compression hurts
detection differently:

- ``FaceSwap`` (graphics swap): *b*'s inner face re-projected onto *a*'s face
  geometry, resampled (texture re-projection blur), colour-matched almost
  fully, blended with a thin feather (a visible boundary): its traces are
  mostly fine detail, which C40 wipes out.
- ``Deepfakes`` (autoencoder swap): *b*'s inner face rendered at low resolution
  and upsampled (smooth), tinted and hardly colour-matched, blended softly: the
  trace that survives C40 best.
- ``Face2Face`` (expression reenactment): *a* keeps their identity; the mouth and
  eye regions are re-synthesised with *b*'s expression through a low-resolution
  resample (interpolation artifacts).
- ``NeuralTextures`` (neural-texture edit): a low-amplitude band-pass texture
  (difference of Gaussians) attached to the face, on the mouth region only.
  The subtlest of the four.

The three face replacements put part of the video's sensor grain back on the
new face (``noise_match``), so that "no grain" is not the cue. Strengths and
frequencies are the :class:`ArtifactParams` (keyword arguments of the
dataset); a ``(lo, hi)`` pair is drawn uniformly per video.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from bleachbench.datasets.synthetic_render import (
    FaceLayer,
    Identity,
    Motion,
    camera,
    canonical_coords,
    composite,
    render_face,
    sensor_grain,
)

Range = tuple[float, float]


@dataclass(frozen=True)
class ArtifactParams:
    """Strength and frequency of each manipulation's artifacts (ranges drawn per video).

    Calibrated (issue 10) so that one C23-trained detector behaves on C40 as on
    FaceForensics++: accuracy well above chance but far below C23, AUC lower
    by more than 5 points, errors mostly false positives, and little left for a
    better threshold (the oracle threshold's accuracy near the raw one).
    Settings, measured with Xception on the quick profile's schedule:

    - every video has its own camera (``camera_blur``, ``camera_noise``), and the
      swapped or re-synthesised face gets grain back (``noise_match``): with no
      grain on fakes (the first version) the detector learnt "no sensor noise =
      fake", and C40, which removes sensor noise, turned 94 % of real faces fake
      (C40 accuracy ~50 %, AUC 78-83, oracle threshold +20-25 points);
    - low and mid-frequency cues that C40 only weakens: colour mismatch
      (``faceswap_color_match``, ``deepfakes_color_match``, ``deepfakes_tint``),
      the blur of a low-resolution decoder (``deepfakes_scale``), as well as
      high-frequency ones that it wipes out (a thin blend seam, texture
      resampling, NeuralTextures' band-pass texture);
    - with the training blur augmentation (``train.blur_p`` in the quick profile)
      the C40 errors become a loss of ranking, not a shifted score;
    - Table III's order (Deepfakes the least hurt by C40, Face2Face or
      NeuralTextures the most) needs Deepfakes' trace to survive C40 best. So
      (the third defaults, 2026-11-30) Deepfakes carries the strongest low-frequency cue
      (tint up to 0.2, almost no colour matching, a coarser decoder) and
      FaceSwap's is mostly high-frequency (colour matched 70-100 %, a thinner
      seam, a coarser texture resample). ``calibrate --cues 20``: Deepfakes'
      trace survives C23 -> C40 at 0.80 [0.73, 0.83], FaceSwap's at 0.57
      [0.50, 0.62] (second defaults: 0.65 and 0.77). Measured with the quick
      profile, seed 0, Xception: C23 accuracy 94.9-97.6 % on all four
      manipulations, C40 71.2-73.2 % on the three swaps (Deepfakes the highest,
      +1.9 [+0.8, +3.0] over FaceSwap) and 62.4 % on NeuralTextures.

    Earlier defaults are kept in the git history: SYNTHETIC_VERSION 1, and the
    second defaults (FaceSwap colour match 0.1-0.4, feather 0.5-1.0, resample
    0.7-0.85; Deepfakes scale 2-3, tint 0.08, colour match 0.4-0.7). Parameters
    enter the data fingerprint, so caches and checkpoints of other defaults are
    never reused, and records made on them are set aside (bench/run/engine.py).
    """

    faceswap_color_match: Range = (0.7, 1.0)  # fraction of the mean colour gap corrected
    faceswap_feather: Range = (0.3, 0.6)  # blend-mask blur sigma, px
    faceswap_resample: Range = (0.55, 0.7)  # texture re-projection scale (down, then up)
    deepfakes_scale: Range = (2.5, 3.5)  # decoder resolution = scene / scale
    deepfakes_tint: float = 0.2  # max per-channel gain error
    deepfakes_color_match: Range = (0.0, 0.2)
    deepfakes_feather: Range = (1.5, 3.0)
    face2face_scale: Range = (1.4, 2.2)  # re-synthesis resolution = scene / scale
    face2face_feather: Range = (1.0, 2.0)
    nt_amplitude: Range = (0.07, 0.10)  # band-pass texture std, in [0, 1] intensity
    nt_sigmas: Range = (0.8, 2.5)  # difference-of-Gaussians band, px
    nt_temporal: float = 0.5  # share of the texture's variance that changes every frame
    camera_blur: Range = (0.5, 0.7)  # the video's optics blur sigma, px (real clip and its fakes)
    camera_noise: Range = (0.010, 0.014)  # the video's sensor noise level (std in [0, 1] units)
    noise_match: Range = (0.5, 0.9)  # share of the video's sensor noise re-added over a swapped
    # or re-synthesised face (FaceSwap, Deepfakes, Face2Face), as a forger's grain matching

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (tuple, list)):
                if len(v) != 2 or v[0] > v[1] or v[0] < 0:
                    raise ValueError(
                        f"artifact parameter {f.name} must be a (lo, hi) pair with 0 <= lo <= hi, got {v!r}"
                    )
                object.__setattr__(self, f.name, (float(v[0]), float(v[1])))
            elif not isinstance(v, (int, float)) or v < 0 or (f.name == "nt_temporal" and v > 1):
                raise ValueError(
                    f"artifact parameter {f.name} must be a non-negative number"
                    f"{' <= 1' if f.name == 'nt_temporal' else ''}, got {v!r}"
                )

    @classmethod
    def from_kwargs(cls, **kwargs: object) -> ArtifactParams:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(
                f"unknown synthetic artifact parameter(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Pair:
    """What a manipulation gets: target *a* (its real raw frames) and source *b*.

    ``layers`` caches the face renders that several manipulations share (pass
    the same dict to the four ``Pair``s of one ``a_b`` to render them once).
    """

    target: Identity
    target_motion: Motion
    target_frames: np.ndarray  # uint8 [T,H,W,3], the real clip
    source: Identity
    source_motion: Motion
    rng: np.random.Generator
    params: ArtifactParams
    blur: float = 0.6  # the target video's camera (see SyntheticFaces.camera_settings)
    noise: float = 0.012
    layers: dict[str, FaceLayer] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def draw(self, name: str) -> float:
        lo, hi = getattr(self.params, name)
        return float(self.rng.uniform(lo, hi))

    @property
    def real(self) -> np.ndarray:
        return self.target_frames.astype(np.float32) / 255.0

    def _layer(self, key: str, identity: Identity, motion: Motion) -> FaceLayer:
        if key not in self.layers:
            self.layers[key] = render_face(identity, motion)
        return self.layers[key]

    def target_face(self) -> FaceLayer:
        """*a* as in the real clip."""
        return self._layer("target", self.target, self.target_motion)

    def swapped_face(self) -> FaceLayer:
        """*b*'s appearance on *a*'s geometry and motion."""
        return self._layer("swapped", _swap_identity(self), self.target_motion)

    def driven_face(self) -> FaceLayer:
        """*a* with *b*'s expression (blinks, mouth)."""
        m = self.target_motion
        driven = dataclasses.replace(
            m, blink=self.source_motion.blink, mouth=self.source_motion.mouth
        )
        return self._layer("driven", self.target, driven)


def _blur_masks(mask: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(m, (0, 0), sigma) for m in mask]) if sigma > 0 else mask


def _resample(frames: np.ndarray, scale: float) -> np.ndarray:
    """Down by ``scale`` (area), back up (bilinear): removes detail above the new Nyquist."""
    n = frames.shape[1]
    small = max(4, int(round(n / scale)))
    return np.stack(
        [
            cv2.resize(
                cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA),
                (n, n),
                interpolation=cv2.INTER_LINEAR,
            )
            for f in frames
        ]
    )


def _colour_match(
    face: np.ndarray, target: np.ndarray, mask: np.ndarray, amount: float
) -> np.ndarray:
    """Shift ``face``'s mean colour under ``mask`` towards ``target``'s by ``amount`` (per frame)."""
    w = mask[..., None]
    total = w.sum(axis=(1, 2)) + 1e-6
    gap = (target * w).sum(axis=(1, 2)) / total - (face * w).sum(axis=(1, 2)) / total
    return face + amount * gap[:, None, None, :]


def _swap_identity(pair: Pair) -> Identity:
    """*b*'s appearance on *a*'s geometry: what a landmark-driven swap renders."""
    a = pair.target
    geometry = (
        "rx",
        "ry",
        "jaw",
        "eye_dx",
        "eye_y",
        "eye_w",
        "eye_h",
        "mouth_y",
        "mouth_w",
        "hairline",
        "hair_wave",
    )
    return dataclasses.replace(pair.source, **{k: getattr(a, k) for k in geometry}, hair=a.hair)


def _blend(real: np.ndarray, fake: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = np.clip(mask, 0, 1)[..., None]
    return np.clip(real * (1.0 - m) + fake * m, 0, 1)


def _regrain(frames: np.ndarray, mask: np.ndarray, pair: Pair) -> np.ndarray:
    """Sensor grain at ``noise_match`` x the video's level, added under ``mask`` (grain matching)."""
    amount = pair.draw("noise_match") * pair.noise
    if amount <= 0:
        return frames
    grain = sensor_grain(frames, pair.rng, amount)
    return np.clip(frames + grain * np.clip(mask, 0, 1)[..., None], 0, 1)


def face_swap(pair: Pair) -> np.ndarray:
    """Graphics face swap: *b*'s inner face on *a*, partly colour-matched, thin blend."""
    real = pair.real
    a_face, b_face = pair.target_face(), pair.swapped_face()
    b_img = camera(composite(real, b_face), pair.rng, pair.blur, pair.noise)  # a camera's frame
    b_img = _resample(b_img, 1.0 / pair.draw("faceswap_resample"))
    mask = np.minimum(a_face.inner, b_face.inner)
    b_img = _colour_match(b_img, real, mask, pair.draw("faceswap_color_match"))
    mask = _blur_masks(mask, pair.draw("faceswap_feather"))
    return _regrain(_blend(real, b_img, mask), mask, pair)


def deepfakes(pair: Pair) -> np.ndarray:
    """Autoencoder swap: *b*'s inner face decoded at low resolution, upsampled, tinted, soft blend."""
    real = pair.real
    a_face, b_face = pair.target_face(), pair.swapped_face()
    decoded = _resample(composite(real, b_face), pair.draw("deepfakes_scale"))
    mask = np.minimum(a_face.inner, b_face.inner)
    decoded = _colour_match(decoded, real, mask, pair.draw("deepfakes_color_match"))
    tint = 1.0 + pair.rng.uniform(-1, 1, 3).astype(np.float32) * pair.params.deepfakes_tint
    mask = _blur_masks(mask, pair.draw("deepfakes_feather"))
    return _regrain(_blend(real, decoded * tint, mask), mask, pair)


def face2face(pair: Pair) -> np.ndarray:
    """Reenactment: *a*'s mouth and eyes re-synthesised with *b*'s expression, via a resample."""
    real = pair.real
    a_face, d_face = pair.target_face(), pair.driven_face()
    synth = camera(composite(real, d_face), pair.rng, pair.blur, pair.noise)
    synth = _resample(synth, pair.draw("face2face_scale"))
    region = np.maximum(
        np.maximum(a_face.mouth, d_face.mouth), np.maximum(a_face.eyes, d_face.eyes)
    )
    region = _blur_masks(region, pair.draw("face2face_feather"))
    return _regrain(_blend(real, synth, region), region, pair)


def neural_textures(pair: Pair) -> np.ndarray:
    """Neural-texture edit: a band-pass (DoG) texture fixed to the face, mouth region only."""
    real = pair.real
    n = real.shape[1]
    s1, s2 = sorted((pair.draw("nt_sigmas"), pair.draw("nt_sigmas")))
    s2 = max(s2, s1 + 0.5)

    def band(noise: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(noise, (0, 0), s1) - cv2.GaussianBlur(noise, (0, 0), s2)
        return out / (out.std() + 1e-8)

    static = band(pair.rng.standard_normal((n, n, 3), dtype=np.float32))
    x, y = canonical_coords(pair.target, pair.target_motion)
    half = n / 2.0
    attached = np.stack(
        [
            cv2.remap(static, xx + half, yy + half, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            for xx, yy in zip(x, y)
        ]
    )
    moving = np.stack(
        [band(pair.rng.standard_normal((n, n, 3), dtype=np.float32)) for _ in range(len(real))]
    )
    w = pair.params.nt_temporal
    texture = np.sqrt(1.0 - w) * attached + np.sqrt(w) * moving
    mouth = pair.target_face().mouth[..., None]
    return np.clip(real + pair.draw("nt_amplitude") * texture * mouth, 0, 1)


MANIPULATIONS: dict[str, Callable[[Pair], np.ndarray]] = {
    "FaceSwap": face_swap,
    "Face2Face": face2face,
    "Deepfakes": deepfakes,
    "NeuralTextures": neural_textures,
}
