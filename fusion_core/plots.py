"""Plotly figures that the app's pages and the CLI both draw.

Every function here is pure: it takes plain numbers (lists, arrays, the
records that training and the run store hand back) and returns a
``plotly.graph_objects.Figure``. Nothing here imports Streamlit, so the same
figure can be shown in the app with ``st.plotly_chart`` or written to an HTML
file with :func:`write_html`.

Records from training (``EpochLog``) may arrive as dataclasses or, after a
round trip through JSON, as dicts; both are accepted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Colours for train/validation and for the three fusion families, chosen to stay
# readable for the common colour-vision deficiencies.
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
F1_COLOR = "#2ca02c"
BASELINE_COLOR = "#7f7f7f"
FUSION_COLOR = "#1f77b4"
SK_COLOR = "#e69f00"  # classical sk: baselines: their own colour, apart from every neural method
SK_PALETTE = ("#e69f00", "#d55e00", "#cc79a7", "#8c564b", "#f0e442", "#bcbd22")
NEURAL_GROUP = "neural methods"
SK_GROUP = "classical baselines (sk:)"
METRIC_TITLES = {"macro_f1": "Macro-F1", "accuracy": "Accuracy", "weighted_f1": "Weighted F1"}
METRIC_COLORS = {"precision": "#1f77b4", "recall": "#ff7f0e", "f1": "#2ca02c"}


def _field(record: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a dataclass-like object or a mapping."""
    if isinstance(record, Mapping):
        return record.get(key, default)
    return getattr(record, key, default)


def _layout(fig: go.Figure, title: str | None, *, legend: str = "below", **extra: Any) -> go.Figure:
    """Title at the top left; the legend below the plot (or at the ``right``), never over the title."""
    if legend == "right":
        legend_layout = {"orientation": "v", "yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02}
        bottom = 50
    else:
        legend_layout = {"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0}
        bottom = 50 if extra.get("showlegend") is False else 100
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"} if title else None,
        margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": bottom},
        legend=legend_layout,
        **extra,
    )
    return fig


def is_baseline(method: str) -> bool:
    """A unimodal baseline is named ``only:<modality>``."""
    return str(method).startswith("only:")


def is_classical(method: str) -> bool:
    """A classical scikit-learn baseline is named ``sk:…`` (``fusion_core.baselines``; not imported
    here, so that pages drawing figures do not load torch)."""
    return str(method).startswith("sk:")


def _method_color(method: str) -> str:
    if is_classical(method):
        return SK_COLOR
    return BASELINE_COLOR if is_baseline(method) else FUSION_COLOR


# --- one run --------------------------------------------------------------------------------------


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
    names = [str(c) for c in class_names]
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
    classes = [str(c) for c in per_class]
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
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("loss", "validation macro-F1"), horizontal_spacing=0.12
    )
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
                y=[float(_field(e, "val_macro_f1")) for e in history],
                name=f"{prefix}validation macro-F1",
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
    fig.update_yaxes(title_text="cross-entropy", row=1, col=1)
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
            go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name} (AUC {auc:.2f})", line={"color": color})
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
    classes = [str(c) for c in counts]
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


# --- several runs -----------------------------------------------------------------------------------


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
    fig.update_yaxes(range=[0, 1.08], title_text=METRIC_TITLES.get(metric, metric))
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
                    SK_COLOR if group == SK_GROUP else "#2ca02c" if g >= 0 else "#d62728" for _, g in members
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


def tuning_history_figure(
    studies: Sequence[Any], *, title: str | None = "Tuning: best validation macro-F1 so far"
) -> go.Figure:
    """Best-so-far validation macro-F1 against trial number, one line per method's study.

    ``studies`` are ``fusion_core.tuning.StudySummary`` objects (or their ``to_dict()``);
    each trial's own score is drawn as a faint dot.
    """
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
    fig.update_yaxes(title_text="validation macro-F1")
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
            x=names,
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


# --- previews -------------------------------------------------------------------------------------


def series_figure(
    values: np.ndarray,
    *,
    channel_names: Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """A time series of shape ``(T,)`` or ``(T, C)`` as one line per channel."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"a series must have shape (T,) or (T, C), got {array.shape}")
    names = (
        list(channel_names) if channel_names is not None else [f"channel {i}" for i in range(array.shape[1])]
    )
    fig = go.Figure()
    steps = np.arange(array.shape[0])
    for index, name in enumerate(names):
        fig.add_trace(go.Scatter(x=steps, y=array[:, index], mode="lines", name=str(name)))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="value")
    return _layout(fig, title, showlegend=array.shape[1] > 1, height=260)


def spectrogram_figure(
    spectrogram: np.ndarray,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    frequencies: Sequence[float] | np.ndarray | None = None,
    title: str | None = "Spectrogram",
) -> go.Figure:
    """A heatmap of a spectrogram ``(frequency bands, frames)``: what an audio encoder sees.

    With ``times`` (seconds per frame) and ``frequencies`` (Hz per band), as
    ``fusion_core.modalities.audio.clip_spectrogram`` returns them, the axes read
    in seconds and hertz; otherwise in frames and bands.
    """
    array = np.asarray(spectrogram, dtype=float)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"a spectrogram must have shape (bands, frames), got {array.shape}")
    bands, frames = array.shape
    x = np.asarray(times, dtype=float) if times is not None else np.arange(frames)
    hertz = np.asarray(frequencies, dtype=float) if frequencies is not None else None
    # Mel bands are not evenly spaced in Hz: rows stay band indices, ticks and hover text give each centre.
    fig = go.Figure(
        go.Heatmap(
            z=array,
            x=x,
            y=np.arange(bands),
            customdata=np.broadcast_to(hertz[:, None], array.shape) if hertz is not None else None,
            colorscale="Magma",
            colorbar={"title": {"text": "log energy"}},
            hovertemplate=(
                "%{x:.2f} s · %{customdata:.0f} Hz<br>%{z:.2f}<extra></extra>"
                if frequencies is not None and times is not None
                else "%{x} · band %{y}<br>%{z:.2f}<extra></extra>"
            ),
        )
    )
    fig.update_xaxes(title_text="time (s)" if times is not None else "frame")
    if hertz is not None:
        ticks = np.unique(np.linspace(0, bands - 1, min(bands, 6)).round().astype(int))
        fig.update_yaxes(
            title_text="frequency (Hz)", tickvals=ticks.tolist(), ticktext=[f"{hertz[i]:.0f}" for i in ticks]
        )
    else:
        fig.update_yaxes(title_text="frequency band")
    return _layout(fig, title, height=280)


def write_html(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` to a self-contained HTML file (plotly.js embedded, so it opens offline)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(target), include_plotlyjs=True, full_html=True)
    return target


def _palette(n: int) -> list[str]:
    base = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    return [base[i % len(base)] for i in range(n)]
