"""What every modality type is: how raw values become a tensor.

A modality type (tabular, image, text, audio, series) knows how to turn the
columns of one modality into a contiguous tensor. It is a two-step recipe in
the scikit-learn manner:

``fit(dataset, spec, train_rows)``     learns what must be learned (scaler
    statistics, vocabulary, image size, …) from the **training split only** and
    returns that state as plain JSON-serialisable data;
``transform(dataset, spec, state)``    applies it to every row and returns a
    ``PreparedModality`` (values ``(N, …)`` and a presence mask ``(N,)``).

Because the state is plain data, it is saved with every run and reused to
predict on new samples.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fusion_core.data.types import Dataset, ModalitySpec, PreparedModality
from fusion_core.registry import Registry


class ModalityType:
    """Base class. Options are keyword-only constructor arguments with defaults."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    option_help: ClassVar[dict[str, str]] = {}
    option_choices: ClassVar[dict[str, tuple]] = {}

    def fit(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def transform(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> PreparedModality:
        raise NotImplementedError


MODALITIES: Registry[ModalityType] = Registry("modality type")
