"""Every figure function returns a plotly Figure holding the numbers it was given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import pytest

from fusion_core import plots


@dataclass
class FakeEpoch:
    epoch: int
    train_loss: float
    val_loss: float
    val_macro_f1: float
    val_accuracy: float = 0.0


HISTORY = [FakeEpoch(1, 1.2, 1.1, 0.4), FakeEpoch(2, 0.8, 0.9, 0.6), FakeEpoch(3, 0.5, 0.7, 0.75)]

RUN_ROWS = [
    {"method": "only:image", "label": "a", "macro_f1": 0.60, "params": 1000, "train_seconds": 1.0},
    {"method": "only:image", "label": "b", "macro_f1": 0.64, "params": 1000, "train_seconds": 1.2},
    {"method": "only:table", "label": "c", "macro_f1": 0.70, "params": 500, "train_seconds": 0.5},
    {"method": "concat", "label": "d", "macro_f1": 0.80, "params": 3000, "train_seconds": 2.0},
    {"method": "concat", "label": "e", "macro_f1": 0.90, "params": 3000, "train_seconds": 2.2},
    {"method": "late", "label": "f", "macro_f1": 0.65, "params": 2000, "train_seconds": 1.5},
]


def test_confusion_matrix_counts_and_row_normalised():
    matrix = [[3, 1], [0, 4]]
    fig = plots.confusion_matrix_figure(matrix, ["cat", "dog"])
    assert isinstance(fig, go.Figure)
    heat = fig.data[0]
    assert list(heat.x) == ["cat", "dog"] and list(heat.y) == ["cat", "dog"]
    assert np.asarray(heat.z).tolist() == [[3, 1], [0, 4]]
    assert heat.text[0][1] == "1"

    normalised = plots.confusion_matrix_figure(matrix, ["cat", "dog"], normalize=True).data[0]
    assert np.allclose(np.asarray(normalised.z), [[0.75, 0.25], [0.0, 1.0]])
    assert normalised.zmax == 1.0


def test_confusion_matrix_normalised_row_without_samples_stays_zero():
    heat = plots.confusion_matrix_figure([[0, 0], [2, 2]], ["a", "b"], normalize=True).data[0]
    assert np.allclose(np.asarray(heat.z), [[0, 0], [0.5, 0.5]])


def test_confusion_matrix_rejects_mismatched_names():
    with pytest.raises(ValueError, match="does not match 3 class names"):
        plots.confusion_matrix_figure([[1, 0], [0, 1]], ["a", "b", "c"])


def test_per_class_metrics_has_three_bar_groups():
    per_class = {
        "a": {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 2},
        "b": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2},
    }
    fig = plots.per_class_metrics_figure(per_class)
    assert [t.name for t in fig.data] == ["precision", "recall", "f1"]
    assert list(fig.data[1].y) == [1.0, 0.5]
    assert list(fig.data[0].x) == ["a", "b"]


def test_training_curves_single_run_draws_train_and_val():
    fig = plots.training_curves_figure(HISTORY)
    names = [t.name for t in fig.data]
    assert names == ["train loss", "validation loss", "validation macro-F1"]
    assert list(fig.data[0].y) == [1.2, 0.8, 0.5]
    assert list(fig.data[2].y) == [0.4, 0.6, 0.75]
    assert list(fig.data[2].x) == [1, 2, 3]


def test_training_curves_accepts_dicts_and_several_runs():
    as_dicts = [e.__dict__ for e in HISTORY]
    fig = plots.training_curves_figure({"concat": HISTORY, "late": as_dicts[:2]})
    names = [t.name for t in fig.data]
    assert names == [
        "concat · validation loss",
        "concat · validation macro-F1",
        "late · validation loss",
        "late · validation macro-F1",
    ]
    assert list(fig.data[3].y) == [0.4, 0.6]
    assert fig.data[0].line.color != fig.data[2].line.color


def test_roc_perfect_and_chance():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[y_true] * 0.8 + 0.1 / 1.0
    fig = plots.roc_figure(y_true, probs, ["a", "b", "c"])
    names = [t.name for t in fig.data]
    assert names[0] == "chance"
    assert names[1:] == ["a (AUC 1.00)", "b (AUC 1.00)", "c (AUC 1.00)"]
    curve = fig.data[1]
    assert curve.x[0] == 0.0 and curve.y[-1] == 1.0


def test_roc_skips_class_absent_from_test_split():
    y_true = np.array([0, 1, 0, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.4, 0.5, 0.1], [0.6, 0.3, 0.1]])
    names = [t.name for t in plots.roc_figure(y_true, probs, ["a", "b", "c"]).data]
    assert names == ["chance", "a (AUC 0.75)", "b (AUC 0.75)"]


def test_roc_points_match_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(0)
    positive = rng.random(200) < 0.3
    score = np.round(rng.random(200) + positive * 0.4, 1)  # rounding makes many ties
    fpr, tpr = plots.roc_points(positive, score)
    expected_fpr, expected_tpr, _ = roc_curve(positive, score, drop_intermediate=False)
    assert np.allclose(fpr, expected_fpr) and np.allclose(tpr, expected_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(positive, score))


def test_class_balance_bars():
    fig = plots.class_balance_figure({"a": 10, "b": 3})
    assert list(fig.data[0].x) == ["a", "b"] and list(fig.data[0].y) == [10, 3]


def test_method_scores_mean_and_std_sorted():
    fig = plots.method_scores_figure(RUN_ROWS)
    bar = fig.data[0]
    assert list(bar.x) == ["concat", "only:table", "late", "only:image"]
    assert np.allclose(bar.y, [0.85, 0.70, 0.65, 0.62])
    assert np.allclose(bar.error_y.array, [np.std([0.8, 0.9], ddof=1), 0, 0, np.std([0.6, 0.64], ddof=1)])
    assert bar.marker.color[0] == plots.FUSION_COLOR and bar.marker.color[1] == plots.BASELINE_COLOR


def test_gain_over_best_baseline():
    fig = plots.gain_over_baseline_figure(RUN_ROWS)
    bar = fig.data[0]
    assert list(bar.x) == ["concat", "late"]
    assert np.allclose(bar.y, [0.15, -0.05])
    assert "only:table" in fig.layout.yaxis.title.text


def test_gain_without_baseline_explains_itself():
    fig = plots.gain_over_baseline_figure([r for r in RUN_ROWS if not r["method"].startswith("only:")])
    assert len(fig.data) == 0
    assert "only:<modality>" in fig.layout.title.text


@pytest.mark.parametrize("x", ["params", "train_seconds"])
def test_efficiency_scatter_one_trace_per_method(x):
    fig = plots.efficiency_figure(RUN_ROWS, x=x)
    assert [t.name for t in fig.data] == ["only:image", "only:table", "concat", "late"]
    concat = fig.data[2]
    assert list(concat.y) == [0.8, 0.9]
    assert list(concat.x) == [float(r[x]) for r in RUN_ROWS if r["method"] == "concat"]


def test_efficiency_rejects_unknown_axis():
    with pytest.raises(ValueError, match="x must be one of"):
        plots.efficiency_figure(RUN_ROWS, x="flops")


def test_per_class_heatmap_values_and_gaps():
    fig = plots.per_class_heatmap_figure({"concat": {"a": 0.9, "b": 0.8}, "late": {"a": 0.5}}, ["a", "b"])
    heat = fig.data[0]
    assert list(heat.y) == ["concat", "late"]
    z = np.asarray(heat.z, dtype=float)
    assert z[0].tolist() == [0.9, 0.8] and z[1, 0] == 0.5 and np.isnan(z[1, 1])


def test_mean_per_class_f1_averages_over_runs_of_a_method():
    runs = [
        ("concat", {"a": {"f1": 0.8}, "b": {"f1": 0.6}}),
        ("concat", {"a": {"f1": 1.0}, "b": {"f1": 0.4}}),
        ("late", {"a": {"f1": 0.5}, "b": {"f1": 0.5}}),
    ]
    means = plots.mean_per_class_f1(runs)
    assert means["concat"] == pytest.approx({"a": 0.9, "b": 0.5})
    assert means["late"] == {"a": 0.5, "b": 0.5}


def test_series_figure_one_line_per_channel():
    values = np.stack([np.arange(5.0), -np.arange(5.0)], axis=1)
    fig = plots.series_figure(values, channel_names=["x", "y"])
    assert [t.name for t in fig.data] == ["x", "y"]
    assert list(fig.data[1].y) == [0, -1, -2, -3, -4]
    assert len(plots.series_figure(np.arange(4.0)).data) == 1


def test_spectrogram_figure_axes_in_seconds_and_hertz():
    spec = np.arange(12.0).reshape(1, 3, 4)
    fig = plots.spectrogram_figure(spec, times=[0, 0.01, 0.02, 0.03], frequencies=[100.0, 900.0, 3000.0])
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (3, 4)
    assert np.allclose(heat.x, [0, 0.01, 0.02, 0.03])
    assert list(fig.layout.yaxis.ticktext) == ["100", "900", "3000"]
    assert fig.layout.xaxis.title.text == "time (s)"
    plain = plots.spectrogram_figure(np.zeros((2, 5)))
    assert plain.layout.xaxis.title.text == "frame" and list(plain.data[0].y) == [0, 1]


def test_write_html(tmp_path):
    fig = plots.class_balance_figure({"a": 1, "b": 2})
    path = plots.write_html(fig, tmp_path / "sub" / "balance.html")
    text = path.read_text()
    assert "<html>" in text[:40] and "plotly" in text and '"a"' in text


def test_runs_with_the_same_method_and_seed_are_not_pooled_as_seeds():
    rows = [
        {"method": "concat", "label": "concat · seed 0", "seed": 0, "macro_f1": 0.80},
        {"method": "concat", "label": "concat · seed 0", "seed": 0, "macro_f1": 0.60},
        {"method": "late", "label": "late · seed 0", "seed": 0, "macro_f1": 0.70},
        {"method": "late", "label": "late · seed 1", "seed": 1, "macro_f1": 0.74},
    ]
    fig = plots.method_scores_figure(rows)
    bar = fig.data[0]
    assert list(bar.x) == ["concat · seed 0", "late", "concat · seed 0 (2)"]
    assert np.allclose(bar.y, [0.80, 0.72, 0.60])
    assert np.allclose(bar.error_y.array, [0.0, np.std([0.70, 0.74], ddof=1), 0.0])
    assert "over seeds" in fig.layout.title.text  # late's bar does pool two seeds
    single = plots.method_scores_figure(rows[:2])
    assert single.layout.title.text == "Macro-F1 by run"  # no bar pools seeds, so the title does not say so


def test_lab_chance_line_stays_clear_of_the_bar_labels():
    fig = plots.lab_figure({"only:A": 0.49, "only:B": 0.52, "concat": 0.97}, chance=0.5)
    bar = fig.data[0]
    # Labels sit inside each bar at its foot, far below the chance line at 0.5, and the line is drawn
    # under the bars, so it never runs through a number.
    assert bar.textposition == "inside" and bar.insidetextanchor == "start"
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 0.5 and line.layer == "below"


def test_class_names_with_markup_are_escaped_in_figures():
    from fusion_core.plots import class_balance_figure, confusion_matrix_figure

    names = ['<a href="https://example.com">click</a>', "<b>bold</b>"]
    figure = confusion_matrix_figure([[1, 0], [0, 1]], names)
    assert list(figure.data[0].x) == [
        '&lt;a href="https://example.com"&gt;click&lt;/a&gt;',
        "&lt;b&gt;bold&lt;/b&gt;",
    ]
    assert "<b>" not in str(class_balance_figure({"<b>bold</b>": 3}).data[0].x)


def test_figures_are_built_only_in_the_plots_package():
    """One home for figures: nothing else in the app imports plotly to build one."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sources = [
        *root.glob("fusion_core/**/*.py"),
        *root.glob("ui/*.py"),
        *root.glob("pages/*.py"),
        root / "app.py",
    ]
    outside = [
        str(path.relative_to(root))
        for path in sources
        if "plots" not in path.relative_to(root).parts
        and ("import plotly" in path.read_text() or "from plotly" in path.read_text())
    ]
    assert outside == []
    assert (root / "fusion_core/plots/robustness.py").exists()
    assert (
        not (root / "fusion_core/plots.py").exists()
        and not (root / "fusion_core/analysis/figures.py").exists()
    )
