"""The shapes data takes on its way from a user's files to tensors.

``Dataset``         a loaded, validated bundle: one table row per sample, with the
                    columns that make up each modality (file paths for media).
``PreparedModality`` one modality after preprocessing: a contiguous tensor ``(N, …)``
                    and a presence mask ``(N,)``.
``PreparedData``    every modality prepared, plus labels, class names, ids, the
                    train/validation/test split and the fitted preprocessing state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

# The modality types (tabular, image, text, audio, series, …) are the registry
# ``fusion_core.modalities.MODALITIES``: one file per type, which declares everything about it.

# The form of a prepared tensor decides which encoders can read it.
#   vector   float (N, D)          tabular features, bag-of-words, flattened pixels
#   grid     float (N, C, H, W)    images; audio spectrograms (C=1, H=frequency, W=time)
#   sequence float (N, T, C)       time series (T steps, C channels)
#   tokens   int64 (N, T)          token ids of text, 0 is padding, 1 is unknown
FORMS = ("vector", "grid", "sequence", "tokens")

TASKS = ("classification", "regression")
"""What a dataset asks for: a class out of a few, or a number. Heads, losses, metrics and
figures read the dataset's ``task``, never the label's dtype."""

MAIN_METRIC = {"classification": "macro_f1", "regression": "r2"}
"""The score that ranks methods, picks the best epoch and decides early stopping, per task."""

METRIC_NAMES = {"macro_f1": "macro-F1", "r2": "R²"}
"""How each main metric is written in tables and messages."""

REGRESSION_MIN_DISTINCT = 20
"""A numeric label with at least this many distinct values is inferred to be a regression target."""


def infer_task(values: pd.Series) -> str:
    """``"regression"`` for a numeric label with many distinct values, else ``"classification"``."""
    numeric = pd.to_numeric(values.dropna(), errors="coerce")
    if len(numeric) and numeric.notna().all() and numeric.nunique() >= REGRESSION_MIN_DISTINCT:
        return "regression"
    return "classification"


@dataclass
class ModalitySpec:
    """Which table columns form one modality, and of what type."""

    name: str
    type: str
    columns: list[str]


@dataclass
class Dataset:
    """A bundle after loading, pairing and validation.

    ``table`` has one row per sample (index 0..N-1). Media columns hold paths
    relative to ``root``; an empty value means the modality is absent for that
    sample.
    """

    name: str
    root: Path
    table: pd.DataFrame
    id_column: str
    target: str
    modalities: dict[str, ModalitySpec]
    content_hash: str
    notes: list[str] = field(default_factory=list)
    data_hash: str = ""
    """sha256 of the files alone; ``content_hash`` also covers the schema (id, target, modalities)."""
    task: str = "classification"
    """One of ``TASKS``: inferred from the label or set in ``schema.json`` (``"task"``)."""

    @property
    def ids(self) -> list[str]:
        return self.table[self.id_column].astype(str).tolist()

    @property
    def class_names(self) -> list[str]:
        """The classes in order; a regression target has none."""
        if self.task == "regression":
            return []
        return sorted(self.table[self.target].astype(str).unique().tolist())

    def label_indices(self) -> torch.Tensor:
        """Class indices (int64), or for a regression task the target values (float32)."""
        if self.task == "regression":
            values = pd.to_numeric(self.table[self.target], errors="coerce").to_numpy()
            return torch.tensor(values, dtype=torch.float32)
        lookup = {name: i for i, name in enumerate(self.class_names)}
        codes = self.table[self.target].astype(str).map(lookup)
        return torch.tensor(codes.to_numpy(), dtype=torch.long)

    def resolve(self, relative_path: str) -> Path:
        return self.root / relative_path

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class InputSpec:
    """What an encoder needs to know about its input: form, per-sample shape, vocabulary."""

    form: str
    shape: tuple[int, ...]
    vocab_size: int | None = None


@dataclass
class PreparedModality:
    """One modality as tensors: ``values`` (N, …) and ``present`` (N,) bool.

    Absent samples have zeros in ``values`` and ``False`` in ``present``.
    ``augment`` names a training-only batch augmentation (images), or None.
    """

    name: str
    type: str
    form: str
    values: torch.Tensor
    present: torch.Tensor
    vocab_size: int | None = None
    feature_names: list[str] | None = None
    augment: str | None = None

    @property
    def spec(self) -> InputSpec:
        return InputSpec(self.form, tuple(self.values.shape[1:]), self.vocab_size)


@dataclass
class Splits:
    """Row indices (int64 tensors) of the training, validation and test samples."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


@dataclass
class PreparedData:
    """Everything the model and trainer need, held in memory as tensors."""

    dataset_name: str
    modalities: dict[str, PreparedModality]
    labels: torch.Tensor
    class_names: list[str]
    ids: list[str]
    splits: Splits
    state: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, dict[str, Any]] = field(default_factory=dict)
    content_hash: str = ""
    task: str = "classification"
    """One of ``TASKS``. For regression ``labels`` are float values in the target's own units and
    ``class_names`` is empty; training standardises them on the training split (``target_scale``)."""
    target_stats: tuple[float, float] | None = None
    """A trained run's target mean and standard deviation, for data prepared to predict."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_outputs(self) -> int:
        """What a model's head outputs: one score per class, or one number for regression."""
        return 1 if self.task == "regression" else self.num_classes

    @property
    def main_metric(self) -> str:
        return MAIN_METRIC[self.task]

    def target_scale(self) -> tuple[float, float]:
        """Mean and standard deviation of the training targets (regression); ``(0, 1)`` otherwise."""
        if self.task != "regression":
            return 0.0, 1.0
        if self.target_stats is not None:
            return self.target_stats
        train = self.labels[self.splits.train].double()
        std = float(train.std()) if len(train) > 1 else 1.0
        return float(train.mean()) if len(train) else 0.0, std if std > 0 else 1.0

    def input_specs(self) -> dict[str, InputSpec]:
        return {name: m.spec for name, m in self.modalities.items()}

    def __len__(self) -> int:
        return int(self.labels.shape[0])
