"""Tabular columns → one numeric feature vector per sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from fusion_core.data.types import Dataset, ModalitySpec, PreparedModality
from fusion_core.errors import ConfigError, DataError
from fusion_core.modalities.base import MODALITIES, FeatureMatrix, ModalityType

MISSING = "(missing)"
OTHER = "(other)"


@MODALITIES.register("tabular")
class Tabular(ModalityType):
    """Numbers and categories from the table, turned into one vector per sample.

    A neural network only reads numbers, all of a similar size. Four steps get
    a table there:

    1. **Impute.** A missing number is replaced by the median (or mean) of
       that column in the training split. The median is the safer default: one
       extreme value cannot drag it.
    2. **Scale.** Columns measured in different units (age in years, income in
       euros) are put on a common scale. *standard* subtracts the training mean
       and divides by the training standard deviation, so most values fall
       between -3 and 3; *minmax* maps the training range onto [0, 1]. Without
       scaling, the column with the biggest numbers dominates the first layer's
       gradients and training is slow.
    3. **Encode categories.** *one-hot* gives each category its own 0/1 column,
       which says "same or different" and nothing more. A column with hundreds
       of rare categories would give hundreds of columns, so only the
       ``max_categories`` most frequent ones keep a column and the rest share
       an "(other)" column. *ordinal* gives each category a single number (its
       rank by frequency): compact, but it pretends categories have an order.
       A missing category is a category of its own, "(missing)", because that a
       value is missing can itself be informative.
    4. **Absent rows.** A sample whose every column is missing has no tabular
       information at all; it is marked absent rather than filled with
       invented averages, so the fusion method can tell.

    Every statistic (medians, means, standard deviations, the list of kept
    categories) is learned from the **training split only**. Learning them from
    all rows would let the test set leak into the model and flatter its score.

    The result already is a feature vector, so the sk: baselines read it as it is
    (standardised numbers and one-hot categories); there is no separate
    ``features`` option.
    """

    title = "Tabular"
    table_columns = True
    forms = ("vector",)
    summary = "Impute missing numbers, scale every column, and one-hot or ordinal-encode categories."
    features_summary = "the prepared vector itself: imputed, standardised numbers and one-hot categories"

    option_help = {
        "impute": "How a missing number is filled in: the training median (robust to outliers) or mean.",
        "scale": (
            "standard: subtract the training mean, divide by its standard deviation. "
            "minmax: map the training range to [0, 1]. none: leave numbers as they are."
        ),
        "categories": (
            "onehot: one 0/1 column per category (no false order). "
            "ordinal: one number per category, ranked by frequency (compact)."
        ),
        "max_categories": (
            "At most this many of a column's most frequent categories get their own one-hot column; "
            "rarer ones are grouped as '(other)'."
        ),
    }
    option_choices = {
        "impute": ("median", "mean"),
        "scale": ("standard", "minmax", "none"),
        "categories": ("onehot", "ordinal"),
    }

    def __init__(
        self,
        *,
        impute: str = "median",
        scale: str = "standard",
        categories: str = "onehot",
        max_categories: int = 20,
    ) -> None:
        if int(max_categories) < 1:
            raise ConfigError(f"tabular option max_categories must be at least 1, got {max_categories}")
        self.impute = impute
        self.scale = scale
        self.categories = categories
        self.max_categories = int(max_categories)

    def fit(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        train = dataset.table.iloc[train_rows]
        numeric, categorical = [], []
        for column in spec.columns:
            values = _as_numbers(train[column])
            if values is not None:
                numeric.append(self._fit_number(column, values))
            else:
                categorical.append(self._fit_category(column, _as_categories(train[column])))
        state: dict[str, Any] = {"encoding": self.categories, "numeric": numeric, "categorical": categorical}
        state["feature_names"] = _feature_names(state)
        return state

    def _fit_number(self, column: str, values: np.ndarray) -> dict[str, Any]:
        observed = values[~np.isnan(values)]
        if observed.size == 0:
            fill = 0.0
        else:
            fill = float(np.median(observed) if self.impute == "median" else observed.mean())
        filled = np.where(np.isnan(values), fill, values)
        center, spread = _scaler(filled, self.scale)
        return {"column": column, "fill": fill, "center": center, "scale": spread}

    def _fit_category(self, column: str, values: pd.Series) -> dict[str, Any]:
        counts = values.value_counts(sort=False)
        # Most frequent first; ties broken alphabetically so the result does not depend on row order.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [name for name, _ in ranked[: self.max_categories]]
        has_other = len(ranked) > len(kept)
        entry: dict[str, Any] = {"column": column, "categories": kept, "other": has_other}
        if self.categories == "ordinal":
            codes = _ordinal_codes(values, kept).astype(np.float64)
            entry["center"], entry["scale"] = _scaler(codes, self.scale)
        return entry

    def check_new_data(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> None:
        _check_columns(dataset, spec, state)
        _check_numbers(dataset, spec, state)

    def transform(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> PreparedModality:
        table = dataset.table
        n = len(table)
        _check_columns(dataset, spec, state)
        blocks: list[np.ndarray] = []
        for entry in state["numeric"]:
            values = _as_numbers(table[entry["column"]], coerce=True)
            filled = np.where(np.isnan(values), entry["fill"], values)
            blocks.append(((filled - entry["center"]) / entry["scale"])[:, None])
        for entry in state["categorical"]:
            values = _as_categories(table[entry["column"]])
            if state["encoding"] == "ordinal":
                codes = _ordinal_codes(values, entry["categories"]).astype(np.float64)
                blocks.append(((codes - entry["center"]) / entry["scale"])[:, None])
            else:
                blocks.append(_one_hot(values, entry["categories"], entry["other"]))
        matrix = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
        present = np.zeros(n, dtype=bool)
        for column in spec.columns:
            present |= ~_missing(table[column])
        matrix[~present] = 0.0
        return PreparedModality(
            name=spec.name,
            type=self.name,
            form="vector",
            values=torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32)),
            present=torch.from_numpy(present.astype(bool)),
            feature_names=list(state["feature_names"]),
        )

    def fit_extractor(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        return self.fit(dataset, spec, train_rows)

    def extract(self, dataset: Dataset, spec: ModalitySpec, learned: dict[str, Any]) -> FeatureMatrix:
        prepared = self.transform(dataset, spec, learned)
        return FeatureMatrix(
            prepared.values.numpy().astype(np.float64),
            prepared.present.numpy(),
            list(learned["feature_names"]),
        )


def _as_numbers(column: pd.Series, *, coerce: bool = False) -> np.ndarray | None:
    """The column as float64 with NaN for missing, or None when it is not numeric."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype(float).to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    text = column.astype(object).where(~_missing(column), None)
    numbers = pd.to_numeric(text, errors="coerce")
    if not coerce and (numbers.isna() & text.notna()).any():
        return None
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_categories(column: pd.Series) -> pd.Series:
    text = column.astype(object).where(column.notna(), "").astype(str).str.strip()
    return text.where(text != "", MISSING)


