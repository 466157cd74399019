"""Figures of the analysis: contributions, Shapley values, weights, gradients, projections, the lab.

Each takes the plain dicts that ``fusion_core.analysis`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from fusion_core.plots.style import (
    BASELINE_COLOR,
    FUSION_COLOR,
    METRIC_TITLES,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    _layout,
    as_text,
    color,
)


def contribution_figure(
    contribution: Mapping, *, title: str | None = "What hiding each modality costs"
) -> go.Figure:
    """Bars of the macro-F1 drop when each modality is hidden at test time, with the full score as a note."""
    drop: Mapping[str, float] = contribution["drop"]
    score = METRIC_TITLES.get(contribution.get("metric", "macro_f1"), "macro-F1")
    names = sorted(drop, key=drop.__getitem__, reverse=True)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[drop[n] for n in names],
            marker_color=[POSITIVE_COLOR if drop[n] >= 0 else NEGATIVE_COLOR for n in names],
            text=[f"{drop[n]:+.2f}" for n in names],
            textposition="outside",
            customdata=[[contribution["without"][n], contribution["alone"][n]] for n in names],
            hovertemplate=(
                "hide %{x}: " + score + " falls by %{y:.3f}<br>without it: %{customdata[0]:.3f}"
                "<br>with it alone: %{customdata[1]:.3f}<extra></extra>"
            ),
        )
    )
    fig.update_yaxes(title=f"{score} lost when hidden", zeroline=True)
    fig.update_xaxes(title="hidden modality")
    return _layout(fig, title, showlegend=False)


def shapley_figure(
    contribution: Mapping, *, title: str | None = "Shapley value of each modality"
) -> go.Figure:
    """Bars of each modality's Shapley value; they add up to v(all) − v(none)."""
    shapley: Mapping[str, float] | None = contribution.get("shapley")
    fig = go.Figure()
    if shapley:
        names = sorted(shapley, key=shapley.__getitem__, reverse=True)
        fig.add_bar(
            x=names,
            y=[shapley[n] for n in names],
            marker_color=[color(i) for i in range(len(names))],
            text=[f"{shapley[n]:.2f}" for n in names],
            textposition="outside",
            hovertemplate="%{x}: %{y:.3f} of macro-F1<extra></extra>",
        )
        total = contribution["full"] - contribution["empty"]
        fig.add_annotation(
            text=f"sum = {total:.2f} = macro-F1 with all ({contribution['full']:.2f}) − with none "
            f"({contribution['empty']:.2f})",
            xref="paper",
            yref="paper",
            x=0,
            y=1.0,
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
        )
    fig.update_yaxes(title="share of macro-F1", zeroline=True)
    return _layout(fig, title, showlegend=False)


def weight_label(key: str) -> str:
    """``"attention"`` → ``"attention weights"``; names that already say what they are stay as they are."""
    return key if ("weight" in key or "probabilit" in key) else f"{key} weights"


def weights_figure(weights: Mapping, key: str | None = None, *, title: str | None = None) -> go.Figure:
    """Box plots of one kind of exposed weight, one box per (modality, true class)."""
    kinds = weights.get("kinds") or {}
    fig = go.Figure()
    if not kinds:
        return _layout(fig, title, legend="right")
    key = key or next(iter(kinds))
    kind = kinds[key]
    class_names = weights["class_names"]
    y_true = list(weights["y_true"])
    values = kind["values"]
    for c, class_name in enumerate(class_names):
        rows = [i for i, y in enumerate(y_true) if y == c]
        if not rows:
            continue
        xs, ys = [], []
        for j, column in enumerate(kind["columns"]):
            xs += [column] * len(rows)
            ys += [values[i][j] for i in rows]
        fig.add_box(x=xs, y=ys, name=as_text(class_name), marker_color=color(c), boxmean=True)
    fig.update_layout(boxmode="group", legend_title_text="true class")
    fig.update_yaxes(title=weight_label(key))
    fig.update_xaxes(title="modality")
    return _layout(
        fig,
        title
        if title is not None
        else f"{weight_label(key)[:1].upper()}{weight_label(key)[1:]}, by true class",
        legend="right",
    )


