"""The one style every figure shares: palette, colours per kind of method, layout.

The palette is Okabe and Ito's, which stays distinguishable with the common
colour-vision deficiencies, extended with four of Tol's muted colours so that
twelve classes still get twelve colours. A kind of method keeps its colour on
every page: fusion methods blue, single-modality baselines grey, classical
``sk:`` baselines orange; a gain is green and a loss vermillion.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#882255", "#999999", "#117733", "#44AA99",
)  # fmt: skip

FUSION_COLOR = "#0072B2"
BASELINE_COLOR = "#999999"
SK_COLOR = "#E69F00"  # classical sk: baselines: their own colour, apart from every neural method
SK_PALETTE = ("#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#882255", "#AA4499")
POSITIVE_COLOR = "#009E73"
NEGATIVE_COLOR = "#D55E00"
TRAIN_COLOR = "#0072B2"
VAL_COLOR = "#E69F00"
F1_COLOR = "#009E73"
METRIC_COLORS = {"precision": "#0072B2", "recall": "#E69F00", "f1": "#009E73"}
NEURAL_GROUP = "neural methods"
SK_GROUP = "classical baselines (sk:)"
METRIC_TITLES = {
    "macro_f1": "Macro-F1",
    "accuracy": "Accuracy",
    "weighted_f1": "Weighted F1",
    "r2": "R²",
    "mae": "MAE",
    "rmse": "RMSE",
}


def as_text(value: Any) -> str:
    """A user's string (a class name) for a figure: Plotly renders tags such as <b> and <a href>, so they
    are escaped and shown as typed."""
    return html.escape(str(value), quote=False)


def color(i: int) -> str:
    """The ``i``-th colour of the palette, wrapping around."""
    return PALETTE[i % len(PALETTE)]


def _palette(n: int) -> list[str]:
    return [color(i) for i in range(n)]


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


def write_html(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` to a self-contained HTML file (plotly.js embedded, so it opens offline)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(target), include_plotlyjs=True, full_html=True)
    return target
