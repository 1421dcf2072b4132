"""Procedural talking-face renderer behind the embedded ``synthetic`` dataset.

Draws whole scenes (a textured background, a person with head, hair, neck and
shoulders) as float32 RGB in [0, 1]: every facial part is an analytic shape
evaluated in the head's canonical frame, so one vectorised pass renders all
frames of a clip. Natural-image statistics on purpose (compression artifacts
depend on texture): 1/f ("pink") texture on background, skin and hair, soft
Lambertian shading on an ellipsoid head, optics blur and sensor noise.

Motion: the head drifts (translation, scale, roll, a little yaw), eyes blink,
the mouth opens and closes as in speech and the camera jitters by a fraction
of a pixel, so H.264's temporal prediction works on it as on real video.

:func:`render_face` returns the face layer of one identity under a motion
(used by the swaps, which draw identity B with A's motion); :func:`render_scene`
composites it on the background and applies the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RENDER_VERSION = 2
FACE_BOX_SCALE = 1.3  # FF++ enlarges the detected face box by 1.3


def pink_noise(
    rng: np.random.Generator, size: int, beta: float = 1.0, channels: int = 1
) -> np.ndarray:
    """Zero-mean, unit-std noise with amplitude spectrum ~ 1/f**beta, float32[size,size,channels]."""
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    amp = radius**-beta
    amp[0, 0] = 0.0
    spec = rng.standard_normal((channels, size, size)) + 1j * rng.standard_normal(
        (channels, size, size)
    )
    img = np.fft.ifft2(spec * amp).real
    img /= img.std(axis=(1, 2), keepdims=True) + 1e-8
    return np.ascontiguousarray(img.transpose(1, 2, 0).astype(np.float32))


@dataclass(frozen=True)
class Identity:
    """Appearance of one person and their scene, in pixels of a ``size`` scene."""

    size: int
    rx: float  # head half-width
    ry: float  # head half-height
    jaw: float  # narrowing of the jaw
    skin: np.ndarray  # RGB
    skin_texture: float
    hair: np.ndarray
    hairline: float  # in units of ry, negative = above centre
    hair_wave: float
    cloth: np.ndarray
    eye_dx: float
    eye_y: float
    eye_w: float
    eye_h: float
    iris: np.ndarray
    brow_thick: float
    brow_tilt: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip: np.ndarray
    lip_thick: float
    light: np.ndarray  # unit direction (x, y, z), z towards the camera
    ambient: float
    textures: np.ndarray  # float32[size,size,4]: skin, hair strands, fine pores, cheek tint
    background: np.ndarray  # float32[size+pad,size+pad,3]

    @property
    def centre(self) -> tuple[float, float]:
        return self.size / 2.0, self.size * 0.47


def sample_identity(rng: np.random.Generator, size: int) -> Identity:
    """Draw one identity: face geometry, colours, textures, background and light."""
    s = float(size)
    rx = rng.uniform(0.17, 0.21) * s
    ry = rx * rng.uniform(1.18, 1.36)
    tone = rng.uniform(0.0, 1.0)  # dark to light skin
    skin = np.array([0.36 + 0.52 * tone, 0.22 + 0.47 * tone, 0.14 + 0.42 * tone])
    skin = np.clip(skin * rng.uniform(0.92, 1.08, 3), 0.05, 0.98).astype(np.float32)
    hair = np.clip(
        rng.choice([0.06, 0.18, 0.35, 0.6]) * rng.uniform(0.6, 1.4, 3) + [0.04, 0.02, 0.0], 0, 1
    ).astype(np.float32)
    pad = 8
    bg = pink_noise(rng, size + pad, beta=rng.uniform(0.9, 1.3), channels=3)
    palette = rng.uniform(0.15, 0.85, 3)
    bg_tint = rng.uniform(0.05, 0.16, 3)
    yy, xx = np.mgrid[0 : size + pad, 0 : size + pad].astype(np.float32) / (size + pad)
    grad = rng.uniform(-0.2, 0.2) * (xx - 0.5) + rng.uniform(-0.2, 0.2) * (yy - 0.5)
    background = np.clip(palette + bg * bg_tint + grad[..., None], 0.02, 0.98).astype(np.float32)
    for _ in range(rng.integers(2, 6)):  # a few soft-edged objects (structure, edges)
        x0, y0 = rng.uniform(0, size + pad, 2)
        w, h = rng.uniform(0.1, 0.4, 2) * size
        inside = (np.abs(xx * (size + pad) - x0) < w) & (np.abs(yy * (size + pad) - y0) < h)
        blob = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), rng.uniform(0.6, 2.0))
        background += blob[..., None] * (rng.uniform(0.1, 0.9, 3) - background) * 0.8
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.1), 1.0])
    textures = np.concatenate(
        [
            pink_noise(rng, size, beta=1.2),
            cv2.resize(pink_noise(rng, size, beta=0.8), (size, size * 4))[
                :size, :, None
            ],  # strands
            pink_noise(rng, size, beta=0.3),
            pink_noise(rng, size, beta=2.0),
        ],
        axis=2,
    )
    return Identity(
        size=size,
        rx=rx,
        ry=ry,
        jaw=rng.uniform(0.05, 0.3),
        skin=skin,
        skin_texture=rng.uniform(0.025, 0.05),
        hair=hair,
        hairline=rng.uniform(-0.75, -0.45),
        hair_wave=rng.uniform(0.0, 0.12),
        cloth=rng.uniform(0.05, 0.9, 3).astype(np.float32),
        eye_dx=rx * rng.uniform(0.34, 0.44),
        eye_y=-ry * rng.uniform(0.05, 0.18),
        eye_w=rx * rng.uniform(0.16, 0.22),
        eye_h=rx * rng.uniform(0.07, 0.1),
        iris=rng.uniform(0.05, 0.5, 3).astype(np.float32),
        brow_thick=rx * rng.uniform(0.04, 0.09),
        brow_tilt=rng.uniform(-0.25, 0.25),
        nose_len=ry * rng.uniform(0.28, 0.4),
        nose_w=rx * rng.uniform(0.12, 0.2),
        mouth_y=ry * rng.uniform(0.45, 0.58),
        mouth_w=rx * rng.uniform(0.3, 0.45),
        lip=np.clip(
            skin * np.float32([1.0, 0.62, 0.62]) * np.float32(rng.uniform(0.75, 0.95)), 0, 1
        ),
        lip_thick=ry * rng.uniform(0.04, 0.07),
        light=light / np.linalg.norm(light),
        ambient=rng.uniform(0.35, 0.55),
        textures=textures,
        background=background,
    )


@dataclass(frozen=True)
class Motion:
    """Per-frame pose and expression of one clip (arrays of length T)."""

    dx: np.ndarray  # head translation, px
    dy: np.ndarray
    scale: np.ndarray
    roll: np.ndarray  # radians
    yaw: np.ndarray  # -1..1, shifts the inner face sideways
    blink: np.ndarray  # 0 open .. 1 closed
    mouth: np.ndarray  # 0 closed .. 1 wide open
    cam: np.ndarray  # [T,2] camera jitter, px

    def __len__(self) -> int:
        return len(self.dx)


def _drift(rng: np.random.Generator, t: np.ndarray, amp: float) -> np.ndarray:
    """A smooth random path: two sinusoids of random period and phase."""
    out = np.zeros_like(t)
    for _ in range(2):
        period = rng.uniform(12.0, 40.0)
        out += (
            amp * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        )
    return out


def sample_motion(rng: np.random.Generator, n_frames: int, size: int) -> Motion:
    """Head drift, blinks and speech-like mouth opening over ``n_frames``."""
    t = np.arange(n_frames, dtype=np.float64)
    blink = np.zeros(n_frames)
    for start in rng.choice(n_frames, size=max(1, n_frames // 10), replace=False):
        for k, v in enumerate((0.6, 1.0, 0.5)):
            if start + k < n_frames:
                blink[start + k] = max(blink[start + k], v)
    syllable = rng.uniform(2.5, 5.0)  # frames per syllable
    mouth = np.clip(
        0.45
        + 0.5 * np.sin(2 * np.pi * t / syllable + rng.uniform(0, 6.3))
        + rng.normal(0, 0.15, n_frames),
        0,
        1,
    ) * rng.uniform(0.5, 1.0)
    return Motion(
        dx=_drift(rng, t, 0.03 * size) + rng.uniform(-0.04, 0.04) * size,
        dy=_drift(rng, t, 0.02 * size) + rng.uniform(-0.03, 0.03) * size,
        scale=1.0 + _drift(rng, t, 0.03) + rng.uniform(-0.06, 0.06),
        roll=_drift(rng, t, 0.08) + rng.uniform(-0.08, 0.08),
        yaw=np.clip(_drift(rng, t, 0.3) + rng.uniform(-0.3, 0.3), -1, 1),
        blink=blink,
        mouth=mouth,
        cam=np.cumsum(rng.normal(0, 0.25, (n_frames, 2)), axis=0),
    )


@dataclass
class FaceLayer:
    """A rendered face: colour and coverage masks, float32 [T,H,W(,3)]."""

    rgb: np.ndarray  # [T,H,W,3]
    alpha: np.ndarray  # the whole person (head, hair, neck, shoulders)
    inner: np.ndarray  # inner face (brows to chin), the region face swaps replace
    eyes: np.ndarray  # both eye regions with brows
    mouth: np.ndarray  # mouth region with lips and surroundings


def _soft(sd: np.ndarray, width: float = 1.0) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (negative inside), in pixels."""
    return np.clip(0.5 - sd / width, 0.0, 1.0)


