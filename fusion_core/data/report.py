"""A summary of a loaded dataset to read before training: what is in it, and what might mislead.

The report lists the classes and their balance, each modality with its columns
and a few example values, how often each modality is absent, and what pairing
left out. Its warnings point at things that make results look better or worse
than they are: a column that gives the label away (a *leak*), a class too rare
to measure, missing values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fusion_core.data.schema import modality_types, numeric_columns
from fusion_core.data.types import Dataset

LEAK_ACCURACY = 0.98
"""A column whose values alone predict the label at least this well is flagged as a possible leak."""

LEAK_MIN_SAMPLES = 30
"""Below this many samples a perfect split happens by chance too often to mean anything."""

LEAK_MAX_COLUMNS = 500
"""Only the first columns are checked, to keep the report instant on very wide tables."""

RARE_CLASS_SHARE = 0.01


@dataclass
class ModalitySummary:
    """One modality in the report: its type, columns, example values and how often it is absent."""

    name: str
    type: str
    columns: list[str]
    examples: list[str]
    absent: int
    missing_values: dict[str, int] = field(default_factory=dict)


@dataclass
class DataReport:
    """What ``build_report`` found; ``to_dict()`` for JSON, ``to_text()`` for a terminal."""

    name: str
    samples: int
    id_column: str
    target: str
    classes: dict[str, int]
    modalities: list[ModalitySummary]
    unused_columns: list[str]
    notes: list[str]
    warnings: list[str]
    content_hash: str
    task: str = "classification"
    """classification or regression (inferred from the label, or set in schema.json)."""
    target_summary: dict[str, float] | None = None
    """For regression: the target's mean, standard deviation, minimum and maximum."""
    data_path: str = ""  # in memory, or memory-mapped from the cache (``planned_data_path``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [f"dataset    {self.name}", f"samples    {self.samples}", f"label      {self.target}"]
        lines.append(f"task       {self.task}")
        if self.data_path:
            lines.append(f"data path  {self.data_path}")
        if self.target_summary is not None:
            lines.append("target     " + ", ".join(f"{k} {v:.4g}" for k, v in self.target_summary.items()))
        else:
            lines.append(f"classes    {len(self.classes)}")
        width = max((len(c) for c in self.classes), default=0)
        for cls, count in self.classes.items():
            share = count / self.samples if self.samples else 0.0
            bar = "#" * max(1, round(share * 30))
            lines.append(f"  {cls:<{width}}  {count:>6}  {share:6.1%}  {bar}")
        lines.append("")
        rows = [("modality", "type", "absent", "columns", "examples")]
        for m in self.modalities:
            rows.append(
                (
                    m.name,
                    m.type,
                    str(m.absent),
                    _shorten(", ".join(m.columns), 40),
                    _shorten(" | ".join(m.examples), 60),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append(
                f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}".rstrip()
            )
        if self.unused_columns:
            lines += ["", f"unused columns: {', '.join(self.unused_columns)}"]
        for title, items in (("notes", self.notes), ("warnings", self.warnings)):
            if items:
                lines += ["", f"{title}:"] + [f"  - {item}" for item in items]
        return "\n".join(lines)


def _target_summary(values: pd.Series) -> dict[str, float]:
    numbers = pd.to_numeric(values, errors="coerce")
    return {
        "mean": float(numbers.mean()),
        "std": float(numbers.std()),
        "min": float(numbers.min()),
        "max": float(numbers.max()),
    }


def build_report(dataset: Dataset) -> DataReport:
    """Summarise ``dataset``: classes, modalities, absences, pairing notes and warnings."""
    table = dataset.table
    labels = table[dataset.target].astype(str)
    counts = labels.value_counts()
    classes = {cls: int(counts[cls]) for cls in dataset.class_names}
    used = {c for spec in dataset.modalities.values() for c in spec.columns}
    unused = [str(c) for c in table.columns if c not in used and c not in (dataset.id_column, dataset.target)]
    summaries = [_summarize(table, spec) for spec in dataset.modalities.values()]
    warnings = _class_warnings(classes, len(table))
    for summary in summaries:
        warnings += _absence_warnings(summary, len(table))
    types = modality_types()
    tabular = [
        c for spec in dataset.modalities.values() if types.get(spec.type).table_columns for c in spec.columns
    ]
    warnings += _column_warnings(table, tabular, labels)
    from fusion_core.modalities.pipeline import planned_data_path  # imports this package: on call

    return DataReport(
        name=dataset.name,
        samples=len(table),
        id_column=dataset.id_column,
        target=dataset.target,
        classes=classes,
        task=dataset.task,
        target_summary=_target_summary(table[dataset.target]) if dataset.task == "regression" else None,
        modalities=summaries,
        unused_columns=unused,
        notes=list(dataset.notes),
        warnings=warnings,
        content_hash=dataset.content_hash,
        data_path=planned_data_path(dataset),
    )


def _summarize(table: pd.DataFrame, spec) -> ModalitySummary:
    frame = table[spec.columns]
    missing = _missing(frame)
    absent = int(missing.all(axis=1).sum())
    if modality_types().get(spec.type).table_columns:
        first = frame.loc[~missing.all(axis=1)].head(1)
        examples = [
            f"{column}={_format_value(first[column].iloc[0])}"
            for column in spec.columns[:6]
            if len(first) and not missing.loc[first.index[0], column]
        ]
        per_column = {str(c): int(n) for c, n in missing.sum().items() if n}
    else:
        values = frame[spec.columns[0]][~missing[spec.columns[0]]]
        examples = [_shorten(str(v), 40) for v in values.head(3)]
        per_column = {}
    return ModalitySummary(
        name=spec.name,
        type=spec.type,
        columns=[str(c) for c in spec.columns],
        examples=examples,
        absent=absent,
        missing_values=per_column,
    )


def _missing(frame: pd.DataFrame) -> pd.DataFrame:
    """True where a value is missing: NaN, or a blank string.

    Numeric columns are checked in one block: a table may have tens of thousands of columns,
    and a call per column costs far more than the check itself.
    """
    numeric = numeric_columns(frame)
    parts = []
    if len(numeric):
        mask = np.isnan(frame[numeric].to_numpy(dtype=float))
        parts.append(pd.DataFrame(mask, columns=numeric, index=frame.index))
    known = set(numeric)
    others = [c for c in frame.columns if c not in known]
    if others:
        parts.append(pd.DataFrame({c: _is_missing(frame[c]) for c in others}, index=frame.index))
    result = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    return result[list(frame.columns)]


def _is_missing(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.isna()
    blank = (values.astype("string").str.strip() == "").fillna(True)
    return (values.isna() | blank).astype(bool)


def _class_warnings(classes: dict[str, int], n: int) -> list[str]:
    warnings = []
    for cls, count in classes.items():
        if count < RARE_CLASS_SHARE * n:
            warnings.append(
                f"class {cls!r} has only {count} samples ({count / n:.1%} of the data); its scores will be "
                "noisy; consider class weighting or collecting more samples"
            )
    return warnings


def _absence_warnings(summary: ModalitySummary, n: int) -> list[str]:
    warnings = []
    if modality_types().get(summary.type).table_columns:
        for column, count in summary.missing_values.items():
            warnings.append(
                f"column {column!r} has {count} missing values ({count / n:.1%}); they will be imputed"
            )
    elif summary.absent:
        warnings.append(
            f"modality {summary.name!r} is absent for {summary.absent} samples ({summary.absent / n:.1%}); "
            "the model sees a zero mask for them"
        )
    return warnings


def _column_warnings(table: pd.DataFrame, columns: list[str], labels: pd.Series) -> list[str]:
    """Leaks, id-like categories and constant columns among the tabular inputs."""
    warnings = []
    codes = pd.factorize(labels)[0]
    for column in columns[:LEAK_MAX_COLUMNS]:
        values = table[column]
        present = values.notna().to_numpy()
        n = int(present.sum())
        if n == 0:
            continue
        distinct = values.nunique()
        if distinct == 1:
            warnings.append(f"column {column!r} has the same value in every row; it carries no information")
            continue
        numeric = pd.api.types.is_numeric_dtype(values)
        if not numeric and n >= 20 and distinct >= 0.9 * n:
            warnings.append(
                f"column {column!r} has a different value in almost every row, like an id; as a category "
                "it cannot generalise to new samples, so leave it out of the modalities"
            )
            continue
        if n < LEAK_MIN_SAMPLES:
            continue
        y = codes[present]
        baseline = np.bincount(y).max() / n
        if distinct <= max(2, 0.2 * n):
            accuracy = _majority_per_value_accuracy(values[present].to_numpy(), y)
        elif numeric:
            accuracy = _interval_accuracy(values[present].to_numpy(dtype=float), y)
        else:
            continue
        if accuracy >= LEAK_ACCURACY and (1 - accuracy) <= 0.2 * (1 - baseline):
            warnings.append(
                f"column {column!r} predicts the label almost perfectly on its own ({accuracy:.1%} accuracy "
                "from its values alone); check that it is not derived from the label (a leak), or every "
                "fusion method will look equally perfect"
            )
    return warnings


def _majority_per_value_accuracy(values: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of predicting, for each value, the most common label among rows with that value."""
    frame = pd.DataFrame({"value": pd.Series(values).astype(str), "y": y})
    return float(frame.groupby(["value", "y"]).size().groupby(level=0).max().sum() / len(frame))


def _interval_accuracy(values: np.ndarray, y: np.ndarray) -> float:
    """How well one contiguous range of values per class explains the labels.

    Sort by value; each class keeps its longest unbroken run of samples. When the
    classes occupy separate ranges of the column the runs cover every sample.
    """
    ordered = y[np.lexsort((y, values))]
    boundaries = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], boundaries))
    lengths = np.diff(np.concatenate((starts, [len(ordered)])))
    longest = np.zeros(int(y.max()) + 1, dtype=np.int64)
    np.maximum.at(longest, ordered[starts], lengths)
    return float(longest.sum() / len(ordered))


def _format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return _shorten(str(value), 20)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
