"""Face boxes for a clip: a small registry of face detectors, FF++'s 1.3x box, and tracking.

A face detector maps one RGB frame ``uint8[H,W,3]`` to a list of raw boxes
``(x0, y0, x1, y1)``. Registered by name in :data:`FACE_DETECTORS`:

- ``haar`` (default): OpenCV's frontal-face Haar cascade from
  ``cv2.data.haarcascades``; ships with OpenCV, works offline, CPU only.
- ``whole``: the whole frame is the face (faces already cropped, e.g. a
  DeepfakeBench export or a folder of face crops).
- ``yunet``: OpenCV's ``FaceDetectorYN``; needs ``model_path=`` to a local
  ``face_detection_yunet_*.onnx`` (nothing is downloaded).
- ``dlib``: dlib's frontal face detector (HOG + linear SVM,
  ``dlib.get_frontal_face_detector()``), what FaceForensics++'s own extraction
  used and what DeepfakeBench crops with (before aligning with 81 landmarks).
  Ships inside dlib, nothing is downloaded; needs the optional extra
  ``pip install "bleachbench[dlib]"`` (the ``dlib-bin`` wheel). Slower than
  ``haar`` (see docs/datasets.md), but faces are found once per video.

:class:`FaceBoxer` turns raw detections into the crops the benchmark uses:
the largest face of each frame, enlarged as FaceForensics++ does
(``get_boundingbox``: a square of side ``scale * max(w, h)`` around the box
centre, clipped to the frame; ``scale=1.3``), and tracked: a frame with no
detection reuses the last box (frames before the first detection take the
first box). A box covering the whole frame (``whole``) is kept as it is. A
clip with no face in any frame gets ``None`` for every frame.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

Box = tuple[int, int, int, int]
RawDetector = Callable[[np.ndarray], list[Box]]

FACE_DETECTORS: dict[str, Callable[..., RawDetector]] = {}


def register_face_detector(
    name: str,
) -> Callable[[Callable[..., RawDetector]], Callable[..., RawDetector]]:
    """Decorator: register a face-detector factory under ``name`` (a duplicate is an error)."""

    def wrap(factory: Callable[..., RawDetector]) -> Callable[..., RawDetector]:
        if name in FACE_DETECTORS:
            raise KeyError(f"face detector {name!r} is already registered")
        FACE_DETECTORS[name] = factory
        return factory

    return wrap


def build_face_detector(spec: str | dict[str, Any] | RawDetector) -> RawDetector:
    """A detector from a name, ``{"type": name, **kwargs}``, or a callable (returned as is)."""
    if callable(spec):
        return spec
    cfg = {"type": spec} if isinstance(spec, str) else dict(spec)
    name = cfg.pop("type", None)
    if name not in FACE_DETECTORS:
        raise KeyError(
            f"unknown face detector {name!r}; known: {', '.join(sorted(FACE_DETECTORS))}"
        )
    return FACE_DETECTORS[name](**cfg)


@register_face_detector("haar")
class HaarDetector:
    """OpenCV's Haar cascade on a grey frame downscaled to at most ``max_side`` pixels."""

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size_frac: float = 0.08,
        max_side: int = 640,
    ) -> None:
        path = Path(cascade) if Path(cascade).is_file() else Path(cv2.data.haarcascades) / cascade
        self.cascade_path = str(path)
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_size_frac, self.max_side = min_size_frac, max_side
        self._cascade: cv2.CascadeClassifier | None = None
        self._load()

    def _load(self) -> cv2.CascadeClassifier:
        if self._cascade is None:
            cascade = cv2.CascadeClassifier(self.cascade_path)
            if cascade.empty():
                raise FileNotFoundError(f"cannot load Haar cascade {self.cascade_path}")
            self._cascade = cascade
        return self._cascade

    def __getstate__(self) -> dict[str, Any]:  # the cv2 object does not pickle: reload it
        return {**self.__dict__, "_cascade": None}

    def __call__(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        factor = min(1.0, self.max_side / max(h, w))
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if factor < 1.0:
            grey = cv2.resize(
                grey, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA
            )
        side = max(16, int(self.min_size_frac * min(grey.shape)))
        found = self._load().detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        return [
            (int(x / factor), int(y / factor), int((x + bw) / factor), int((y + bh) / factor))
            for x, y, bw, bh in np.asarray(found).reshape(-1, 4)
        ]


@register_face_detector("whole")
def whole_frame() -> RawDetector:
    """The whole frame is the face (inputs already cropped to faces)."""
    return _whole_frame


def _whole_frame(frame: np.ndarray) -> list[Box]:
    return [(0, 0, int(frame.shape[1]), int(frame.shape[0]))]


@register_face_detector("yunet")
class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``) from a local ONNX file; nothing is downloaded."""

    def __init__(self, model_path: str | None = None, score_threshold: float = 0.6) -> None:
        if model_path is None or not Path(model_path).is_file():
            raise FileNotFoundError(
                f"yunet needs model_path= to a local face_detection_yunet ONNX file, got {model_path!r}"
            )
        self.model_path, self.score_threshold = str(model_path), score_threshold
        self._net: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_net": None}

    def __call__(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        if self._net is None:
            self._net = cv2.FaceDetectorYN.create(self.model_path, "", (w, h), self.score_threshold)
        self._net.setInputSize((w, h))
        _, faces = self._net.detect(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        return [(int(x), int(y), int(x + bw), int(y + bh)) for x, y, bw, bh in faces[:, :4]]


DLIB_MISSING = ("face detector 'dlib' needs dlib: pip install \"bleachbench[dlib]\" "
                "(or pip install dlib-bin)")


@register_face_detector("dlib")
class DlibDetector:
    """dlib's frontal face detector on a frame downscaled to at most ``max_side`` pixels;
    ``upsample`` is dlib's number of image pyramid upsamplings (FF++ used 1)."""

    def __init__(self, upsample: int = 1, max_side: int = 640) -> None:
        try:
            import dlib  # noqa: F401
        except ImportError:
            raise ImportError(DLIB_MISSING) from None
        self.upsample, self.max_side = int(upsample), int(max_side)
        self._detector: Any = None

    def __getstate__(self) -> dict[str, Any]:  # the dlib object does not pickle: rebuild it
        return {**self.__dict__, "_detector": None}

    def __call__(self, frame: np.ndarray) -> list[Box]:
        import dlib

        if self._detector is None:
            self._detector = dlib.get_frontal_face_detector()
        h, w = frame.shape[:2]
        factor = min(1.0, self.max_side / max(h, w))
        image = frame if factor == 1.0 else cv2.resize(
            frame, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        found = self._detector(np.ascontiguousarray(image), self.upsample)
        return [(int(max(r.left(), 0) / factor), int(max(r.top(), 0) / factor),
                 int(min(r.right(), image.shape[1]) / factor),
                 int(min(r.bottom(), image.shape[0]) / factor)) for r in found]


def enlarge_box(box: Box, width: int, height: int, scale: float = 1.3) -> Box:
    """FaceForensics++'s ``get_boundingbox``: a square of side ``scale*max(w,h)``, clipped to the frame."""
    x0, y0, x1, y1 = box
    side = int(max(x1 - x0, y1 - y0) * scale)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    nx0, ny0 = max(int(cx - side // 2), 0), max(int(cy - side // 2), 0)
    side = min(width - nx0, height - ny0, side)
    return (nx0, ny0, nx0 + side, ny0 + side)


class FaceBoxer:
    """``frames uint8[T,H,W,3] -> [box | None] * T``: largest face, enlarged, tracked over misses.

    Picklable (the face cache sends it to worker processes). ``scale=1.3``
    is FF++'s enlargement; ``track=False`` leaves frames without a detection
    as ``None`` (the face cache then drops those frames).
    """

    def __init__(
        self,
        detector: str | dict[str, Any] | RawDetector = "haar",
        scale: float = 1.3,
        track: bool = True,
    ) -> None:
        self.spec = (
            detector if not callable(detector) else getattr(detector, "__name__", repr(detector))
        )
        self.detector = build_face_detector(detector)
        self.scale, self.track = scale, track

    def describe(self) -> str:
        """A stable description for cache fingerprints."""
        return f"{self.spec}|scale={self.scale}|track={self.track}"

    def __call__(self, frames: np.ndarray) -> list[Box | None]:
        boxes: list[Box | None] = []
        for frame in frames:
            found = self.detector(frame)
            if found:
                largest = max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                h, w = frame.shape[:2]
                # a whole-frame box (``whole``) is kept: enlarging it could only cut it
                if largest == (0, 0, w, h):
                    boxes.append(largest)
                else:
                    boxes.append(enlarge_box(largest, w, h, self.scale))
            else:
                boxes.append(None)
        return track_boxes(boxes) if self.track else boxes


def track_boxes(boxes: list[Box | None]) -> list[Box | None]:
    """Fill misses with the last box seen (leading misses with the first box); all-None stays None."""
    first = next((b for b in boxes if b is not None), None)
    if first is None:
        return boxes
    out: list[Box | None] = []
    last = first
    for b in boxes:
        last = b if b is not None else last
        out.append(last)
    return out


def crop_face(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The box's pixels resized to ``size x size`` with ``cv2.INTER_AREA``."""
    x0, y0, x1, y1 = box
    crop = frame[max(y0, 0) : y1, max(x0, 0) : x1]
    if crop.size == 0:
        raise ValueError(f"empty face box {box} in a frame of shape {frame.shape}")
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA)
