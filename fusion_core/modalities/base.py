"""What every modality type is: how raw values become a tensor.

A modality type (tabular, image, text, audio, series) knows how to turn the
columns of one modality into a contiguous tensor. It is a two-step recipe in
the scikit-learn manner:

``fit(dataset, spec, train_rows)``     learns what must be learned (scaler
    statistics, vocabulary, image size, …) from the **training split only** and
    returns that state as plain JSON-serialisable data;
``transform(dataset, spec, state)``    applies it to every row and returns a
    ``PreparedModality`` (values ``(N, …)`` and a presence mask ``(N,)``).

Every type also knows the classic *feature vector* of its values (per-channel
statistics of a series, MFCC statistics of a clip, TF-IDF of a text, …):

``fit_features(dataset, spec, train_rows)``   learns the extractor's state (a
    vocabulary, a scaler) from the training split only, as plain data;
``feature_matrix(dataset, spec, state)``       returns a ``FeatureMatrix``
    (dense or sparse ``(N, D)``, presence, column names).

The classical baselines (``fusion_core.baselines``) read these, and the
``features`` option of a type hands the same vector to a network as a
``vector`` tensor (read by an MLP) instead of the type's usual form.

Because the state is plain data, it is saved with every run and reused to
predict on new samples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse
import torch

from fusion_core.data.types import Dataset, ModalitySpec, PreparedModality
from fusion_core.errors import ConfigError, DataError
from fusion_core.registry import Registry

FEATURES_HELP = (
    "Hand the network this type's classic feature vector (read by an MLP) instead of its usual tensor; "
    "the same features the sk: baselines use."
)


@dataclass
class FeatureMatrix:
    """One modality's feature vectors: ``values`` (N, D) float, dense or sparse CSR; ``present`` (N,) bool."""

    values: np.ndarray | scipy.sparse.csr_matrix
    present: np.ndarray
    names: list[str]

    @property
    def sparse(self) -> bool:
        return scipy.sparse.issparse(self.values)


class ModalityType:
    """Base class. Options are keyword-only constructor arguments with defaults.

    A subclass implements ``fit``/``transform`` (its usual tensor) and
    ``fit_extractor``/``extract`` (its raw feature vector); the base class
    standardises dense features with training statistics and serves both
    forms to the pipeline.
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    features_summary: ClassVar[str] = ""  # what the feature vector holds, one sentence
    features_measured: ClassVar[str] = ""  # which default won, usual tensor or features, and by how much
    option_help: ClassVar[dict[str, str]] = {}
    option_choices: ClassVar[dict[str, tuple]] = {}
    # What the rest of the program needs to know about a type, declared here so that adding a type
    # touches one file: recognising, checking, previewing and describing its columns all read these.
    extensions: ClassVar[tuple[str, ...]] = ()  # a media type: its column holds paths of such files
    table_columns: ClassVar[bool] = False  # several table columns of numbers and categories (imputed)
    shown_as: ClassVar[str] = "table"  # how a person looks at one sample: image, audio, series, text, table
    forms: ClassVar[tuple[str, ...]] = ()  # tensor forms its preprocessing produces (see data.types.FORMS)
    features: bool = False  # the ``features`` option: prepare the feature vector instead of the usual tensor
    _extracted_cache: tuple[tuple, FeatureMatrix] | None = None

    @classmethod
    def check_files(cls, root: Path, paths: Iterable[str], spec: ModalitySpec) -> None:
        """Open every referenced file of a media modality; raise DataError for one that cannot be used."""

    def fit(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def transform(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> PreparedModality:
        raise NotImplementedError

    def check_new_data(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> None:
        """Raise ``DataError`` when new data to predict cannot be read as ``state`` was fitted.

        Called before ``transform`` on data the model never saw; the default accepts anything
        ``transform`` accepts (media readers already fail clearly on a file of the wrong kind).
        """

    # -- feature vectors ---------------------------------------------------------------------

    def fit_extractor(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        """What the feature extractor learns from the training rows (plain data); nothing by default."""
        return {}

    def extract(self, dataset: Dataset, spec: ModalitySpec, learned: dict[str, Any]) -> FeatureMatrix:
        """Raw (unscaled) feature vectors of every row."""
        raise ConfigError(
            f"modality type {self.name!r} has no feature vector, so neither the sk: baselines nor its "
            "features option can read it; leave them out (compare --baselines none)"
        )

    def fit_features(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        """Fit the extractor and, for dense features, a standard scaler, on the training rows only."""
        learned = self.fit_extractor(dataset, spec, train_rows)
        raw = self._extracted(dataset, spec, learned)
        state: dict[str, Any] = {"extractor": learned, "mean": None, "std": None}
        if not raw.sparse:
            rows = train_rows[raw.present[train_rows]]
            train = np.asarray(raw.values[rows], dtype=np.float64)
            if train.shape[0] == 0:
                train = np.zeros((1, raw.values.shape[1]))
            mean, std = train.mean(axis=0), train.std(axis=0)
            state["mean"], state["std"] = mean.tolist(), np.where(std > 1e-8, std, 1.0).tolist()
        return state

    def feature_matrix(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> FeatureMatrix:
        """Every row's feature vector, scaled with the training statistics; zeros where absent."""
        raw = self._extracted(dataset, spec, state["extractor"])
        if raw.sparse:
            values = scipy.sparse.csr_matrix(raw.values, dtype=np.float64)
            values = scipy.sparse.diags(raw.present.astype(np.float64)) @ values
            return FeatureMatrix(values.tocsr(), raw.present, raw.names)
        mean = np.asarray(state["mean"], dtype=np.float64)
        std = np.asarray(state["std"], dtype=np.float64)
        values = (np.asarray(raw.values, dtype=np.float64) - mean) / std
        values[~raw.present] = 0.0
        return FeatureMatrix(np.nan_to_num(values, copy=False), raw.present, raw.names)

    def transform_features(
        self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]
    ) -> PreparedModality:
        """The feature vectors as a ``vector`` tensor for an MLP."""
        matrix = self.feature_matrix(dataset, spec, state)
        values = matrix.values.toarray() if matrix.sparse else matrix.values
        return PreparedModality(
            name=spec.name,
            type=self.name,
            form="vector",
            values=torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)),
            present=torch.from_numpy(matrix.present.astype(bool)),
            feature_names=list(matrix.names),
        )

    def _extracted(self, dataset: Dataset, spec: ModalitySpec, learned: dict[str, Any]) -> FeatureMatrix:
        """``extract`` once per dataset, modality and learned state (fitting and transforming share it)."""
        key = (id(dataset), dataset.content_hash, spec.name, repr(sorted(learned.items())))
        if self._extracted_cache is not None and self._extracted_cache[0] == key:
            return self._extracted_cache[1]
        matrix = self.extract(dataset, spec, learned)
        self._extracted_cache = (key, matrix)
        return matrix


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


def present_training_rows(
    dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray, noun: str
) -> np.ndarray:
    """The training rows that hold this (one-column, media) modality; a DataError when there are none."""
    column = spec.columns[0]
    _, present = column_values(dataset, column)
    rows = train_rows[present[train_rows]]
    if rows.size == 0:
        raise DataError(
            f"{spec.type} modality {spec.name!r} has no {noun} in the training split; "
            f"check the paths in column {column!r}"
        )
    return rows


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