def _ellipse_sd(
    x: np.ndarray, y: np.ndarray, a: float | np.ndarray, b: float | np.ndarray
) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (good near the boundary)."""
    r = np.sqrt((x / a) ** 2 + (y / b) ** 2)
    if np.isscalar(a) and np.isscalar(b):
        return (r - 1.0) * float(min(a, b))
    return (r - 1.0) * np.minimum(a, b).astype(np.float32)


def canonical_coords(identity: Identity, motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """Scene pixel -> head-canonical coordinates (px, y down), float32 [T,H,W] each."""
    n = identity.size
    cx, cy = identity.centre
    py, px = np.mgrid[0:n, 0:n].astype(np.float32)
    ox = (px[None] - cx - motion.dx[:, None, None]).astype(np.float32)
    oy = (py[None] - cy - motion.dy[:, None, None]).astype(np.float32)
    c = np.cos(motion.roll)[:, None, None].astype(np.float32)
    s = np.sin(motion.roll)[:, None, None].astype(np.float32)
    k = (1.0 / motion.scale)[:, None, None].astype(np.float32)
    return (c * ox + s * oy) * k, (-s * ox + c * oy) * k


def _sample(texture: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a canonical texture (centre at size/2) at [T,H,W] coordinates."""
    half = texture.shape[0] / 2.0
    out = [
        cv2.remap(texture, xx + half, yy + half, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        for xx, yy in zip(x, y)
    ]
    return np.stack(out).astype(np.float32)


def _head_window(identity: Identity, motion: Motion) -> tuple[slice, slice]:
    """Scene rows/cols covering the head and hair in every frame (features are drawn only there)."""
    n = identity.size
    cx, cy = identity.centre
    qx = np.array([-1, 1, -1, 1]) * identity.rx * 1.2
    qy = np.array([-1, -1, 1, 1]) * identity.ry * 1.15
    c, s, k = np.cos(motion.roll)[:, None], np.sin(motion.roll)[:, None], motion.scale[:, None]
    px = cx + motion.dx[:, None] + k * (c * qx - s * qy)
    py = cy + motion.dy[:, None] + k * (s * qx + c * qy)
    x0, x1 = int(max(0, np.floor(px.min()) - 2)), int(min(n, np.ceil(px.max()) + 3))
    y0, y1 = int(max(0, np.floor(py.min()) - 2)), int(min(n, np.ceil(py.max()) + 3))
    return slice(y0, y1), slice(x0, x1)


def render_face(identity: Identity, motion: Motion) -> FaceLayer:
    """Render ``identity`` with ``motion``'s pose and expression (no background, no camera)."""
    idn = identity
    n, t_len = idn.size, len(motion)
    f32 = np.float32
    x, y = canonical_coords(idn, motion)
    tex = _sample(idn.textures, x, y)  # [T,H,W,4]
    # Neck and shoulders on the whole frame (cheap); the head only inside its window.
    neck = _soft(np.maximum(np.abs(x) - idn.rx * 0.5, idn.ry * 0.5 - y))
    body = _soft(_ellipse_sd(x, y - idn.ry * 2.25, idn.rx * 2.3, idn.ry * 0.95))
    neck_rgb = idn.skin * (0.55 + 0.5 * idn.skin_texture * tex[..., 0:1])
    body_rgb = idn.cloth * (
        0.75 + 0.05 * tex[..., 2:3] + 0.15 * np.clip(-x / (idn.rx * 3), -1, 1)[..., None]
    )
    out = body_rgb * body[..., None]
    out += neck[..., None] * (neck_rgb - out)
    alpha = np.maximum(body, neck)
    inner_full = np.zeros((t_len, n, n), f32)
    eyes_full = np.zeros((t_len, n, n), f32)
    mouth_full = np.zeros((t_len, n, n), f32)
    win = (slice(None), *_head_window(idn, motion))
    x, y, tex = x[win], y[win], tex[win]
    yaw = motion.yaw[:, None, None].astype(f32)
    fx = x - yaw * f32(idn.rx * 0.22)  # inner features slide with yaw
    rx_eff = idn.rx * (1.0 - idn.jaw * np.clip(y / idn.ry, 0, 1) ** 2)
    head = _soft(_ellipse_sd(x, y, rx_eff, idn.ry))
    # Shading: Lambert on an ellipsoid; the normal follows yaw a little.
    lx, ly, lz = (float(v) for v in idn.light)
    nx = np.clip((x - yaw * f32(idn.rx * 0.3)) / idn.rx, -1, 1)
    ny = np.clip(y / idn.ry, -1, 1)
    nz = np.sqrt(np.clip(1.0 - nx**2 - ny**2, 0.0, 1.0))
    shade = (idn.ambient + (1.0 - idn.ambient) * np.clip(nx * lx + ny * ly + nz * lz, 0, 1))[
        ..., None
    ]
    skin = idn.skin * (1.0 + idn.skin_texture * tex[..., 0:1] + 0.012 * tex[..., 2:3])
    cheek = np.exp(
        -(
            ((np.abs(fx) - idn.rx * 0.45) / (idn.rx * 0.22)) ** 2
            + ((y - idn.ry * 0.2) / (idn.ry * 0.15)) ** 2
        )
    )
    skin *= 1.0 - 0.08 * cheek[..., None] * np.array([0.0, 1.0, 0.8], f32)
    rgb = skin * shade
    # Nose: a soft ridge shadow on the light's far side, and nostrils.
    ridge = np.exp(-(((fx + np.sign(lx + 1e-6) * idn.nose_w * 0.6) / (idn.nose_w * 0.35)) ** 2))
    ridge *= (y > idn.eye_y) & (y < idn.eye_y + idn.nose_len)
    nostril = sum(
        _soft(
            _ellipse_sd(
                fx - side * idn.nose_w * 0.55,
                y - idn.eye_y - idn.nose_len,
                idn.nose_w * 0.3,
                idn.nose_w * 0.18,
            )
        )
        for side in (-1, 1)
    )
    rgb *= (1.0 - 0.18 * ridge - 0.5 * nostril)[..., None]
    # Eyes: white, iris, pupil, eyelid; blink closes the lids.
    openness = np.clip(1.0 - motion.blink, 0.06, 1.0)[:, None, None].astype(f32)
    eyes_mask = np.zeros_like(x)
    white_rgb = np.array([0.88, 0.86, 0.82], f32) * shade
    for side in (-1, 1):
        ex = fx - side * idn.eye_dx
        ey = y - idn.eye_y
        eh = idn.eye_h * openness
        eye_sd = _ellipse_sd(ex, ey, idn.eye_w, eh)
        white = _soft(eye_sd)
        r_iris = np.sqrt((ex - yaw * f32(idn.eye_w * 0.3)) ** 2 + ey**2)
        iris = _soft(r_iris - idn.eye_h * 0.85) * white
        pupil = _soft(r_iris - idn.eye_h * 0.35) * white
        lid = _soft(np.abs(eye_sd) - 0.6) * (ey < 0.3 * idn.eye_h)
        rgb += white[..., None] * (white_rgb - rgb)
        rgb += iris[..., None] * (idn.iris * (1 + 0.15 * tex[..., 2:3]) - rgb)
        rgb *= (1.0 - 0.85 * pupil - 0.55 * lid)[..., None]
        # Brow: a thick arc above the eye.
        bx = ex / (idn.eye_w * 1.3)
        by = (
            ey
            + idn.eye_h * 2.2
            + idn.eye_w * 0.35 * (1 - bx**2) * 0.5
            - side * idn.brow_tilt * ex * 0.3
        )
        brow = _soft(np.maximum(np.abs(by) - idn.brow_thick, (np.abs(bx) - 1.0) * idn.eye_w))
        rgb += brow[..., None] * 0.85 * (idn.hair * (1 + 0.2 * tex[..., 1:2]) - rgb)
        region = _soft(_ellipse_sd(ex, ey + idn.eye_h * 1.2, idn.eye_w * 1.7, idn.eye_h * 3.6), 3.0)
        eyes_mask = np.maximum(eyes_mask, region)
    # Mouth: lips around an opening whose height follows speech.
    my = y - idn.mouth_y
    open_h = (motion.mouth[:, None, None] * idn.lip_thick * 1.6).astype(f32)
    lips = _soft(_ellipse_sd(fx, my, idn.mouth_w, idn.lip_thick + open_h * 0.6))
    inside = _soft(_ellipse_sd(fx, my, idn.mouth_w * 0.8, open_h * 0.55 + 0.3))
    teeth = inside * (my < -open_h * 0.1) * (np.abs(fx) < idn.mouth_w * 0.6)
    rgb += lips[..., None] * (idn.lip * shade * (1 + 0.05 * tex[..., 2:3]) - rgb)
    rgb += inside[..., None] * (np.array([0.12, 0.04, 0.04], f32) - rgb)
    rgb += teeth[..., None] * 0.8 * (np.array([0.85, 0.82, 0.75], f32) * shade - rgb)
    mouth_sd = _ellipse_sd(fx, my, idn.mouth_w * 1.45, idn.lip_thick * 2.2 + open_h + idn.ry * 0.08)
    # Hair: above a wavy hairline, inside a slightly larger ellipse, with strands.
    hairline = idn.ry * idn.hairline + idn.hair_wave * idn.ry * np.sin(x / idn.rx * 4.0)
    outer = _ellipse_sd(x, y, idn.rx * 1.1, idn.ry * 1.08)
    hair = _soft(np.maximum(outer, y - hairline))
    side_hair = _soft(np.maximum(outer, idn.rx * 0.86 - np.abs(x))) * (y < idn.ry * 0.1)
    hair = np.maximum(hair, side_hair)
    hair_rgb = idn.hair * (0.8 + 0.25 * tex[..., 1:2]) * (0.6 + 0.5 * shade)
    # Composite the head over neck and body, then hair over it.
    o = out[win]
    o += head[..., None] * (rgb - o)
    o += hair[..., None] * (hair_rgb - o)
    out[win] = o
    a = np.maximum(alpha[win], np.maximum(head, hair))
    alpha[win] = a
    out /= np.maximum(alpha, 1e-4)[..., None]
    inner_full[win] = _soft(_ellipse_sd(x, y - idn.ry * 0.12, rx_eff * 0.9, idn.ry * 0.86)) * (
        1.0 - hair
    )
    eyes_full[win] = eyes_mask * head
    mouth_full[win] = _soft(mouth_sd, 3.0) * head
    return FaceLayer(
        rgb=np.clip(out, 0, 1), alpha=alpha, inner=inner_full, eyes=eyes_full, mouth=mouth_full
    )


def sensor_grain(frames: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Signal-dependent sensor noise for float frames [T,H,W,3] (the term :func:`camera` adds)."""
    sigma = noise * (0.6 + 0.8 * np.sqrt(np.clip(frames, 0, 1)))
    grain = rng.standard_normal(frames.shape, dtype=np.float32)
    grain += 0.5 * rng.standard_normal(frames.shape[:3] + (1,), dtype=np.float32)  # luma part
    return (sigma * grain * 0.8).astype(np.float32)


def camera(
    frames: np.ndarray, rng: np.random.Generator, blur: float = 0.6, noise: float = 0.012
) -> np.ndarray:
    """Optics blur and signal-dependent sensor noise on float frames [T,H,W,3]."""
    out = np.stack([cv2.GaussianBlur(f, (0, 0), blur) for f in frames])
    return np.clip(out + sensor_grain(out, rng, noise), 0, 1).astype(np.float32)


def render_background(identity: Identity, motion: Motion) -> np.ndarray:
    """The identity's background under the camera jitter, float32 [T,H,W,3]."""
    n = identity.size
    pad = (identity.background.shape[0] - n) / 2.0
    out = []
    for cx, cy in motion.cam:
        m = np.float32([[1, 0, -pad + cx], [0, 1, -pad + cy]])
        out.append(
            cv2.warpAffine(
                identity.background,
                m,
                (n, n),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
        )
    return np.stack(out)


def composite(background: np.ndarray, face: FaceLayer) -> np.ndarray:
    """The person over the background (before the camera)."""
    a = face.alpha[..., None]
    return background * (1.0 - a) + face.rgb * a


def render_scene(
    identity: Identity, motion: Motion, rng: np.random.Generator,
    blur: float = 0.6, noise: float = 0.012,
) -> tuple[np.ndarray, FaceLayer]:
    """A real clip: uint8 [T,H,W,3] frames after the camera, and the face layer it came from."""
    face = render_face(identity, motion)
    scene = camera(composite(render_background(identity, motion), face), rng, blur, noise)
    return to_uint8(scene), face


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def face_boxes(identity: Identity, motion: Motion) -> list[tuple[int, int, int, int]]:
    """Per-frame square face box (brows to chin, enlarged 1.3x as FF++), clipped into the frame."""
    n = identity.size
    cx, cy = identity.centre
    corners = np.array(
        [
            [-identity.rx, identity.eye_y - identity.eye_h * 4],
            [identity.rx, identity.eye_y - identity.eye_h * 4],
            [-identity.rx, identity.ry],
            [identity.rx, identity.ry],
        ]
    )
    boxes = []
    for t in range(len(motion)):
        c, s, k = np.cos(motion.roll[t]), np.sin(motion.roll[t]), motion.scale[t]
        px = cx + motion.dx[t] + k * (c * corners[:, 0] - s * corners[:, 1])
        py = cy + motion.dy[t] + k * (s * corners[:, 0] + c * corners[:, 1])
        side = min(float(n), max(np.ptp(px), np.ptp(py)) * FACE_BOX_SCALE)
        x0 = np.clip((px.min() + px.max() - side) / 2, 0, n - side)
        y0 = np.clip((py.min() + py.max() - side) / 2, 0, n - side)
        x0, y0, side_i = int(round(x0)), int(round(y0)), int(round(side))
        boxes.append((x0, y0, min(n, x0 + side_i), min(n, y0 + side_i)))
    return boxes
