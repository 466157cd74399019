"""Use a trained run on new data: the same columns, the same preprocessing (never re-fitted), the same model.

``predict_source(run, source)`` loads new samples (a bundle, a CSV table or
per-modality files, labelled or not), checks them against what the run was
trained on, and returns ``Predictions``: one row per sample with its id, the
predicted class, a probability per class and which modalities were present.
A sample with a modality absent is predicted the way training treated absent
modalities (presence masks), and its row says so. When every sample carries a
known label, the metrics and confusion matrix come too.

>>> result = predict_source(run, "new_samples.zip")   # doctest: +SKIP
>>> result.table.head()                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fusion_core.baselines import is_baseline_method
from fusion_core.data.types import Dataset, ModalitySpec, PreparedData
from fusion_core.errors import ConfigError, DataError
from fusion_core.experiment import RunResult, prepare_for_run
from fusion_core.metrics import compute_metrics, regression_metrics
from fusion_core.training import predict

__all__ = ["Predictions", "check_predictable", "load_new_data", "predict_run", "predict_source"]


@dataclass
class Predictions:
    """What a run predicts for new samples.

    ``table`` columns: ``id``, ``predicted``, ``prob_<class>`` per class, ``present_<modality>``
    per modality (bool), ``missing`` (the absent modalities, comma-separated, empty when all
    were there) and, for labelled data, ``true`` and ``correct``. A regression run's table has
    the ``predicted`` value instead of probabilities (``class_names`` is empty) and, where the
    new data has the target, ``true`` and ``error``.
    """

    run_id: str | None
    table: pd.DataFrame
    class_names: list[str]
    modalities: list[str]
    metrics: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def incomplete_rows(self) -> int:
        """Samples predicted with at least one modality absent."""
        return int((self.table["missing"] != "").sum())

    @property
    def probabilities(self) -> np.ndarray:
        return self.table[[probability_column(c) for c in self.class_names]].to_numpy(dtype=np.float32)

    def to_csv(self) -> str:
        return self.table.to_csv(index=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "class_names": self.class_names,
            "modalities": self.modalities,
            "rows": len(self.table),
            "incomplete_rows": self.incomplete_rows,
            "notes": self.notes,
            "metrics": self.metrics,
            "predictions": self.table.to_dict(orient="records"),
        }


def probability_column(class_name: str) -> str:
    return f"prob_{class_name}"


def check_predictable(run: RunResult) -> None:
    """Raise ``ConfigError`` when ``run`` has no network to predict or export with."""
    if is_baseline_method(run.method):
        raise ConfigError(
            f"run {run.run_id!r} is a classical baseline ({run.method}) with no network; prediction, "
            "export and ONNX work on fusion-model runs, so choose one of those"
        )
    if run.model is None:
        raise ConfigError(f"run {run.run_id!r} has no saved model; train it again to predict with it")


def trained_schema(run: RunResult) -> dict[str, ModalitySpec]:
    """The modalities (name, type, columns) the run was trained on, from its saved preprocessing.

    Runs saved before the columns were recorded give an empty column list.
    """
    return {
        name: ModalitySpec(name, fitted["type"], list(fitted.get("columns", [])))
        for name, fitted in run.preprocessing_state.items()
    }


def expected_form(run: RunResult) -> str:
    """The inputs the run expects, in words: ``table: a, b (tabular); image (image)``."""
    return "; ".join(
        f"{name}: {', '.join(spec.columns) or name} ({spec.type})"
        for name, spec in trained_schema(run).items()
    )


def load_new_data(run: RunResult, source: str | os.PathLike[str] | Sequence[str]) -> Dataset:
    """Load new samples (labels optional) and group their columns as the run's training data was."""
    from fusion_core.data import load_dataset, with_schema

    check_predictable(run)
    dataset = load_dataset(source, require_labels=False)
    schema = trained_schema(run)
    columns = set(dataset.table.columns)
    for name, spec in schema.items():
        if (
            not spec.columns
        ):  # an older run: take the columns the new data's own schema groups under that name
            if name not in dataset.modalities:
                raise DataError(
                    f"the new data has no modality {name!r}, which the run was trained with; "
                    f"its modalities are: {', '.join(dataset.modalities) or 'none'}"
                )
            schema[name] = dataset.modalities[name]
            continue
        missing = [c for c in spec.columns if c not in columns]
        if missing:
            what = "lacks modality" if len(missing) == len(spec.columns) else "lacks column(s) of modality"
            raise DataError(
                f"the new data {what} {name!r} ({', '.join(missing)}), which the run was trained with; "
                f"it expects {expected_form(run)}"
            )
    return with_schema(dataset, modalities=schema, require_labels=False)


