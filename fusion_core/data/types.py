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

    @property
    def ids(self) -> list[str]:
        return self.table[self.id_column].astype(str).tolist()

    @property
    def class_names(self) -> list[str]:
        return sorted(self.table[self.target].astype(str).unique().tolist())

    def label_indices(self) -> torch.Tensor:
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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def input_specs(self) -> dict[str, InputSpec]:
        return {name: m.spec for name, m in self.modalities.items()}

    def __len__(self) -> int:
        return int(self.labels.shape[0])
