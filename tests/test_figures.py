"""Figures 4-7 drawn from a fixed set of records and arrays: files written, axes labelled, nothing run."""

import json

import numpy as np
import pytest

from bench.core.spec import RunSpec
from bench.core.store import ResultsStore
from bench.report import figures


def bleach_arrays(seed: int = 0, n: int = 24, d: int = 16, use_reg: bool = True) -> dict:
    """Arrays with exactly the keys Pixel Bleach saves (BRIEF's conventions), tiny sizes."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    phi_b = rng.normal(size=(n, d)) + label[:, None]
    margin_b = rng.normal(size=n).astype(np.float32)
    margin_b[:4] = [2.0, -2.0, 1.5, -1.5]  # TN... every outcome present: labels 0,1,0,1
    epochs = 3
    return {
        "prob": rng.random(n).astype(np.float32), "label": label.astype(np.int8),
        "video": np.array([f"FaceSwap/{i:03d}" for i in range(n)]),
        "idx_sub": np.arange(n, dtype=np.int64), "label_sub": label.astype(np.int8),
        "phi_before": phi_b.astype(np.float16), "phi_after": (phi_b * 1.5).astype(np.float16),
        "margin_before": margin_b, "margin_after": (margin_b + np.where(label, 1, -1)).astype(np.float32),
        "images_original": rng.integers(0, 256, (8, 12, 12, 3), dtype=np.uint8),
        "images_bleach": (rng.normal(size=(8, 12, 12, 3)) * 0.02).astype(np.float16),
        "images_bleached": rng.integers(0, 256, (8, 12, 12, 3), dtype=np.uint8),
        "curve_epoch": np.arange(1, epochs + 1),
        "curve_train_loss": np.linspace(1.0, 0.5 if use_reg else 0.3, epochs),
        "curve_val_acc": np.linspace(60, 80 if use_reg else 70, epochs),
        "curve_val_auc": np.linspace(65, 85, epochs),
    }


def write_run(root, params: dict, arrays: dict | None) -> dict:
    spec = RunSpec.make(dataset="synthetic", manipulation="FaceSwap", detector="tiny",
                        method="pixel_bleach", method_params=params, profile="smoke")
    store = ResultsStore(root)
    store.write(spec, {"frame": {"acc": 70.0, "auc": 75.0}}, timings={"total_s": 1.0})
    if arrays is not None:
        np.savez(root / "runs" / f"{spec.run_id}.npz", **arrays)
    return json.loads(store.path(spec).read_text())


@pytest.fixture()
def no_model(monkeypatch):
    """Any attempt to train, fit or run a model fails the test."""
    from bench.run.engine import Engine
    from bleachbench.methods.pixel_bleach import PixelBleach

    def boom(*a, **k):
        raise AssertionError("a figure tried to train or run a model")

    for target, name in ((Engine, "run"), (Engine, "run_one"), (Engine, "detector"),
                         (PixelBleach, "fit"), (PixelBleach, "predict")):
        monkeypatch.setattr(target, name, boom)


def labelled(fig):
    axes = [ax for ax in fig.axes if ax.get_visible()]
    return axes and all(ax.get_xlabel() or ax.get_title() or ax.get_ylabel() for ax in axes)


def test_outcomes_fake_is_positive():
    labels, margins = np.array([1, 1, 0, 0]), np.array([0.5, -0.5, 0.5, -0.5])
    assert figures.outcomes(labels, margins).tolist() == ["TP", "FN", "FP", "TN"]


def test_fig4_scatter_per_outcome(tmp_path, no_model):
    d = figures.fig4_margin_vs_norm(bleach_arrays(), tmp_path)
    assert [p.suffix for p in d.paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in d.paths)
    before, after = d.figure.axes[:2]
    assert "norm" in before.get_xlabel() and "margin" in before.get_ylabel()
    legend = [t.get_text().split()[0] for t in before.get_legend().get_texts()]
    assert legend == ["TP", "TN", "FP", "FN"]
    counts = sum(int(t.get_text().split("(")[1].rstrip(")")) for t in before.get_legend().get_texts())
    assert counts == 24


def test_fig5_tsne_two_panels(tmp_path, no_model):
    d = figures.fig5_tsne(bleach_arrays(), tmp_path, max_iter=250)
    assert len(d.figure.axes) == 2 and labelled(d.figure)
    assert (tmp_path / "fig5_tsne.png").exists() and (tmp_path / "fig5_tsne.pdf").exists()
    pts = d.figure.axes[0].collections[0].get_offsets()
    assert np.isfinite(np.asarray(pts)).all()


def test_fig6_grid_of_three_columns(tmp_path, no_model):
    d = figures.fig6_bleach_grid(bleach_arrays(), tmp_path)
    assert len(d.figure.axes) == 8 * 3
    assert [ax.get_title() for ax in d.figure.axes[:3]][0] == "original"
    assert "bleach" in d.figure.axes[1].get_title() and d.figure.axes[2].get_title() == "bleached"
    shown, gain = figures.bleach_display(np.array([-0.1, 0.0, 0.05]))
    assert shown.tolist() == pytest.approx([0.0, 0.5, 0.75]) and gain == pytest.approx(5.0)


def test_fig6_rejects_mismatched_images(tmp_path):
    a = bleach_arrays()
    a["images_bleached"] = a["images_bleached"][:4]
    with pytest.raises(ValueError, match="one shape"):
        figures.fig6_bleach_grid(a, tmp_path)


def test_fig7_two_runs_on_shared_axes(tmp_path, no_model):
    curves = [("with", bleach_arrays(use_reg=True)), ("without", bleach_arrays(use_reg=False))]
    d = figures.fig7_training_curves(curves, tmp_path)
    assert labelled(d.figure)
    assert all(len(ax.get_lines()) == 2 for ax in d.figure.axes)
    assert d.figure.axes[0].get_xlabel() == "epoch"
    assert figures.as_percent(np.array([0.5, np.nan, 0.75])).tolist()[::2] == [50.0, 75.0]
    assert figures.as_percent(np.array([60.0, 80.0])).tolist() == [60.0, 80.0]


def test_missing_key_named(tmp_path):
    a = bleach_arrays()
    del a["phi_after"]
    with pytest.raises(figures.MissingArraysError, match="phi_after"):
        figures.fig4_margin_vs_norm(a, tmp_path)


def test_draw_all_from_store_pairs_reg_runs(tmp_path, no_model):
    with_reg = write_run(tmp_path, {}, bleach_arrays(use_reg=True))
    without = write_run(tmp_path, {"use_reg": False}, bleach_arrays(seed=1, use_reg=False))
    write_run(tmp_path, {"k": 1.0}, None)  # a run without arrays is ignored
    assert figures.reg_counterpart(with_reg, [without, with_reg])["run_id"] == without["run_id"]
    drawn, skipped = figures.draw_all(tmp_path, tsne_max_iter=250)
    assert not skipped
    names = {d.name: d for d in drawn}
    assert set(names) == {"fig4_margin_norm", "fig5_tsne", "fig6_bleach", "fig7_curves"}
    assert names["fig4_margin_norm"].runs == [with_reg["run_id"]]  # default parameters first
    assert names["fig7_curves"].runs == [with_reg["run_id"], without["run_id"]]
    index = json.loads((tmp_path / "figures" / "index.json").read_text())
    assert index["fig7_curves"]["files"] == ["fig7_curves.png", "fig7_curves.pdf"]
    assert with_reg["run_id"] in index["fig4_margin_norm"]["caption"]


def test_draw_all_says_what_is_missing(tmp_path):
    write_run(tmp_path, {}, None)
    drawn, skipped = figures.draw_all(tmp_path)
    assert drawn == [] and len(skipped) == 4 and "phi_before" in skipped[0]
    with pytest.raises(FileNotFoundError, match="no-such-run"):
        figures.draw_all(tmp_path, run="no-such-run")


def test_cli_figures_draws_from_saved_arrays_or_says_why_not(tmp_path, capsys, no_model):
    from bench.cli import main

    bare = write_run(tmp_path, {"use_reg": False}, None)
    assert main(["figures", "--results", str(tmp_path)]) == 1
    assert "Fig. 4: no run saved" in capsys.readouterr().err
    np.savez(tmp_path / "runs" / f"{bare['run_id']}.npz",
             **{k: v for k, v in bleach_arrays().items() if k.startswith(("images_", "curve_"))})
    out = tmp_path / "figs"
    assert main(["figures", "--results", str(tmp_path), "--run", bare["run_id"], "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["fig6_bleach.png", "fig7_curves.png"]
