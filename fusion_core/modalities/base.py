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

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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

    def check_new_data(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> None:
        """Raise ``DataError`` when new data to predict cannot be read as ``state`` was fitted.

        Called before ``transform`` on data the model never saw; the default accepts anything
        ``transform`` accepts (media readers already fail clearly on a file of the wrong kind).
        """


MODALITIES: Registry[ModalityType] = Registry("modality type")


def column_values(dataset: Dataset, column: str) -> tuple[np.ndarray, np.ndarray]:
    """One column as an object array of stripped strings, and where it holds a value.

    A missing value (NaN, None) or an empty string leaves the sample without
    this modality; the mask says which samples have it.
    """
    raw = dataset.table[column]
    missing = raw.isna().to_numpy()
    text = raw.astype(object).where(~missing, "").astype(str).str.strip()
    values = text.to_numpy(dtype=object)
    present = (~missing) & (text.to_numpy(dtype=object) != "")
    return values, present.astype(bool)


def for_each_row(function: Callable[[int], None], rows: np.ndarray) -> None:
    """Call ``function(row)`` for every row: on a few threads when there are many.

    Decoding files (images, audio, series) spends much of its time in C code
    that releases Python's global lock, so a few threads overlap the work.
    """
    workers = min(8, os.cpu_count() or 1)
    if workers == 1 or len(rows) < 64:
        for row in rows:
            function(int(row))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(function, (int(row) for row in rows)):
            pass