def gradient_figure(
    summary: Mapping, *, title: str | None = "Gradient reaching each modality's encoder"
) -> go.Figure:
    """One line per modality: the mean gradient norm of its encoder, epoch by epoch."""
    fig = go.Figure()
    epochs = summary.get("epochs", [])
    for i, (name, series) in enumerate(summary.get("norms", {}).items()):
        width = 4 if name == summary.get("dominant") else 2
        fig.add_scatter(
            x=epochs, y=series, mode="lines+markers", name=name, line={"color": color(i), "width": width}
        )
    fig.update_xaxes(title="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_yaxes(title="gradient norm", rangemode="tozero")
    return _layout(fig, title, legend="right")


def projection_figure(projection: Mapping, which: str = "pca", *, title: str | None = None) -> go.Figure:
    """Scatter of the 2-D projection coloured by true class; misclassified samples drawn as crosses."""
    fig = go.Figure()
    coords = projection.get(which)
    if not projection.get("available") or not coords:
        return _layout(fig, title, legend="right")
    rows = coords.get("rows", list(range(len(coords["x"]))))
    class_names = projection["class_names"]
    y_true, y_pred, ids = projection["y_true"], projection["y_pred"], projection["ids"]
    for c, class_name in enumerate(class_names):
        picked = [k for k, r in enumerate(rows) if y_true[r] == c]
        if not picked:
            continue
        wrong = [y_pred[rows[k]] != c for k in picked]
        fig.add_scattergl(
            x=[coords["x"][k] for k in picked],
            y=[coords["y"][k] for k in picked],
            mode="markers",
            name=as_text(class_name),
            marker={
                "color": color(c),
                "symbol": ["x" if w else "circle" for w in wrong],
                "size": [10 if w else 6 for w in wrong],
                "opacity": 0.8,
                "line": {"width": [1 if w else 0 for w in wrong], "color": "#000000"},
            },
            customdata=[[ids[rows[k]], class_names[y_pred[rows[k]]]] for k in picked],
            hovertemplate="%{customdata[0]}<br>true "
            + str(class_name)
            + "<br>predicted %{customdata[1]}<extra></extra>",
        )
    fig.update_layout(legend_title_text="true class (× = misclassified)")
    if which == "pca" and coords.get("explained"):
        explained = coords["explained"] + [0.0] * (2 - len(coords["explained"]))
        fig.update_xaxes(title=f"PC 1 ({explained[0]:.0%} of variance)")
        fig.update_yaxes(title=f"PC 2 ({explained[1]:.0%} of variance)")
    else:
        fig.update_xaxes(title="t-SNE 1", showticklabels=False)
        fig.update_yaxes(title="t-SNE 2", showticklabels=False)
    return _layout(fig, title, legend="right")


def lab_figure(
    macro_f1: Mapping[str, float],
    *,
    chance: float,
    title: str | None = "Macro-F1 on the test split (dashed line: chance)",
) -> go.Figure:
    """Side-by-side macro-F1 bars, single-modality baselines in grey, with the chance line."""
    methods: Sequence[str] = list(macro_f1)
    fig = go.Figure(
        go.Bar(
            x=methods,
            y=[macro_f1[m] for m in methods],
            marker_color=[BASELINE_COLOR if m.startswith("only:") else FUSION_COLOR for m in methods],
            text=[f"{macro_f1[m]:.2f}" for m in methods],
            # At the foot of each bar, well below the chance line, so the line never strikes a number.
            textposition="inside",
            insidetextanchor="start",
            textfont={"color": "white"},
            hovertemplate="%{x}: macro-F1 %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=chance, line_dash="dash", line_color=NEGATIVE_COLOR, layer="below")
    fig.update_yaxes(title="macro-F1", range=[0, 1.1])
    return _layout(fig, title, showlegend=False)