def predict_run(run: RunResult, dataset: Dataset) -> Predictions:
    """Predict every sample of ``dataset`` (see ``load_new_data``) with ``run``."""
    check_predictable(run)
    data = prepare_for_run(run, dataset, check_new=True)
    probabilities, predicted = predict(run.model, data, data.splits.train)
    if run.task == "regression":
        return _predicted_values(run, dataset, data, predicted)
    names = list(run.class_names)
    table = pd.DataFrame({"id": dataset.ids, "predicted": np.asarray(names, dtype=object)[predicted]})
    for i, name in enumerate(names):
        table[probability_column(name)] = probabilities[:, i]
    modalities = _presence_columns(table, data)

    notes, metrics = [], None
    labels = _labels(dataset, names)
    if (labels != "").all() and len(labels):
        unknown = sorted(set(labels) - set(names))
        if unknown:
            notes.append(
                f"labels {', '.join(map(repr, unknown[:5]))} are not classes the run knows "
                f"({', '.join(names)}); no metrics were computed"
            )
        else:
            lookup = {name: i for i, name in enumerate(names)}
            y_true = labels.map(lookup).to_numpy(dtype=np.int64)
            table["true"] = labels.to_numpy()
            table["correct"] = y_true == predicted
            metrics = compute_metrics(y_true, predicted, probabilities, names)
    elif (labels != "").any():
        notes.append("only some samples have a label; no metrics were computed")
    prediction = Predictions(run.run_id, table, names, modalities, metrics, notes)
    if prediction.incomplete_rows:
        notes.append(
            f"{prediction.incomplete_rows} of {len(table)} samples had a modality missing; they were "
            "predicted from the modalities present, as in training (see the 'missing' column)"
        )
    return prediction


def _presence_columns(table: pd.DataFrame, data: PreparedData) -> list[str]:
    """Add ``present_<modality>`` and ``missing`` columns; return the modality names."""
    modalities = list(data.modalities)
    absent = []
    for name in modalities:
        present = data.modalities[name].present.numpy().astype(bool)
        table[f"present_{name}"] = present
        absent.append(np.where(present, "", name))
    table["missing"] = [", ".join(n for n in row if n) for row in zip(*absent, strict=True)]
    return modalities


def _predicted_values(
    run: RunResult, dataset: Dataset, data: PreparedData, values: np.ndarray
) -> Predictions:
    """A regression run's predictions: a ``predicted`` value column in the target's units (no
    probabilities), and MAE, RMSE and R² when every new sample has a numeric target."""
    table = pd.DataFrame({"id": dataset.ids, "predicted": values})
    modalities = _presence_columns(table, data)
    notes, metrics = [], None
    target = _target_column(dataset)
    if target is not None:
        truth = pd.to_numeric(dataset.table[target], errors="coerce")
        if truth.notna().all() and len(truth):
            table["true"] = truth.to_numpy(dtype=float)
            table["error"] = table["predicted"] - table["true"]
            metrics = regression_metrics(table["true"].to_numpy(), values)
        elif truth.notna().any():
            notes.append("only some samples have a numeric target; no metrics were computed")
    prediction = Predictions(run.run_id, table, [], modalities, metrics, notes)
    if prediction.incomplete_rows:
        notes.append(
            f"{prediction.incomplete_rows} of {len(table)} samples had a modality missing; they were "
            "predicted from the modalities present, as in training (see the 'missing' column)"
        )
    return prediction


def _target_column(dataset: Dataset) -> str | None:
    """The new samples' numeric targets for a regression run: the dataset's label column when it
    has any numbers, else the one other column (not an input, not the id) that is all numbers, so a table
    keeps working whatever its target column is called; ``None`` when there is no such column."""
    table = dataset.table

    def numbers(column: str) -> pd.Series:
        return pd.to_numeric(table[column], errors="coerce")

    if dataset.target in table.columns and numbers(dataset.target).notna().any():
        return dataset.target
    inputs = {column for spec in dataset.modalities.values() for column in spec.columns}
    candidates = [
        column
        for column in table.columns
        if column not in inputs
        and column not in (dataset.id_column, dataset.target)
        and numbers(column).notna().all()
    ]
    return candidates[0] if len(candidates) == 1 else None


def _labels(dataset: Dataset, class_names: list[str]) -> pd.Series:
    """The new samples' labels as text ("" where none): the dataset's label column when it has any,
    else the one other column (not an input, not the id) whose values are all class names of the run,
    so a table keeps working whatever its label column is called."""
    table = dataset.table

    def text(column: str) -> pd.Series:
        return table[column].astype(object).where(table[column].notna(), "").astype(str).str.strip()

    labels = text(dataset.target)
    if (labels != "").any() or not len(table):
        return labels
    inputs = {column for spec in dataset.modalities.values() for column in spec.columns}
    known = set(class_names)
    candidates = [
        column
        for column in table.columns
        if column not in inputs
        and column not in (dataset.id_column, dataset.target)
        and set(text(column)) <= known
    ]
    return text(candidates[0]) if len(candidates) == 1 else labels


def predict_source(run: RunResult, source: str | os.PathLike[str] | Sequence[str]) -> Predictions:
    """``predict_run`` on new data loaded from ``source`` (a bundle, a CSV table or per-modality files)."""
    return predict_run(run, load_new_data(run, source))
