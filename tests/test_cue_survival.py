"""The cue-survival diagnostic: a cue the LQ compression keeps scores near 1, one it wipes out near 0."""

import cv2
import numpy as np
import pytest

from bench.cli import main
from bench.core.dataset import ClipSource, Video
from bleachbench.datasets.cue_survival import cue_survival, markdown


def blur(frames: np.ndarray) -> np.ndarray:
    """The test's "lq": a strong Gaussian blur, which keeps low frequencies and removes fine ones."""
    return np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in frames.astype(np.float32)])


class Toy(ClipSource):
    """Real clips of noise; "Smooth" fakes add a broad blob, "Grain" fakes add pixel noise."""

    name = "toy"
    manipulations = ("Smooth", "Grain")

    def __init__(self, n: int = 6) -> None:
        rng = np.random.default_rng(0)
        self.reals = {f"{a:03d}": rng.uniform(60, 190, (2, 48, 48, 3)) for a in range(n)}
        yy, xx = np.mgrid[:48, :48]
        blob = 40 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / (2 * 10.0**2))
        self.add = {"Smooth": lambda r: blob[None, ..., None] * (1 + 0.1 * r.standard_normal()),
                    "Grain": lambda r: 20 * r.standard_normal((2, 48, 48, 3))}

    def videos(self, split: str, manipulation: str) -> list[Video]:
        rng = np.random.default_rng(1)
        out = [self._video(k, "real", 0, v) for k, v in self.reals.items()]
        for a, v in self.reals.items():
            out.append(self._video(f"{a}_{(int(a) + 1) % len(self.reals):03d}", manipulation, 1,
                                   v + self.add[manipulation](rng)))
        return out

    @staticmethod
    def _video(vid: str, manipulation: str, label: int, frames: np.ndarray) -> Video:
        def load(compression: str) -> np.ndarray:
            return frames.astype(np.float32) if compression == "hq" else blur(frames)

        return Video(vid, manipulation, label, load, lambda f: [None] * len(f))

    def fingerprint(self) -> str:
        return "toy"


def test_low_frequency_cue_survives_and_fine_grain_does_not():
    rows = {r.manipulation: r for r in cue_survival(Toy(), ("Smooth", "Grain"), "hq", "lq", n_pairs=6,
                                                     n_boot=200)}
    smooth, grain = rows["Smooth"], rows["Grain"]
    assert smooth.n_pairs == grain.n_pairs == 6
    assert smooth.survival > 0.8 and grain.survival < 0.1
    assert smooth.survival_ci[0] <= smooth.survival <= smooth.survival_ci[1]
    assert grain.rms_hq == pytest.approx(20, rel=0.05)  # the grain's own std, in 8-bit levels
    table = markdown(list(rows.values()), "hq", "lq")
    assert table.index("| Smooth |") < table.index("| Grain |")  # strongest survival first
    assert "Cue survival hq -> lq" in table


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_pairs must be >= 2"):
        cue_survival(Toy(), ("Smooth",), "hq", "lq", n_pairs=1)

    class NoTargets(Toy):
        def videos(self, split, manipulation):
            return [v for v in super().videos(split, manipulation) if v.label == 1]

    with pytest.raises(ValueError, match="Smooth has 0 fake"):
        cue_survival(NoTargets(), ("Smooth",), "hq", "lq")


def test_calibrate_prints_cue_survival_of_the_synthetic_testbed(tmp_path, capsys):
    """On the quick profile's renderer with the real H.264 c23 and c40 (two pairs, rendered here)."""
    assert main(["calibrate", "--results", str(tmp_path), "--detector", "xception",
                 "--manipulation", "Face2Face,Deepfakes", "--cues", "2"]) == 0
    out = capsys.readouterr().out
    assert "## Cue survival" in out and "| Deepfakes | 2 |" in out and "| Face2Face | 2 |" in out
    assert "## Cue survival" in (tmp_path / "tables" / "calibration.md").read_text()
