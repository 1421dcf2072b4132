"""Tables render from hand-made records in the paper's layout; missing runs are dashes."""

from dataclasses import replace

import numpy as np
import pytest

from bench.core.store import ResultsStore
from bench.report.tables import DASH, Cell, GridContext, RecordSet, get_table, render, table_names

CTX = GridContext(detectors=("xception", "resnet50"), manipulations=("FaceSwap", "Face2Face"))


def fake_records(table, ctx, skip=0):
    recs = {}
    for i, s in enumerate(table.grid(ctx)):
        if i < skip:
            continue
        acc = 50.0 + i
        recs[s] = {"spec": s.identity(), "metrics": {"frame": {"acc": acc, "auc": acc + 10, "fp": 10 + i,
                                                                "fn": 5, "tp": 1, "tn": 1}}}
    return recs


@pytest.mark.parametrize("name", [n for n in table_names()])
def test_every_table_renders_md_and_latex(name):
    table = get_table(name)
    recs = fake_records(table, CTX)
    md = render(table, recs, CTX, "md")
    assert md.n_missing == 0 and md.n_runs == len(table.grid(CTX)) > 0
    assert f"Table {table.paper_table}" in md.text
    tex = render(table, recs, CTX, "latex").text
    assert "\\toprule" in tex and "\\bottomrule" in tex and "\\begin{table}" in tex


def test_main_layout_like_the_paper():
    table = get_table("main")
    recs = fake_records(table, CTX)
    r = render(table, recs, CTX, "md")
    lines = r.text.splitlines()
    header = next(line for line in lines if "FaceSwap Acc" in line)
    assert header.index("FaceSwap Acc") < header.index("FaceSwap AUC") < header.index("Face2Face Acc")
    assert "Xception" in r.text and "ResNet-50" in r.text
    # Our numbers and the paper's are separate tables; the paper's is labelled.
    assert "Published numbers from the paper" in r.text
    assert r.text.index("Published") > r.text.index("50.00")
    assert "70.95" in r.text.split("Published")[1]  # Xception FaceSwap Acc in the paper
    assert "70.95" not in r.text.split("Published")[0]
    tex = render(table, recs, CTX, "latex").text
    assert "\\multicolumn{2}{c}{FaceSwap}" in tex


def test_missing_runs_are_dashes_and_counted():
    table = get_table("cross_compression")
    r = render(table, fake_records(table, CTX, skip=3), CTX, "md")
    assert r.n_missing == 3
    assert "3 missing" in r.text and DASH in r.text.split("Published")[0]


def test_cross_compression_drop():
    table = get_table("cross_compression")
    recs = fake_records(table, CTX)
    df = table.layout(recs, CTX)
    hq, lq, drop = (float(df.iloc[0][("FaceSwap", k)]) for k in ("C23", "C40", "Drop"))
    assert drop == pytest.approx(hq - lq)


def test_table_from_store_roundtrip(tmp_path):
    table = get_table("offset_m")
    store = ResultsStore(tmp_path)
    for s, rec in fake_records(table, CTX).items():
        store.write(s, rec["metrics"])
    r = render(table, store.index(), CTX, "md")
    assert r.n_missing == 0 and "FN/FP" in r.text


def test_bad_format():
    with pytest.raises(ValueError):
        render(get_table("main"), {}, CTX, "html")


def _arrays(rng, n_videos, p_right, manipulation):
    """Per-face arrays of a run whose faces are right with probability ``p_right``."""
    label_v = np.arange(n_videos) % 2
    vid = np.repeat(np.arange(n_videos), 3)
    label = label_v[vid]
    right = rng.random(len(vid)) < p_right
    prob = np.where(right == (label == 1), 0.8, 0.2) + rng.uniform(-0.1, 0.1, len(vid))
    video = np.array([f"{manipulation if y else 'real'}/{v:03d}" for v, y in zip(vid, label)])
    return {"prob": prob, "label": label, "video": video}


