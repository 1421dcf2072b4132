"""The embedded ``synthetic`` dataset: determinism, FF++-like splits and pairs, cache, forgeries."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.dataset import FFPP_MANIPULATIONS, REAL
from bench.core.registry import DATASETS, build
from bleachbench.datasets.face_detect import enlarge_box
from bleachbench.datasets.synthetic import SyntheticFaces
from bleachbench.datasets.synthetic_render import render_face

TINY = {"n_identities": 15, "n_frames": 3, "scene_size": 64}


def _ids(video_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in video_id.split("_"))


@pytest.fixture
def ds(tmp_path) -> SyntheticFaces:
    return SyntheticFaces(**TINY, cache_dir=tmp_path / "cache")


def _first_fake(ds: SyntheticFaces, manipulation: str, split: str = "val"):
    fake = next(v for v in ds.videos(split, manipulation) if v.label == 1)
    a, b = _ids(fake.video_id)
    return fake, a, b


def test_registered_and_built_from_config(tmp_path):
    ds = build(DATASETS, {"type": "synthetic", **TINY, "cache_dir": str(tmp_path)})
    assert isinstance(ds, SyntheticFaces)


def test_generation_is_deterministic_per_seed(tmp_path):
    one = SyntheticFaces(**TINY, seed=3, cache_dir=tmp_path / "a")
    two = SyntheticFaces(**TINY, seed=3, cache_dir=tmp_path / "b")
    other = SyntheticFaces(**TINY, seed=4, cache_dir=tmp_path / "c")
    assert one.fingerprint() == two.fingerprint() != other.fingerprint()
    assert one.splits == two.splits and one.pairs == two.pairs
    fake, a, b = _first_fake(one, "Deepfakes")
    np.testing.assert_array_equal(one.raw(REAL, a, None), two.raw(REAL, a, None))
    np.testing.assert_array_equal(one.raw("Deepfakes", a, b), two.raw("Deepfakes", a, b))
    assert not np.array_equal(one.raw(REAL, 0, None), other.raw(REAL, 0, None))


def test_frames_are_uint8_scenes_and_boxes_inside(ds):
    for video in ds.videos("test", "FaceSwap"):
        frames = video.load("raw")
        assert frames.dtype == np.uint8 and frames.shape == (3, 64, 64, 3)
        boxes = video.face_boxes(frames)
        assert len(boxes) == 3
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
            assert abs((x1 - x0) - (y1 - y0)) <= 1  # square, as FF++ crops
    with pytest.raises(ValueError, match="face boxes"):
        video.face_boxes(frames[:2])


def test_face_box_covers_the_inner_face(ds):
    real = ds.videos("train", "Face2Face")[0]
    a = _ids(real.video_id)[0]
    inner = render_face(ds.identity(a), ds.motion(a)).inner
    for t, (x0, y0, x1, y1) in enumerate(real.face_boxes(real.load("raw"))):
        ys, xs = np.nonzero(inner[t] > 0.5)
        assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1


def test_splits_identity_disjoint_in_ffpp_proportions(tmp_path):
    ds = SyntheticFaces(n_identities=100, n_frames=3, scene_size=64, cache_dir=tmp_path)
    sizes = {split: len(ids) for split, ids in ds.splits.items()}
    assert sizes == {"train": 72, "val": 14, "test": 14}
    all_ids = [i for ids in ds.splits.values() for i in ids]
    assert sorted(all_ids) == list(range(100))
    for split in ds.splits:
        reals = [v for v in ds.videos(split, "FaceSwap") if v.label == 0]
        assert sorted(_ids(v.video_id)[0] for v in reals) == ds.splits[split]


def test_too_few_identities_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="n_identities"):
        SyntheticFaces(n_identities=8, cache_dir=tmp_path)


@pytest.mark.parametrize("manipulation", FFPP_MANIPULATIONS)
def test_pairs_labels_and_balance(ds, manipulation):
    for split, ids in ds.splits.items():
        videos = ds.videos(split, manipulation)
        reals = [v for v in videos if v.label == 0]
        fakes = [v for v in videos if v.label == 1]
        assert all(v.manipulation == REAL for v in reals)
        assert all(v.manipulation == manipulation for v in fakes)
        assert len(reals) == len(fakes) == len(ids)  # 1:1 like FF++
        pairs = [_ids(v.video_id) for v in fakes]
        assert all(len(p) == 2 and p[0] != p[1] for p in pairs)
        # a_b: every identity of the split is the target once and the source once.
        assert sorted(a for a, _ in pairs) == ids and sorted(b for _, b in pairs) == ids
    assert {v.video_id for v in ds.videos("train", manipulation) if v.label} == {
        v.video_id for v in ds.videos("train", "FaceSwap") if v.label
    }


def test_unknown_split_or_manipulation_raises(ds):
    with pytest.raises(ValueError, match="split"):
        ds.videos("dev", "FaceSwap")
    with pytest.raises(ValueError, match="manipulation"):
        ds.videos("train", "FaceShifter")
    with pytest.raises(TypeError, match="artifact"):
        SyntheticFaces(**TINY, nt_amplitud=(0.1, 0.2))


def test_artifact_parameters_change_the_fingerprint(tmp_path):
    base = SyntheticFaces(**TINY, cache_dir=tmp_path)
    weaker = SyntheticFaces(**TINY, cache_dir=tmp_path, nt_amplitude=(0.01, 0.02))
    assert base.fingerprint() != weaker.fingerprint()
    assert base.cache_root != weaker.cache_root


def test_cache_is_reused(tmp_path):
    first = SyntheticFaces(**TINY, cache_dir=tmp_path)
    fake, a, b = _first_fake(first, "NeuralTextures")
    frames = fake.load("raw")
    assert first.renders > 0
    files = sorted(first.cache_root.rglob("*.npy"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = SyntheticFaces(**TINY, cache_dir=tmp_path)
    again = next(v for v in second.videos("val", "NeuralTextures") if v.video_id == fake.video_id)
    np.testing.assert_array_equal(again.load("raw"), frames)
    assert second.renders == 0
    assert [f.stat().st_mtime_ns for f in files] == mtimes


@pytest.mark.parametrize("manipulation", FFPP_MANIPULATIONS)
def test_manipulation_changes_only_the_face(ds, manipulation):
    fake, a, b = _first_fake(ds, manipulation)
    real = ds.raw(REAL, a, None).astype(np.int16)
    diff = np.abs(ds.raw(manipulation, a, b).astype(np.int16) - real).max(axis=-1)  # [T,H,W]
    boxes = fake.face_boxes(real)
    inside = np.zeros_like(diff, dtype=bool)
    for t, (x0, y0, x1, y1) in enumerate(boxes):
        inside[t, y0:y1, x0:x1] = True
    if manipulation != "NeuralTextures":
        assert diff[inside].mean() > 1.0, "the forgery should visibly change the face"
    # A soft blend's tail (Deepfakes' feather, sigma up to 3 px) may cross the tight box by a
    # few px, inside the 1.3x crop the face cache takes; nothing changes farther out.
    near = np.zeros_like(diff, dtype=bool)
    for t, box in enumerate(boxes):
        x0, y0, x1, y1 = enlarge_box(box, diff.shape[2], diff.shape[1], scale=1.25)
        near[t, y0:y1, x0:x1] = True
    assert np.count_nonzero(diff[~inside]) <= 0.03 * diff.size, "changes must stay in the face"
    assert np.count_nonzero(diff[~near]) <= 0.005 * diff.size, "changes must stay near the face box"
    if manipulation == "NeuralTextures":
        mouth = render_face(ds.identity(a), ds.motion(a)).mouth
        assert np.all(diff[mouth == 0] == 0), "NeuralTextures edits the mouth region only"
        assert diff[mouth > 0.5].mean() > 2.0


def test_sample_frames_skip_the_iframe(tmp_path):
    ds = SyntheticFaces(n_identities=15, n_frames=12, scene_size=64, cache_dir=tmp_path)
    frames = ds.sample_frames(4)
    assert len(frames) == 4 and 0 not in frames and frames[-1] == 11


def test_prepare_fills_the_cache_in_parallel(tmp_path):
    ds = SyntheticFaces(**TINY, cache_dir=tmp_path)
    rendered = ds.prepare(splits=("val", "test"), workers=2)
    n = len(ds.splits["val"]) + len(ds.splits["test"])
    assert rendered == n * (1 + len(FFPP_MANIPULATIONS))
    again = SyntheticFaces(**TINY, cache_dir=tmp_path)
    for manipulation in FFPP_MANIPULATIONS:
        for video in again.videos("test", manipulation):
            video.load("raw")
    assert again.renders == 0
    assert ds.prepare(splits=("val",), workers=2) == 0


def test_split_sizes_override_the_ffpp_shares(tmp_path):
    ds = SyntheticFaces(split_sizes=(6, 2, 9), n_frames=3, scene_size=64, cache_dir=tmp_path)
    assert {s: len(ids) for s, ids in ds.splits.items()} == {"train": 6, "val": 2, "test": 9}
    assert ds.n_identities == 17
    assert len([v for v in ds.videos("test", "Deepfakes") if v.label == 1]) == 9
    with pytest.raises(ValueError, match="split_sizes"):
        SyntheticFaces(split_sizes=(6, 1, 9), cache_dir=tmp_path)


def test_camera_settings_are_per_video_and_shared_by_its_fakes(tmp_path):
    ds = SyntheticFaces(**TINY, camera_noise=(0.005, 0.02), camera_blur=(0.4, 0.9),
                        cache_dir=tmp_path)
    settings = [ds.camera_settings(i) for i in range(15)]
    assert all(0.4 <= b <= 0.9 and 0.005 <= n <= 0.02 for b, n in settings)
    assert len({n for _, n in settings}) == 15  # drawn per video
    assert ds.camera_settings(3) == SyntheticFaces(**TINY, camera_noise=(0.005, 0.02),
                                                   camera_blur=(0.4, 0.9),
                                                   cache_dir=tmp_path).camera_settings(3)


def test_noise_match_puts_grain_back_on_a_deepfake_face(tmp_path):
    """Grain matching: the swapped face's fine detail rises towards the real clip's."""

    def face_grain(**kw) -> float:
        ds = SyntheticFaces(**{**TINY, "n_frames": 4, "scene_size": 96}, cache_dir=tmp_path, **kw)
        _, a, b = _first_fake(ds, "Deepfakes")
        frames = ds.raw("Deepfakes", a, b).astype(np.float32)
        crop = frames[:, 40:56, 40:56]  # the middle of the face (centre 48, 45 in a 96 px scene)
        return float(np.abs(np.diff(crop, axis=2)).mean())

    assert face_grain(noise_match=(1.0, 1.0)) > face_grain(noise_match=(0.0, 0.0)) * 1.2


def test_fakes_reuse_their_real_clips_face_layer_bit_for_bit(tmp_path):
    """A pair's fakes start from the face layer of the real clip rendered just before them
    (one render_face fewer per pair); the clips equal those rendered without it."""
    import bleachbench.datasets.synthetic_manipulations as manip

    kept = SyntheticFaces(**TINY, cache_dir=tmp_path / "kept")
    fresh = SyntheticFaces(**TINY, cache_dir=tmp_path / "fresh")
    a, b = kept.pairs["train"][0]
    calls = []
    original = manip.render_face

    def counted(*args):
        calls.append(args)
        return original(*args)

    manip.render_face = counted
    try:
        kept._prepare_pair((a, b))
        fresh.raw(REAL, a, None)
        fresh._real_face = None  # as if the real clip had been read from the cache
        fresh._prepare_pair((a, b))
    finally:
        manip.render_face = original
    assert len(calls) == 2 + 3  # swapped and driven; then target, swapped and driven
    for name in (REAL, *FFPP_MANIPULATIONS):
        source = None if name == REAL else b
        assert np.array_equal(kept.raw(name, a, source), fresh.raw(name, a, source)), name
