"""Figures of a regression run: predicted against true, residuals, error per modality subset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from fusion_core.plots.style import BASELINE_COLOR, FUSION_COLOR, NEGATIVE_COLOR, _layout


def _points(x: np.ndarray, y: np.ndarray, hover: str) -> go.Figure:
    """One marker per test sample, in the fusion colour."""
    marker = {"color": FUSION_COLOR, "opacity": 0.6, "size": 6}
    return go.Figure(
        go.Scatter(x=x, y=y, mode="markers", marker=marker, hovertemplate=hover + "<extra></extra>")
    )


def predicted_vs_true_figure(
    y_true: Sequence[float] | np.ndarray,
    y_pred: Sequence[float] | np.ndarray,
    *,
    title: str | None = "Predicted against true (dashed: perfect)",
) -> go.Figure:
    """One point per test sample; points on the dashed diagonal are predicted exactly."""
    truth, predicted = np.asarray(y_true, float), np.asarray(y_pred, float)
    low = float(min(truth.min(), predicted.min())) if truth.size else 0.0
    high = float(max(truth.max(), predicted.max())) if truth.size else 1.0
    fig = _points(truth, predicted, "true %{x:.3g}<br>predicted %{y:.3g}")
    fig.add_shape(
        type="line", x0=low, y0=low, x1=high, y1=high, line={"dash": "dash", "color": BASELINE_COLOR}
    )
    fig.update_xaxes(title_text="true value")
    fig.update_yaxes(title_text="predicted value")
    return _layout(fig, title, showlegend=False)


def residuals_figure(
    y_true: Sequence[float] | np.ndarray,
    y_pred: Sequence[float] | np.ndarray,
    *,
    title: str | None = "Residuals (true − predicted) against predicted",
) -> go.Figure:
    """A shapeless band around zero is good; a curve or a funnel shows what the model misses."""
    truth, predicted = np.asarray(y_true, float), np.asarray(y_pred, float)
    fig = _points(predicted, truth - predicted, "predicted %{x:.3g}<br>residual %{y:.3g}")
    fig.add_hline(y=0, line_dash="dash", line_color=BASELINE_COLOR)
    fig.update_xaxes(title_text="predicted value")
    fig.update_yaxes(title_text="residual")
    return _layout(fig, title, showlegend=False)


def subset_error_figure(
    errors: Mapping[str, float],
    *,
    metric: str = "RMSE",
    title: str | None = "Error with each subset of modalities shown",
) -> go.Figure:
    """Bars of the error (lower is better) when only the named modalities are shown, e.g.
    ``{"A + B": 0.4, "A": 1.1, "B": 1.0, "none": 1.2}``; the full set is drawn in the fusion colour."""
    names = list(errors)
    full = max(names, key=lambda n: n.count("+")) if names else None
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[errors[n] for n in names],
            marker_color=[
                FUSION_COLOR if n == full else BASELINE_COLOR if n != "none" else NEGATIVE_COLOR
                for n in names
            ],
            text=[f"{errors[n]:.3g}" for n in names],
            textposition="outside",
            hovertemplate="%{x}: " + metric + " %{y:.3g}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title_text="modalities shown")
    fig.update_yaxes(title_text=f"{metric} (lower is better)", rangemode="tozero")
    return _layout(fig, title, showlegend=False)