def _store_with_arrays(tmp_path, ctx, lift):
    """none and pixel_bleach runs for ctx's cells; the bleach's faces are right ``lift`` more often
    (the same faces: the bleach keeps the none run's right answers and fixes some wrong ones).
    ``lift`` may be a list, one per fit seed of ``ctx``: a negative one breaks right answers."""
    from bench.core.intervals import add_intervals
    from bench.core.metrics import compute_metrics

    store = ResultsStore(tmp_path)
    rng = np.random.default_rng(0)
    for seed in ctx.seed_list():
        for d in ctx.detectors:
            for m in ctx.manipulations:
                base = _arrays(rng, 200, 0.6, m)
                runs = [("none", 0, base)]
                lifts = lift if isinstance(lift, (list, tuple)) else [lift] * len(ctx.fit_seed_list())
                for fit, fit_lift in zip(ctx.fit_seed_list(), lifts):
                    changed = rng.random(len(base["prob"])) < abs(fit_lift)
                    to = np.where(base["label"] == 1, 0.9, 0.1) if fit_lift >= 0 else \
                        np.where(base["label"] == 1, 0.1, 0.9)
                    runs.append(("pixel_bleach", fit,
                                 dict(base, prob=np.where(changed, to, base["prob"]))))
                for method, fit, arr in runs:
                    spec = ctx.for_seed(seed).spec(detector=d, manipulation=m, method=method)
                    spec = replace(spec, fit_seed=fit)
                    keys = [tuple(v.split("/")) for v in arr["video"]]
                    metrics = compute_metrics(arr["label"], arr["prob"], keys)
                    if seed == 0:  # seed 1's records lack stored intervals, like old records
                        metrics = add_intervals(metrics, arr)
                    store.write(spec, metrics, arrays=arr)
    return store


SINGLE_FIT_NOTE = ("one fit per cell: the difference's interval is over test videos only, "
                   "conditional on that fit; no star is marked (see docs/statistics.md)")


def test_cells_show_intervals_and_marks_in_md_and_latex(tmp_path):
    # three fits of the bleach on each of two detector seeds, each fixing about 30 % of the
    # faces: a large, consistent shift is significant over fits and videos (bench/core/verdict.py)
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap", "Face2Face"),
                      seeds=(0, 1), fit_seeds=(0, 1, 2))
    store = _store_with_arrays(tmp_path, ctx, lift=0.3)
    table = get_table("main")
    r = render(table, store.index(), ctx, "md", store=store)
    assert r.n_runs == 16 and r.n_missing == 0  # 2 seeds x (2 none + 2 x 3 bleach fits)
    ours = r.text.split("Published")[0]
    assert " ±" in ours and "over its 6 fits" in ours and "fit seeds 0, 1, 2" in ours
    assert "over fits and test videos together" in ours and SINGLE_FIT_NOTE not in ours
    rows = [line for line in ours.splitlines() if line.startswith("| Xception")]
    none_row, bleach_row = rows
    assert "*" not in none_row and bleach_row.count("*") == 4  # every Acc and AUC cell
    assert "†" not in ours
    tex = render(table, store.index(), ctx, "latex", store=store).text
    assert "\\pm" in tex and "^{*}" in tex and "±" not in tex


def test_one_trained_detector_marks_its_verdicts_as_conditional(tmp_path):
    """Several fits on one detector seed: the same test, conditional on that trained detector
    (another seed or machine trains another one), marked † and never *."""
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap", "Face2Face"),
                      fit_seeds=(0, 1, 2))
    store = _store_with_arrays(tmp_path, ctx, lift=0.3)
    table = get_table("main")
    ours = render(table, store.index(), ctx, "md", store=store).text.split("Published")[0]
    assert "over its 3 fits" in ours and "conditional on this one trained detector" in ours
    none_row, bleach_row = [line for line in ours.splitlines() if line.startswith("| Xception")]
    assert "*" not in bleach_row and bleach_row.count("†") == 4 and "†" not in none_row
    tex = render(table, store.index(), ctx, "latex", store=store).text
    assert "^{\\dagger}" in tex and "^{*}" not in tex and "†" not in tex


def test_fits_that_disagree_in_sign_are_not_marked(tmp_path):
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap",), fit_seeds=(0, 1, 2))
    store = _store_with_arrays(tmp_path, ctx, lift=[0.3, -0.3, 0.1])
    ours = render(get_table("main"), store.index(), ctx, "md", store=store).text.split("Published")[0]
    assert not [line for line in ours.splitlines() if line.startswith("|") and "*" in line]
    # each fit alone is far outside the video noise: the old star would have marked fit 0
    records = RecordSet(store.index(), store)
    fits = ctx.fits(ctx.spec(detector="xception", manipulation="FaceSwap", method="pixel_bleach"))
    v = records.verdict(fits, "acc", "frame")
    assert v.n_fits == 3 and v.significant is False
    assert min(v.per_fit) < -5 < 5 < max(v.per_fit)


