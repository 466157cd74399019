"""Stratified, seeded splits: disjoint, covering every sample, class-balanced, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_core.data import kfold_splits, make_splits
from fusion_core.errors import ConfigError, DataError

# 200 samples: 100 of class 0, 60 of class 1, 40 of class 2
LABELS = torch.tensor([0] * 100 + [1] * 60 + [2] * 40)[
    torch.randperm(200, generator=torch.Generator().manual_seed(3))
]


def _parts(splits):
    return [splits.train.numpy(), splits.val.numpy(), splits.test.numpy()]


def test_splits_are_disjoint_cover_everything_and_have_the_right_sizes():
    splits = make_splits(LABELS, val_fraction=0.15, test_fraction=0.2, seed=0)
    train, val, test = _parts(splits)
    assert all(t.dtype == torch.int64 for t in (splits.train, splits.val, splits.test))
    assert (len(train), len(val), len(test)) == (130, 30, 40)
    everything = np.concatenate([train, val, test])
    assert np.array_equal(np.sort(everything), np.arange(200))


def test_splits_keep_the_class_proportions():
    splits = make_splits(LABELS, seed=5)
    labels = LABELS.numpy()
    for rows in _parts(splits):
        shares = np.bincount(labels[rows], minlength=3) / len(rows)
        assert np.allclose(shares, [0.5, 0.3, 0.2], atol=0.02), shares


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    a, b, c = (make_splits(LABELS, seed=s) for s in (7, 7, 8))
    assert all(np.array_equal(x, y) for x, y in zip(_parts(a), _parts(b), strict=True))
    assert not torch.equal(a.test, c.test)


def test_string_labels_and_tiny_classes_still_reach_every_split():
    labels = ["cat"] * 3 + ["dog"] * 3 + ["fox"] * 3 + ["owl"] * 20
    splits = make_splits(labels, seed=0)
    names = np.array(labels)
    for rows in _parts(splits):
        assert {"cat", "dog", "fox", "owl"} <= set(names[rows])


def test_zero_validation_fraction_gives_an_empty_validation_set():
    splits = make_splits(LABELS, val_fraction=0.0, test_fraction=0.25)
    assert len(splits.val) == 0 and len(splits.test) == 50 and len(splits.train) == 150


@pytest.mark.parametrize(
    ("val", "test", "message"),
    [
        (0.15, 0.0, "test fraction must be between 0 and 1 (exclusive), got 0.0"),
        (0.5, 0.5, "validation fraction must be at least 0 and leave training samples"),
        (-0.1, 0.2, "validation fraction must be at least 0"),
    ],
)
def test_invalid_fractions_are_refused(val, test, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_splits(LABELS, val_fraction=val, test_fraction=test)


def test_kfold_tests_every_sample_exactly_once():
    folds = kfold_splits(LABELS, folds=5, seed=1)
    assert len(folds) == 5
    tested = np.concatenate([f.test.numpy() for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(200))
    labels = LABELS.numpy()
    for fold in folds:
        train, val, test = _parts(fold)
        assert len(set(train) | set(val) | set(test)) == 200
        assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
        assert len(val) == 30
        assert np.array_equal(np.bincount(labels[test], minlength=3), [20, 12, 8])


def test_kfold_is_deterministic_by_seed():
    one, two = kfold_splits(LABELS, folds=3, seed=4), kfold_splits(LABELS, folds=3, seed=4)
    assert all(
        torch.equal(a.test, b.test) and torch.equal(a.val, b.val) for a, b in zip(one, two, strict=True)
    )
    other = kfold_splits(LABELS, folds=3, seed=5)
    assert not torch.equal(one[0].test, other[0].test)


def test_kfold_refuses_more_folds_than_the_smallest_class():
    labels = [0] * 20 + [1] * 4
    with pytest.raises(DataError, match="the smallest class has 4 samples, fewer than the 5 folds"):
        kfold_splits(labels, folds=5)
    with pytest.raises(ConfigError, match="cross-validation needs at least 2 folds, got 1"):
        kfold_splits(labels, folds=1)
