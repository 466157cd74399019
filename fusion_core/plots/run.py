"""Figures of one run: confusion matrix, per-class scores, training curves, ROC, class balance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fusion_core.plots.style import (
    BASELINE_COLOR,
    F1_COLOR,
    METRIC_COLORS,
    TRAIN_COLOR,
    VAL_COLOR,
    _field,
    _layout,
    _palette,
    as_text,
)


def confusion_matrix_figure(
    matrix: Sequence[Sequence[int]] | np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: bool = False,
    title: str | None = "Confusion matrix",
) -> go.Figure:
    """A heatmap: rows are the true class, columns the predicted class.

    With ``normalize=True`` each row is divided by its total, so a cell reads as
    "the share of samples of this true class that were predicted as that class"
    and the diagonal is the per-class recall.
    """
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(class_names):
        raise ValueError(
            f"confusion matrix of shape {counts.shape} does not match {len(class_names)} class names"
        )
    names = [as_text(c) for c in class_names]
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text = [[f"{v:.2f}" for v in row] for row in values]
        colorbar_title = "share of row"
        zmax = 1.0
    else:
        values = counts
        text = [[str(int(v)) for v in row] for row in values]
        colorbar_title = "samples"
        zmax = float(values.max()) if values.size else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=zmax or 1.0,
            colorbar={"title": {"text": colorbar_title}},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed")
    return _layout(fig, title)


def per_class_metrics_figure(
    per_class: Mapping[str, Mapping[str, float]],
    *,
    title: str | None = "Per-class precision, recall and F1",
) -> go.Figure:
    """Grouped bars of precision, recall and F1 for each class.

    ``per_class`` is ``metrics["per_class"]``: ``{class: {"precision", "recall", "f1", "support"}}``.
    """
    classes = [as_text(c) for c in per_class]
    fig = go.Figure()
    for metric, color in METRIC_COLORS.items():
        fig.add_trace(
            go.Bar(
                name=metric,
                x=classes,
                y=[float(per_class[c].get(metric, 0.0)) for c in per_class],
                marker_color=color,
                hovertemplate=f"%{{x}}<br>{metric} %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05], title_text="score")
    fig.update_xaxes(type="category", title_text="class")
    return _layout(fig, title)


def training_curves_figure(
    histories: Sequence[Any] | Mapping[str, Sequence[Any]],
    *,
    title: str | None = "Training curves",
) -> go.Figure:
    """Loss (left) and validation macro-F1 (right) per epoch.

    ``histories`` is one run's list of ``EpochLog`` records, or ``{label: history}``
    for several runs. For one run both training and validation loss are drawn;
    for several runs the validation loss of each, in one colour per run, so that
    the curves can be told apart.
    """
    if isinstance(histories, Mapping):
        runs = {str(label): list(history) for label, history in histories.items()}
    else:
        runs = {"": list(histories)}
    single = len(runs) == 1
    # A regression run's epochs carry a validation R² instead of macro-F1.
    regression = any(_field(e, "val_r2") is not None for history in runs.values() for e in history)
    score_key, score_name = (
        ("val_r2", "validation R²") if regression else ("val_macro_f1", "validation macro-F1")
    )
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", score_name), horizontal_spacing=0.12)
    palette = _palette(len(runs))
    for (label, history), color in zip(runs.items(), palette, strict=True):
        epochs = [int(_field(e, "epoch")) for e in history]
        prefix = f"{label} · " if label else ""
        if single:
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[float(_field(e, "train_loss")) for e in history],
                    name=f"{prefix}train loss",
                    mode="lines+markers",
                    line={"color": TRAIN_COLOR},
                ),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[float(_field(e, "val_loss")) for e in history],
                name=f"{prefix}validation loss",
                mode="lines+markers",
                line={"color": VAL_COLOR if single else color},
                legendgroup=label,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[float(_field(e, score_key)) for e in history],
                name=f"{prefix}{score_name}",
                mode="lines+markers",
                line={"color": F1_COLOR if single else color},
                legendgroup=label,
                showlegend=single,
            ),
            row=1,
            col=2,
        )
    longest = max((len(history) for history in runs.values()), default=0)
    fig.update_xaxes(title_text="epoch", **({"tick0": 1, "dtick": 1} if longest <= 15 else {}))
    fig.update_yaxes(title_text="squared error" if regression else "cross-entropy", row=1, col=1)
    if not regression:  # R² can fall below 0
        fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    return _layout(fig, title)


def roc_figure(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str | None = "ROC curves (one class against the rest)",
) -> go.Figure:
    """One ROC curve per class, treating that class as positive and all others as negative.

    The area under each curve (AUC) is in the legend; 0.5 is chance, 1.0 perfect.
    A class with no positive or no negative test sample has no curve.
    """
    labels = np.asarray(y_true, dtype=int)
    scores = np.asarray(probabilities, dtype=float)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0] or scores.shape[1] != len(class_names):
        raise ValueError(
            f"probabilities of shape {scores.shape} do not match {labels.shape[0]} samples "
            f"and {len(class_names)} classes"
        )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash", "color": BASELINE_COLOR}
        )
    )
    for index, (name, color) in enumerate(zip(class_names, _palette(len(class_names)), strict=True)):
        positive = labels == index
        if positive.all() or not positive.any():
            continue
        fpr, tpr = roc_points(positive, scores[:, index])
        auc = float(np.trapezoid(tpr, fpr))
        fig.add_trace(
            go.Scatter(
                x=fpr, y=tpr, mode="lines", name=f"{as_text(name)} (AUC {auc:.2f})", line={"color": color}
            )
        )
    fig.update_xaxes(title_text="false positive rate", range=[0, 1])
    fig.update_yaxes(title_text="true positive rate", range=[0, 1.02])
    return _layout(fig, title, legend="right")


def roc_points(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1).

    Samples with equal scores cross the threshold together, so ties move the curve diagonally.
    """
    order = np.argsort(-score, kind="stable")
    sorted_scores = score[order]
    hits = positive[order].astype(float)
    true_pos = np.cumsum(hits)
    false_pos = np.cumsum(1.0 - hits)
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    tpr = np.r_[0.0, true_pos[last_of_tie] / true_pos[-1]]
    fpr = np.r_[0.0, false_pos[last_of_tie] / false_pos[-1]]
    return fpr, tpr


def class_balance_figure(counts: Mapping[str, int], *, title: str | None = "Samples per class") -> go.Figure:
    """Bars of how many samples each class has; an uneven picture warns that accuracy may mislead."""
    classes = [as_text(c) for c in counts]
    values = [int(v) for v in counts.values()]
    fig = go.Figure(
        go.Bar(
            x=classes,
            y=values,
            text=values,
            textposition="auto",
            marker_color=TRAIN_COLOR,
            hovertemplate="%{x}: %{y} samples<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title_text="class")
    fig.update_yaxes(title_text="samples")
    return _layout(fig, title, showlegend=False)
