"""Figures that compare runs: scores by method, gain over a single modality, tuning, efficiency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from fusion_core.plots.style import (
    BASELINE_COLOR,
    METRIC_TITLES,
    NEGATIVE_COLOR,
    NEURAL_GROUP,
    POSITIVE_COLOR,
    SK_COLOR,
    SK_GROUP,
    SK_PALETTE,
    _field,
    _layout,
    _method_color,
    _palette,
    as_text,
    is_baseline,
    is_classical,
)


def _group(rows: Sequence[Mapping[str, Any]], key: str, value: str) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get(value) is not None:
            grouped[str(row[key])].append(float(row[value]))
    return dict(grouped)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


SCORES_TITLE = "Macro-F1 by method (mean ± standard deviation over seeds)"


def score_groups(
    rows: Sequence[Mapping[str, Any]], metric: str = "macro_f1"
) -> dict[str, tuple[str, list[float]]]:
    """Bar name → (method, scores): one bar per method, its runs pooled over seeds or folds.

    Runs of a method pool only when each has its own seed (and fold); two runs with the
    same method and seed differ in something else (epochs, options), so each keeps a bar
    of its own, named by its label.
    """
    by_method: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get(metric) is not None:
            by_method[str(row["method"])].append(row)
    groups: dict[str, tuple[str, list[float]]] = {}
    for method, runs in by_method.items():
        keys = [(row.get("seed"), row.get("fold")) for row in runs if row.get("seed") is not None]
        if len(keys) == len(set(keys)):
            groups[method] = (method, [float(row[metric]) for row in runs])
            continue
        for row in runs:
            name = str(row.get("label") or method)
            unique, count = name, 2
            while unique in groups:
                unique, count = f"{name} ({count})", count + 1
            groups[unique] = (method, [float(row[metric])])
    return groups


def method_scores_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    metric: str = "macro_f1",
    title: str | None = SCORES_TITLE,
) -> go.Figure:
    """Bars of the mean score per method with error bars over its runs (seeds or folds).

    ``rows`` has one dict per run with at least ``method`` and ``metric`` (and ``seed``,
    ``fold``, ``label`` where known: see ``score_groups``). Neural methods come first,
    in one trace: unimodal baselines (``only:…``) grey, fusion methods blue. Classical
    ``sk:`` baselines follow in their own trace, colour and legend group, with a dashed
    line at the best of them, so the eye sees at once whether deep fusion beats a strong
    simple model. Bars are sorted from best to worst within each group. The default
    title speaks of seeds only when some bar pools several runs.
    """
    groups = score_groups(rows, metric)
    stats = sorted(
        ((name, method, *_mean_std(values), len(values)) for name, (method, values) in groups.items()),
        key=lambda s: -s[2],
    )
    if title == SCORES_TITLE and all(s[4] == 1 for s in stats):
        title = f"{METRIC_TITLES.get(metric, metric)} by run"
    elif title == SCORES_TITLE:
        title = SCORES_TITLE.replace("Macro-F1", METRIC_TITLES.get(metric, metric))
    fig = go.Figure()
    for group, members in (
        (NEURAL_GROUP, [s for s in stats if not is_classical(s[1])]),
        (SK_GROUP, [s for s in stats if is_classical(s[1])]),
    ):
        if not members:
            continue
        fig.add_trace(
            go.Bar(
                x=[s[0] for s in members],
                y=[s[2] for s in members],
                name=group,
                legendgroup=group,
                error_y={"type": "data", "array": [s[3] for s in members], "visible": True},
                marker_color=[_method_color(s[1]) for s in members],
                customdata=[[s[3], s[4]] for s in members],
                hovertemplate="%{x}<br>mean %{y:.3f} ± %{customdata[0]:.3f}<br>%{customdata[1]} runs<extra></extra>",
                text=[f"{s[2]:.3f}" for s in members],
                textposition="outside",
            )
        )
    classical = [s for s in stats if is_classical(s[1])]
    if classical and len(classical) < len(stats):
        best = classical[0]
        fig.add_hline(
            y=best[2],
            line_dash="dash",
            line_color=SK_COLOR,
            annotation_text=f"best sk: baseline ({best[0]}, {best[2]:.3f})",
            annotation_position="top left",
        )
    fig.update_xaxes(type="category", title_text="method")
    # R² has no floor (a model worse than the mean is negative); the classification scores lie in [0, 1].
    fig.update_yaxes(
        range=None if metric == "r2" else [0, 1.08], title_text=METRIC_TITLES.get(metric, metric)
    )
    return _layout(fig, title, showlegend=bool(classical))


def gain_over_baseline_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    metric: str = "macro_f1",
    intervals: Mapping[str, tuple[float, float]] | None = None,
    title: str | None = "Gain over the best single modality",
) -> go.Figure:
    """How much each method's mean score beats (or trails) the best unimodal neural baseline.

    The baseline is the ``only:<modality>`` method with the highest mean. Without any
    baseline among the rows the figure holds no bars and says so in its title.
    Neural fusion methods are green (gain) or red (loss); classical ``sk:`` rows
    follow in their own trace and colour. ``intervals`` (``{method: (low, high)}``,
    the 95 % interval of the paired difference, see ``fusion_core.stats``) draws error
    bars; a bar whose interval includes zero is drawn pale: its gain is within noise.
    """
    grouped = _group(rows, "method", metric)
    means = {m: _mean_std(v)[0] for m, v in grouped.items()}
    baselines = {m: v for m, v in means.items() if is_baseline(m)}
    fig = go.Figure()
    if not baselines:
        return _layout(fig, "Gain over the best single modality: train an only:<modality> baseline to see it")
    best_name, best = max(baselines.items(), key=lambda kv: kv[1])
    gains = sorted(((m, v - best) for m, v in means.items() if not is_baseline(m)), key=lambda kv: -kv[1])
    intervals = intervals or {}
    for group, members in (
        (NEURAL_GROUP, [g for g in gains if not is_classical(g[0])]),
        (SK_GROUP, [g for g in gains if is_classical(g[0])]),
    ):
        if not members:
            continue
        error = None
        if any(m in intervals for m, _ in members):
            error = {
                "type": "data",
                "symmetric": False,
                "array": [intervals[m][1] - g if m in intervals else 0 for m, g in members],
                "arrayminus": [g - intervals[m][0] if m in intervals else 0 for m, g in members],
                "color": BASELINE_COLOR,
            }
        fig.add_trace(
            go.Bar(
                x=[m for m, _ in members],
                y=[g for _, g in members],
                name=group,
                legendgroup=group,
                marker_color=[
                    SK_COLOR if group == SK_GROUP else POSITIVE_COLOR if g >= 0 else NEGATIVE_COLOR
                    for _, g in members
                ],
                marker_opacity=[
                    0.35 if m in intervals and intervals[m][0] <= 0 <= intervals[m][1] else 1.0
                    for m, _ in members
                ],
                error_y=error,
                text=[f"{g:+.3f}" for _, g in members],
                textposition="outside",
                hovertemplate="%{x}<br>%{y:+.3f} over " + best_name + "<extra></extra>",
            )
        )
    fig.add_hline(y=0, line_color=BASELINE_COLOR)
    fig.update_xaxes(type="category", title_text="method")
    fig.update_yaxes(title_text=f"{METRIC_TITLES.get(metric, metric)} minus {best_name} ({best:.3f})")
    return _layout(fig, title, showlegend=any(is_classical(m) for m, _ in gains))


def tuning_history_figure(studies: Sequence[Any], *, title: str | None = None) -> go.Figure:
    """Best-so-far validation score (macro-F1, or R² for regression) against trial number, one line
    per method's study; the default title names the score.

    ``studies`` are ``fusion_core.tuning.StudySummary`` objects (or their ``to_dict()``);
    each trial's own score is drawn as a faint dot.
    """
    score = METRIC_TITLES[_field(studies[0], "metric", "macro_f1") if studies else "macro_f1"]
    if title is None:
        title = f"Tuning: best validation {score} so far"
    fig = go.Figure()
    palette = _palette(len(studies))
    for study, color in zip(studies, palette, strict=True):
        method = str(_field(study, "method"))
        values = list(_field(study, "values", None) or _field(study, "val_macro_f1_by_trial", []))
        best, running = None, []
        for value in values:
            if value is not None:
                best = value if best is None else max(best, value)
            running.append(best)
        trials = list(range(1, len(values) + 1))
        fig.add_trace(
            go.Scatter(x=trials, y=running, name=method, mode="lines", line={"color": color, "shape": "hv"})
        )
        fig.add_trace(
            go.Scatter(
                x=trials,
                y=values,
                name=f"{method} · each trial",
                mode="markers",
                marker={"color": color, "opacity": 0.4, "size": 6},
                showlegend=False,
            )
        )
    longest = max((len(trace.x) for trace in fig.data), default=0)
    fig.update_xaxes(title_text="trial", dtick=1 if longest <= 20 else None)
    fig.update_yaxes(title_text=f"validation {score}")
    return _layout(fig, title)


def efficiency_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    x: str = "params",
    metric: str = "macro_f1",
    title: str | None = None,
) -> go.Figure:
    """A scatter of the score against model size (``x="params"``) or training time (``x="train_seconds"``).

    One point per run; points of the same method share a colour. Up and to the
    left is better: more accurate for less.
    """
    axis_titles = {"params": "trainable parameters", "train_seconds": "training time (s)"}
    if x not in axis_titles:
        raise ValueError(f"x must be one of {', '.join(axis_titles)}, got {x!r}")
    by_method: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get(x) is not None and row.get(metric) is not None:
            by_method[str(row["method"])].append(row)
    fig = go.Figure()
    neural_colors = iter(_palette(len(by_method)))
    sk_colors = iter(SK_PALETTE * (1 + len(by_method) // len(SK_PALETTE)))
    for method, method_rows in by_method.items():
        classical = is_classical(method)
        symbol = "square" if classical else "diamond" if is_baseline(method) else "circle"
        fig.add_trace(
            go.Scatter(
                x=[float(r[x]) for r in method_rows],
                y=[float(r[metric]) for r in method_rows],
                mode="markers",
                name=method,
                legendgroup=SK_GROUP if classical else NEURAL_GROUP,
                legendgrouptitle_text=SK_GROUP if classical else NEURAL_GROUP,
                marker={
                    "size": 11,
                    "color": next(sk_colors if classical else neural_colors),
                    "symbol": symbol,
                },
                text=[str(r.get("label", method)) for r in method_rows],
                hovertemplate="%{text}<br>%{x:,.0f} · %{y:.3f}<extra></extra>"
                if x == "params"
                else "%{text}<br>%{x:.1f} s · %{y:.3f}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text=axis_titles[x], type="log" if x == "params" else "linear")
    fig.update_yaxes(title_text=METRIC_TITLES.get(metric, metric))
    default = f"{METRIC_TITLES.get(metric, metric)} against {axis_titles[x]}"
    return _layout(fig, title if title is not None else default)


def mean_per_class_f1(
    runs: Sequence[tuple[str, Mapping[str, Mapping[str, float]]]],
) -> dict[str, dict[str, float]]:
    """Average each class's F1 over the runs of a method: ``[(method, per_class)]`` → ``{method: {class: f1}}``."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for method, per_class in runs:
        for cls, scores in per_class.items():
            sums[str(method)][str(cls)].append(float(scores["f1"]))
    return {m: {c: float(np.mean(v)) for c, v in by_class.items()} for m, by_class in sums.items()}


def per_class_heatmap_figure(
    scores: Mapping[str, Mapping[str, float]],
    class_names: Sequence[str],
    *,
    title: str | None = "Per-class F1 by method",
) -> go.Figure:
    """Methods (rows) × classes (columns), each cell the F1 of that class; shows which method wins where."""
    methods = list(scores)
    names = [str(c) for c in class_names]
    values = [[scores[m].get(c) for c in names] for m in methods]
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in values]
    fig = go.Figure(
        go.Heatmap(
            z=[[np.nan if v is None else float(v) for v in row] for row in values],
            x=[as_text(name) for name in names],
            y=methods,
            text=text,
            texttemplate="%{text}",
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "F1"}},
            hovertemplate="%{y}<br>class %{x}<br>F1 %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title_text="class")
    fig.update_yaxes(type="category", autorange="reversed")
    return _layout(fig, title)
