"""Figures of robustness: the score against growing damage, per modality or run by run.

Each takes the report of ``fusion_core.analysis.robustness``: its ``metric`` is macro-F1, or R²
for a regression task.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from fusion_core.plots.style import BASELINE_COLOR, METRIC_TITLES, _layout, as_text, color


def robustness_figure(report: Mapping, corruption: str, *, title: str | None = None) -> go.Figure:
    """The score against severity for one kind of damage, one line per modality (and "all" for attacks);
    the dotted line is the clean score."""
    curves = [c for c in (*report["curves"], *report["adversarial"]) if c["corruption"] == corruption]
    return _severity_figure(
        {c["modality"]: c for c in curves}, report["clean_score"], report["metric"], title=title
    )


def robustness_overlay_figure(
    reports: Mapping[str, Mapping], corruption: str, modality: str, *, title: str | None = None
) -> go.Figure:
    """One kind of damage on one modality, one line per run: which method holds up best."""
    curves = {}
    for label, report in reports.items():
        for curve in (*report["curves"], *report["adversarial"]):
            if (curve["corruption"], curve["modality"]) == (corruption, modality):
                curves[label] = curve
    metric = next(iter(reports.values()))["metric"] if reports else "macro_f1"
    return _severity_figure(curves, None, metric, title=title)


def _severity_figure(
    curves: Mapping[str, Mapping], clean: float | None, metric: str, *, title: str | None
) -> go.Figure:
    score = METRIC_TITLES[metric]
    fig = go.Figure()
    for i, (name, curve) in enumerate(curves.items()):
        fig.add_trace(
            go.Scatter(
                x=curve["levels"],
                y=curve["score"],
                mode="lines+markers",
                name=f"{as_text(name)} ({curve['robustness']:.2f})",
                line={"color": color(i)},
                hovertemplate=f"{as_text(name)}<br>severity %{{x:g}}: {score} %{{y:.3f}}<extra></extra>",
            )
        )
    if clean is not None:
        fig.add_hline(y=clean, line_dash="dot", line_color=BASELINE_COLOR)
    unit = next(iter(curves.values()))["unit"] if curves else "severity"
    fig.update_xaxes(title=unit)
    # R² can fall below zero under heavy damage; macro-F1 stays within 0..1.
    fig.update_yaxes(title=score, range=None if metric == "r2" else [0, 1.05])
    return _layout(fig, title)
