"""The per-sample weights a fusion method exposes, and how they differ between classes.

Some methods decide *per sample* how much to trust each modality: attention
fusion computes softmax weights over the modalities, gated fusion a gate per
modality, late fusion may weigh each modality's vote. They return those
weights with the logits (``model(inputs, masks, details=True).weights``). Collected over the test
split and grouped by true class, they show whether the model learned to rely
on, say, the audio for one class and the image for another.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fusion_core.analysis.forward import ModelOutputs, check_modalities, run_model
from fusion_core.data.types import PreparedData


def _as_columns(
    key: str, values: np.ndarray, y_true: np.ndarray, n_modalities: int, n_classes: int
) -> tuple[str, np.ndarray]:
    """Per-sample weights as ``(n, k)``, and the name they go by.

    Per-modality class probabilities ``(n, M, C)`` become the probability each
    modality gave the true class; other extra dimensions (heads, steps) are averaged.
    """
    if values.ndim == 1:
        return key, values[:, None]
    if values.ndim == 3 and values.shape[1] == n_modalities and values.shape[2] == n_classes:
        return f"{key} of the true class", values[np.arange(len(values)), :, y_true]
    if values.ndim > 2 and values.shape[1] == n_modalities:
        return key, values.reshape(values.shape[0], n_modalities, -1).mean(axis=2)
    if values.ndim > 2:
        return key, values.reshape(values.shape[0], -1, values.shape[-1]).mean(axis=1)
    return key, values


def _column_names(key: str, width: int, modalities: Sequence[str]) -> list[str]:
    if width == len(modalities):
        return list(modalities)
    if width == 1:
        return [key]
    return [f"{key}[{j}]" for j in range(width)]


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "std": None, "q1": None, "median": None, "q3": None, "n": 0}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "n": int(values.size),
    }


def summarize_weights(
    insight: dict[str, np.ndarray],
    y_true: np.ndarray,
    class_names: Sequence[str],
    modalities: Sequence[str],
) -> dict:
    """Per weight kind: column names, per-sample values and statistics overall and per true class."""
    kinds = {}
    for raw_key, raw in insight.items():
        key, values = _as_columns(
            raw_key, np.asarray(raw, dtype=np.float64), y_true, len(modalities), len(class_names)
        )
        columns = _column_names(key, values.shape[1], modalities)
        by_class = {
            name: {col: _stats(values[y_true == c, j]) for j, col in enumerate(columns)}
            for c, name in enumerate(class_names)
        }
        kinds[key] = {
            "columns": columns,
            "values": np.round(values, 5).tolist(),
            "overall": {col: _stats(values[:, j]) for j, col in enumerate(columns)},
            "by_class": by_class,
        }
    return kinds


def collect_weights(
    model: nn.Module,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | None = None,
    *,
    outputs: ModelOutputs | None = None,
) -> dict:
    """The per-sample weights the model's fusion method returns for every row (default: the test split), summarised.

    Returns ``available`` (whether the method exposes any), ``kinds`` (see
    ``summarize_weights``), ``y_true``, ``class_names`` and ``note``. ``outputs``
    reuses a forward pass already made over the same rows.
    """
    modalities = check_modalities(model, data)
    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    outputs = outputs if outputs is not None else run_model(model, data, rows)
    y_true = data.labels[rows].numpy()
    kinds = summarize_weights(outputs.insight, y_true, data.class_names, modalities)
    method = model.method
    return {
        "available": bool(kinds),
        "method": method,
        "kinds": kinds,
        "y_true": y_true.tolist(),
        "class_names": list(data.class_names),
        "note": weights_note(kinds, method, data.class_names),
    }


def weights_note(kinds: dict, method: str, class_names: Sequence[str]) -> str:
    if not kinds:
        return (
            f"{method} exposes no per-sample weights: every sample takes the same fixed path through "
            "the network, so there is nothing per sample to look at"
        )
    varying = {key: kind for key, kind in kinds.items() if not is_constant(kind)}
    if not varying:
        key, kind = next(iter(kinds.items()))
        values = ", ".join(f"{col} {kind['overall'][col]['mean']:.2f}" for col in kind["columns"])
        return (
            f"the {_label(key)} are the same for every sample ({values}): with these settings {method} "
            "does not weigh the modalities per sample"
        )
    key, kind = next(iter(varying.items()))
    overall = kind["overall"]
    means = {col: overall[col]["mean"] for col in kind["columns"]}
    top = max(means, key=means.__getitem__)
    if len(means) > 1 and max(means.values()) - min(means.values()) < 0.02:
        words = f"on average the {_label(key)} are spread evenly ({means[top]:.2f} each)"
    else:
        words = f"on average the {_label(key)} favour {top} ({means[top]:.2f})"
    spread = []
    for col in kind["columns"]:
        class_means = [kind["by_class"][c][col]["mean"] for c in class_names if kind["by_class"][c][col]["n"]]
        if len(class_means) > 1:
            spread.append((max(class_means) - min(class_means), col))
    if spread:
        gap, col = max(spread)
        if gap > 0.1:
            words += f"; for {col} they change with the true class (by up to {gap:.2f})"
        else:
            words += "; they hardly change from class to class"
    return words


def is_constant(kind: dict, tolerance: float = 1e-6) -> bool:
    """Whether a kind of weight takes the same value for every sample (e.g. late fusion's plain mean)."""
    return all((stats["std"] or 0.0) <= tolerance for stats in kind["overall"].values())


def _label(key: str) -> str:
    return key if ("weight" in key or "probabilit" in key) else f"{key} weights"
