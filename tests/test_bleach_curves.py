"""tools/bleach_curves.py on a toy detector: curves start at the untrained state (epoch 0 = the
frozen detector, no bleach), cover every set and group per epoch, and the hook leaves the fit as it
would be without it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _toy import TwoConvDetector, checkerboard_faces, train_toy
from sklearn.metrics import roc_auc_score

from bench.core.faceset import FaceSet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import bleach_curves as BC  # noqa: E402

CFG = {"epochs": 2, "batch_size": 16, "base_channels": 16, "lr": 1e-3, "progress": False}


def two_manipulations(n: int, seed: int, amplitude: float) -> FaceSet:
    a = checkerboard_faces(n, seed, amplitude, manipulation="FaceSwap")
    b = checkerboard_faces(n, seed + 100, amplitude, manipulation="NeuralTextures")
    b = b.subset(np.flatnonzero(b.labels == 1))
    return FaceSet(np.concatenate([a.images, b.images]), np.concatenate([a.labels, b.labels]),
                   np.concatenate([a.manipulations, b.manipulations]),
                   np.array([f"v{i}" for i in range(len(a) + len(b))]))


@pytest.fixture(scope="module")
def toy() -> tuple[TwoConvDetector, dict[str, FaceSet]]:
    torch.manual_seed(0)
    det = train_toy(TwoConvDetector(), checkerboard_faces(256, 0, 0.04), epochs=4)
    for p in det.parameters():
        p.requires_grad_(False)
    return det, {"train": two_manipulations(96, 1, 0.012), "val": two_manipulations(48, 2, 0.012),
                 "test": two_manipulations(64, 3, 0.012)}


def test_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200), 1)  # ties
    assert BC.fast_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    m = BC.metrics(p, y)
    assert m["fp"] == int(((p > 0.5) & (y == 0)).sum()) and m["fn"] == int(((p <= 0.5) & (y == 1)).sum())
    assert BC.fast_auc(np.zeros(3), p[:3]) is None
    ci = BC.paired_bootstrap(y, p, p, n_boot=20)
    assert ci["d_acc_ci"] == [0.0, 0.0] and ci["d_auc_ci"] == [0.0, 0.0]


def test_curves_start_untrained_and_cover_every_set(toy, tmp_path) -> None:
    det, faces = toy
    res = BC.bleach_curves(det, faces["train"], faces["val"], faces["test"], CFG, tmp_path / "w",
                           torch.device("cpu"), ("FaceSwap", "NeuralTextures"), n_boot=10)
    epochs = sorted({r["epoch"] for r in res["rows"]})
    assert epochs == [0, 1, 2]
    for e in epochs:
        got = {(r["set"], r["group"]) for r in res["rows"] if r["epoch"] == e}
        assert got == {(s, g) for s in BC.SETS for g in ("all", "FaceSwap", "NeuralTextures")}
    # epoch 0 is the frozen detector itself (zero-initialised generator: no bleach)
    with torch.no_grad():
        x, y = faces["test"].tensors(slice(0, len(faces["test"])))
        p0 = det(x).softmax(1)[:, 1].numpy()
    t0 = next(r for r in res["rows"] if r["epoch"] == 0 and r["set"] == "test" and r["group"] == "all")
    assert t0 == {**t0, **BC.metrics(p0, y.numpy())}
    # the loop's own val numbers agree with the hook's, epoch by epoch
    for h in res["history"]:
        v = next(r for r in res["rows"] if r["epoch"] == h["epoch"] and r["set"] == "val"
                 and r["group"] == "all")
        assert v["acc"] == pytest.approx(h["acc"])
    assert res["selection"]["trained_only"] in (1, 2)
    assert res["n_offset"] == next(r["n"] for r in res["rows"] if r["set"] == "offset"
                                   and r["group"] == "all")
    md = BC.markdown(res, "toy")
    assert "## FaceSwap" in md and "| 0 |" in md and "| 2 |" in md


def test_the_hook_does_not_change_the_fit(toy, tmp_path) -> None:
    """Same generator with and without the curves (selection aside: compare the trained states)."""
    from bench.core.fit_data import build_fit_data, hand_over
    from bleachbench.methods.pixel_bleach import PixelBleach

    det, faces = toy
    cfg = {**CFG, "epochs": 1}
    res = BC.bleach_curves(det, faces["train"], faces["val"], faces["test"], cfg, tmp_path / "a",
                           torch.device("cpu"), (), n_boot=2)
    hooked = torch.load(tmp_path / "a" / "generator.pt")
    plain = PixelBleach(**cfg, select_untrained=True)
    data, _ = build_fit_data(plain, faces["train"], faces["val"])
    facts = hand_over(plain, det, data, tmp_path / "b", torch.device("cpu"))
    ref = torch.load(tmp_path / "b" / "generator.pt")
    assert res["fit"]["best_epoch"] == facts["best_epoch"]
    assert all(torch.equal(hooked[k], ref[k]) for k in ref)
    assert [h["acc"] for h in res["history"]] == [h["acc"] for h in facts["history"]]


def test_score_every_skips_epochs_but_keeps_the_first_and_last(toy, tmp_path) -> None:
    det, faces = toy
    cfg = {**CFG, "epochs": 3}
    res = BC.bleach_curves(det, faces["train"], faces["val"], faces["test"], cfg, tmp_path / "s",
                           torch.device("cpu"), (), n_boot=2, score_every=2)
    kept = res["selection"]["with_untrained"]
    assert sorted({r["epoch"] for r in res["rows"]}) == sorted({0, 2, 3, kept})  # and the kept one
    assert [h["epoch"] for h in res["history"]] == [0, 1, 2, 3]  # the loop's val keeps every epoch


def test_the_kept_epoch_is_scored_even_when_score_every_skips_it(toy, tmp_path, monkeypatch) -> None:
    """The generator the loop keeps (here forced to epoch 2 of 4) is scored after the fit, though
    ``score_every`` skips it; its rows equal those of a run that scores every epoch."""
    import bleachbench.methods.bleach_fit as loop

    def runs(name: str, score_every: int) -> dict:
        calls = iter(range(100))  # the untrained state, then one call per epoch: keep epoch 2
        monkeypatch.setattr(loop, "select_score", lambda val, metric: float(next(calls) == 2))
        return BC.bleach_curves(det, faces["train"], faces["val"], faces["test"], {**CFG, "epochs": 4},
                                tmp_path / name, torch.device("cpu"), (), n_boot=2,
                                score_every=score_every)

    det, faces = toy
    every, sparse = runs("e", 1), runs("s", 3)
    assert every["fit"]["best_epoch"] == sparse["fit"]["best_epoch"] == 1  # the loop's 0-based epoch
    assert sorted({r["epoch"] for r in sparse["rows"]}) == [0, 2, 3, 4]
    pick = [(r["set"], r["acc"], r["auc"]) for r in sparse["rows"] if r["epoch"] == 2]
    assert pick == [(r["set"], r["acc"], r["auc"]) for r in every["rows"] if r["epoch"] == 2]


def test_reading_names_the_explanation() -> None:
    assert BC.reading(-3.0, -5.0).startswith("objective")
    assert BC.reading(+3.0, -5.0).startswith("scale")
    assert BC.reading(+3.0, +2.0).startswith("helps")
    assert BC.reading(0.2, -4.0).startswith("held-out falls")
    assert BC.reading(0.2, 0.3) == "flat"


def test_summary_has_a_row_per_group_with_the_kept_epoch(toy, tmp_path) -> None:
    det, faces = toy
    res = BC.bleach_curves(det, faces["train"], faces["val"], faces["test"], CFG, tmp_path / "m",
                           torch.device("cpu"), ("FaceSwap", "NeuralTextures"), n_boot=2)
    res.update(name="default_toy", detector="toy", seed=0, method_cfg=CFG, fit_kind="default",
               n_train=len(faces["train"]))
    md = BC.summarise([res])
    rows = [line for line in md.splitlines()[2:] if line.startswith("| toy |")]
    assert [r.split(" | ")[4] for r in rows] == ["all", "FaceSwap", "NeuralTextures"]
    kept = res["selection"]["trained_only"]
    assert all(f"| {kept} ({res['selection']['with_untrained']}) |" in r for r in rows)
