"""Previews of raw inputs: a time series, a spectrogram."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from fusion_core.plots.style import _layout


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