def test_a_single_fit_is_never_marked_and_says_so(tmp_path):
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap", "Face2Face"))
    store = _store_with_arrays(tmp_path, ctx, lift=0.3)
    table = get_table("main")
    md = render(table, store.index(), ctx, "md", store=store).text
    ours = md.split("Published")[0]
    assert " ±" in ours and "half-width of the 95 % bootstrap interval" in ours
    assert SINGLE_FIT_NOTE in ours
    rows = [line for line in ours.splitlines() if line.startswith("| Xception")]
    assert len(rows) == 2 and not any("*" in row for row in rows)  # +30 % fixed, yet one fit
    tex = render(table, store.index(), ctx, "latex", store=store).text
    assert "\\pm" in tex and "^{*}" not in tex and "no star is marked" in tex


def test_a_null_remedy_is_not_marked(tmp_path):
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap",))
    store = _store_with_arrays(tmp_path, ctx, lift=0.0)
    md = render(get_table("main"), store.index(), ctx, "md", store=store).text.split("Published")[0]
    assert " ±" in md and not [line for line in md.splitlines() if line.startswith("|") and "*" in line]


def test_several_seeds_show_mean_and_sd(tmp_path):
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap",), seeds=(0, 1))
    store = _store_with_arrays(tmp_path, ctx, lift=0.3)
    r = render(get_table("main"), store.index(), ctx, "md", store=store)
    assert r.n_runs == 4 and r.n_missing == 0
    assert "seeds 0, 1" in r.text and "standard deviation across detector seeds" in r.text
    assert "over its 2 fits (detector seeds 0, 1)" in r.text
    df = get_table("main").layout(store.index(), ctx)
    accs = [store.read(s)["metrics"]["frame"]["acc"] for s in store.index()
            if s.method == "none"]
    assert float(df.iloc[0][("FaceSwap", "Acc")]) == pytest.approx(np.mean(accs))
    assert df.iloc[0][("FaceSwap", "Acc")].spread == pytest.approx(np.std(accs, ddof=1))


def test_intervals_for_old_records_come_from_the_arrays(tmp_path):
    ctx = GridContext(detectors=("xception",), manipulations=("FaceSwap",), seed=1)
    store = _store_with_arrays(tmp_path, GridContext(detectors=("xception",),
                                                     manipulations=("FaceSwap",), seeds=(0, 1)), 0.3)
    spec = ctx.spec(detector="xception", manipulation="FaceSwap", method="none")
    assert "acc_ci" not in store.read(spec)["metrics"]["frame"]
    cell = get_table("main").layout(RecordSet(store.index(), store), ctx).iloc[0][("FaceSwap", "Acc")]
    assert isinstance(cell, Cell) and 1 < cell.spread < 15
    bare = get_table("main").layout(store.index(), ctx).iloc[0][("FaceSwap", "Acc")]
    assert bare.spread is None  # no store: no arrays, no interval (and no ± in the cell)


def test_web_upload_table_tests_the_lq_fitted_bleach_on_every_preset():
    table = get_table("web_upload")
    grid = table.grid(CTX)
    bleach = [s for s in grid if s.method == "pixel_bleach" and s.detector == "xception"]
    assert sorted(s.test_compression for s in bleach) == sorted(
        ["web_upload", "web_upload_social", "web_upload_strong", "web_upload_random"])
    assert {s.method_fit_compression for s in bleach} == {"c40"}  # fitted once, on LQ
    assert all(s.method_fit_compression == s.test_compression for s in grid if s.method == "none")
    r = render(table, fake_records(table, CTX), CTX, "md")
    ours, paper = r.text.split("Published")
    assert "Table D1" in ours and "web_upload_strong" in ours
    assert "52.92" in paper and "71.31" in paper and "71.31" not in ours


def test_compression_agnostic_reference_is_its_own_column():
    table = get_table("compression_agnostic")
    r = render(table, fake_records(table, CTX), CTX, "md")
    ours, paper = r.text.split("Published")
    assert "72.36" in paper and "compression-agnostic (paper)" in paper  # Xception with the bleach
    assert "72.36" not in ours