def _missing(column: pd.Series) -> np.ndarray:
    """True where a value is NaN/None or an empty string."""
    missing = column.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return missing
    text = column.astype(object).where(~missing, "").astype(str).str.strip()
    return missing | (text == "").to_numpy()


def _scaler(values: np.ndarray, scale: str) -> tuple[float, float]:
    if scale == "none" or values.size == 0:
        return 0.0, 1.0
    if scale == "minmax":
        low, high = float(values.min()), float(values.max())
        return low, (high - low) or 1.0
    return float(values.mean()), float(values.std()) or 1.0


def _ordinal_codes(values: pd.Series, kept: list[str]) -> np.ndarray:
    """Rank of each value among the kept categories; unknown and rare values share the next code."""
    codes = pd.Index(kept).get_indexer(values.to_numpy(dtype=object))
    return np.where(codes < 0, len(kept), codes)


def _one_hot(values: pd.Series, kept: list[str], has_other: bool) -> np.ndarray:
    width = len(kept) + int(has_other)
    out = np.zeros((len(values), width))
    codes = pd.Index(kept).get_indexer(values.to_numpy(dtype=object))
    if has_other:
        codes = np.where(codes < 0, len(kept), codes)
    known = codes >= 0  # without an "(other)" column, an unseen category is all zeros
    out[np.flatnonzero(known), codes[known]] = 1.0
    return out


def _feature_names(state: dict[str, Any]) -> list[str]:
    names = [entry["column"] for entry in state["numeric"]]
    for entry in state["categorical"]:
        if state["encoding"] == "ordinal":
            names.append(entry["column"])
        else:
            labels = entry["categories"] + ([OTHER] if entry["other"] else [])
            names.extend(f"{entry['column']}={label}" for label in labels)
    return names


def _check_numbers(dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> None:
    for entry in state["numeric"]:
        column = dataset.table[entry["column"]]
        if _as_numbers(column) is None:
            text = column.astype(object).where(~_missing(column), None)
            bad = text[pd.to_numeric(text, errors="coerce").isna() & text.notna()]
            raise DataError(
                f"column {entry['column']!r} of tabular modality {spec.name!r} holds text such as "
                f"{str(bad.iloc[0])[:40]!r}, but the model was trained on numbers there; "
                "give numbers (leave a cell empty when the value is missing)"
            )


def _check_columns(dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> None:
    expected = [entry["column"] for entry in state["numeric"] + state["categorical"]]
    missing = [column for column in expected if column not in dataset.table.columns]
    if missing:
        raise DataError(
            f"tabular modality {spec.name!r} needs column(s) {', '.join(missing)}, which the data lacks; "
            "add them to the table"
        )
