"""The test samples a model got wrong, with what a person needs to look at them.

Scores say how often a model errs; the errors themselves say why. For each
misclassified sample this lists the true and predicted class, how confident
the model was, and every modality as a person would see it: an image or
audio file to open, the text, the table row, the series file.
Confident mistakes come first: they are the most instructive (a mislabelled
sample, a modality that misleads, a class the model confuses systematically).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion_core.data.types import Dataset, PreparedData
from fusion_core.modalities import MODALITIES

MAX_VECTOR_VALUES = 12


def misclassified_samples(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    probabilities: np.ndarray,
    ids: Sequence[str],
    class_names: Sequence[str],
    *,
    dataset: Dataset | None = None,
    prepared: PreparedData | None = None,
    limit: int | None = 24,
) -> list[dict]:
    """The misclassified samples, most confident mistakes first (at most ``limit``).

    Each record holds ``id``, ``true``, ``predicted``, ``confidence`` (the
    probability given to the predicted class), ``true_probability`` and
    ``modalities``: ``{name: {"type", "shown_as", "present", …}}`` with a
    ``path`` (image, audio, series), ``text`` or ``row`` (a dict of column →
    value). With only ``prepared`` data, vectors are shown as rows of numbers.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    wrong = np.flatnonzero(y_true != y_pred)
    confidence = probabilities[wrong, y_pred[wrong]] if len(wrong) else np.zeros(0)
    order = wrong[np.argsort(-confidence, kind="stable")]
    if limit is not None:
        order = order[:limit]
    dataset_rows = {sample_id: i for i, sample_id in enumerate(dataset.ids)} if dataset is not None else {}
    prepared_rows = {sample_id: i for i, sample_id in enumerate(prepared.ids)} if prepared is not None else {}
    records = []
    for i in order:
        sample_id = str(ids[i])
        record = {
            "id": sample_id,
            "true": class_names[int(y_true[i])],
            "predicted": class_names[int(y_pred[i])],
            "confidence": float(probabilities[i, y_pred[i]]),
            "true_probability": float(probabilities[i, y_true[i]]),
            "modalities": {},
        }
        if dataset is not None and sample_id in dataset_rows:
            record["modalities"] = _from_dataset(dataset, dataset_rows[sample_id])
        elif prepared is not None and sample_id in prepared_rows:
            record["modalities"] = _from_prepared(prepared, prepared_rows[sample_id])
        records.append(record)
    return records


def _from_dataset(dataset: Dataset, row: int) -> dict[str, dict[str, Any]]:
    shown: dict[str, dict[str, Any]] = {}
    table_row = dataset.table.iloc[row]
    for name, spec in dataset.modalities.items():
        kind = MODALITIES.get(spec.type)
        entry: dict[str, Any] = {"type": spec.type, "shown_as": kind.shown_as}
        values = [table_row[column] for column in spec.columns]
        if kind.extensions:  # a media file
            raw = values[0] if values else None
            present = _has_value(raw)
            entry["present"] = present
            entry["path"] = str(dataset.resolve(str(raw).strip())) if present else None
        elif kind.shown_as == "text":
            texts = [str(v) for v in values if _has_value(v)]
            entry["present"] = bool(texts)
            entry["text"] = "\n".join(texts)
        else:
            entry["present"] = any(_has_value(v) for v in values)
            entry["row"] = {column: _plain(v) for column, v in zip(spec.columns, values, strict=True)}
        shown[name] = entry
    return shown


def _from_prepared(prepared: PreparedData, row: int) -> dict[str, dict[str, Any]]:
    shown: dict[str, dict[str, Any]] = {}
    for name, modality in prepared.modalities.items():
        entry: dict[str, Any] = {
            "type": modality.type,
            "shown_as": "table",
            "present": bool(modality.present[row]),
        }
        if modality.form == "vector":
            values = modality.values[row][:MAX_VECTOR_VALUES].tolist()
            names = modality.feature_names or [f"x{j}" for j in range(modality.values.shape[1])]
            entry["row"] = {n: round(float(v), 4) for n, v in zip(names, values, strict=False)}
        else:
            entry["shown_as"] = "shape"
            entry["shape"] = list(modality.values.shape[1:])
        shown[name] = entry
    return shown


def _has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value).strip() != ""


def _plain(value: Any) -> Any:
    """A table cell as plain JSON: numbers stay numbers, missing becomes None."""
    if not _has_value(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)
