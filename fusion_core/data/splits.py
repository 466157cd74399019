"""Stratified, seeded train / validation / test splits.

*Stratified* means every split keeps the class proportions of the whole
dataset, so a rare class is not left out of the test set by bad luck. *Seeded*
means the same seed always gives the same split: comparing two fusion methods
is only fair when both are trained and tested on the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from fusion_core.data.types import Splits
from fusion_core.errors import ConfigError, DataError


def make_splits(
    labels: torch.Tensor | np.ndarray | Sequence,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Splits:
    """Split sample indices into training, validation and test sets, stratified by label.

    The test set is drawn first (``test_fraction`` of all samples), then the
    validation set (``val_fraction`` of all samples) from what is left. Each
    held-out set gets at least one sample per class where the data allows it.
    """
    codes = _codes(labels)
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    if not 0.0 <= val_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"validation fraction must be at least 0 and leave training samples (validation {val_fraction} "
            f"+ test {test_fraction} must be below 1)"
        )
    indices = np.arange(len(codes))
    n_classes = len(np.unique(codes))
    rest, test = _stratified_split(indices, codes, _held_out_size(len(codes), test_fraction, n_classes), seed)
    if val_fraction == 0.0:
        return _as_splits(rest, np.empty(0, dtype=np.int64), test)
    train, val = _stratified_split(rest, codes, _held_out_size(len(codes), val_fraction, n_classes), seed)
    return _as_splits(train, val, test)


def kfold_splits(
    labels: torch.Tensor | np.ndarray | Sequence,
    *,
    folds: int,
    seed: int = 0,
    val_fraction: float = 0.15,
) -> list[Splits]:
    """Stratified k-fold cross-validation: each fold is the test set once.

    Every sample is tested exactly once across the folds. The validation set
    (for early stopping) is carved, stratified, out of the other folds, with
    ``val_fraction`` of all samples.
    """
    from sklearn.model_selection import StratifiedKFold

    codes = _codes(labels)
    if folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"validation fraction must be in [0, 1), got {val_fraction}")
    classes, counts = np.unique(codes, return_counts=True)
    if counts.min() < folds:
        raise DataError(
            f"the smallest class has {counts.min()} samples, fewer than the {folds} folds; "
            "use fewer folds or add samples of that class"
        )
    n_classes = len(classes)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    size = _held_out_size(len(codes), val_fraction, n_classes)
    result = []
    for rest, test in splitter.split(np.zeros(len(codes)), codes):
        if val_fraction == 0.0:
            result.append(_as_splits(rest, np.empty(0, dtype=np.int64), test))
            continue
        train, val = _stratified_split(rest, codes, size, seed)
        result.append(_as_splits(train, val, test))
    return result


def value_strata(values: torch.Tensor | np.ndarray | Sequence, bins: int = 5) -> np.ndarray:
    """Quantile bins (0 … bins-1) of a regression target, to stratify its splits as classes would be."""
    array = np.asarray(values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values, float)
    edges = np.quantile(array, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, array, side="right")


def _codes(labels: torch.Tensor | np.ndarray | Sequence) -> np.ndarray:
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 1 or len(array) == 0:
        raise DataError(f"labels must be a non-empty 1-D sequence, got shape {array.shape}")
    _, codes = np.unique(array.astype(str) if array.dtype == object else array, return_inverse=True)
    return codes


def _held_out_size(n: int, fraction: float, n_classes: int) -> int:
    """ceil(fraction * n), raised to one sample per class so that every class can be held out."""
    return max(int(math.ceil(fraction * n - 1e-9)), n_classes, 1)


def _stratified_split(
    indices: np.ndarray, codes: np.ndarray, held_out: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` (with class ``codes[indices]``) into kept and held-out rows, stratified.

    scikit-learn allocates by proportion, which can leave a class of three samples
    out of a small held-out set; such a class then swaps one sample in for a
    sample of the class most present in the held-out set.
    """
    from sklearn.model_selection import train_test_split

    if held_out >= len(indices):
        raise DataError(
            f"cannot hold out {held_out} of {len(indices)} samples and still train; "
            "use smaller validation/test fractions or add samples"
        )
    try:
        kept, taken = train_test_split(
            indices, test_size=held_out, stratify=codes[indices], random_state=seed
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split the samples stratified by class ({exc}); every class needs at least 3 samples"
        ) from None
    rng = np.random.default_rng(seed)
    pool_counts = np.bincount(codes[indices], minlength=codes.max() + 1)
    for cls in np.flatnonzero(pool_counts >= 2):
        taken_counts = np.bincount(codes[taken], minlength=codes.max() + 1)
        if taken_counts[cls] or taken_counts.max() < 2:
            continue
        donor = int(taken_counts.argmax())
        incoming = rng.choice(np.flatnonzero(codes[kept] == cls))
        outgoing = rng.choice(np.flatnonzero(codes[taken] == donor))
        kept[incoming], taken[outgoing] = taken[outgoing], kept[incoming]
    return kept, taken


def _as_splits(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Splits:
    def tensor(rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.sort(np.asarray(rows, dtype=np.int64)))

    return Splits(train=tensor(train), val=tensor(val), test=tensor(test))
