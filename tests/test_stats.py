"""Paired differences between methods: the interval covers a known gap, and the verdict reads it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import f1_score

from fusion_core.stats import comparison_statistics, macro_f1_rows, noise_verdict, paired_difference


def noisy_predictions(y_true: np.ndarray, accuracy: float, rng: np.random.Generator, classes: int):
    """Each prediction is right with probability ``accuracy``, otherwise a wrong class at random."""
    wrong = (y_true + rng.integers(1, classes, len(y_true))) % classes
    return np.where(rng.random(len(y_true)) < accuracy, y_true, wrong)


def test_macro_f1_rows_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, (3, 50)), rng.integers(0, 4, (3, 50))
    y_pred[1] = 0  # a row in which some classes are never predicted
    expected = [f1_score(t, p, average="macro", zero_division=0) for t, p in zip(y_true, y_pred, strict=True)]
    assert macro_f1_rows(y_true, y_pred, 4) == pytest.approx(expected)


def test_the_bootstrap_interval_contains_the_true_difference_of_a_known_gap():
    classes, rng = 4, np.random.default_rng(7)
    # The true gap: measured on a population large enough that its own noise is negligible.
    population = rng.integers(0, classes, 400_000)
    true_gap = f1_score(
        population, noisy_predictions(population, 0.80, rng, classes), average="macro"
    ) - f1_score(population, noisy_predictions(population, 0.74, rng, classes), average="macro")
    assert 0.05 < true_gap < 0.07
    # Three seeds, each a test set of 600 rows that both methods predict.
    pairs = []
    for _ in range(3):
        y = rng.integers(0, classes, 600)
        pairs.append((y, noisy_predictions(y, 0.80, rng, classes), noisy_predictions(y, 0.74, rng, classes)))
    diff = paired_difference(pairs, classes, reference="b")
    assert diff.low < true_gap < diff.high
    assert diff.excludes_zero and diff.pairs == 3
    assert diff.high - diff.low < 0.12  # informative, not a vacuous interval
    # and a method against an equal one: the interval includes zero
    same = [(y, a, noisy_predictions(y, 0.80, rng, classes)) for y, a, _ in pairs]
    assert not paired_difference(same, classes).excludes_zero


def run(method, seed, y_true, y_pred):
    f1 = f1_score(y_true, y_pred, average="macro")
    return SimpleNamespace(
        task="classification",
        method=method,
        seed=seed,
        fold=None,
        metrics={"macro_f1": f1},
        class_names=["a", "b", "c"],
        test_ids=[str(i) for i in range(len(y_true))],
        y_true=y_true,
        y_pred=y_pred,
    )


def test_comparison_statistics_pair_runs_by_seed_and_name_the_references():
    rng = np.random.default_rng(3)
    runs = []
    for seed in range(3):
        y = rng.integers(0, 3, 400)
        runs += [
            run("only:x", seed, y, noisy_predictions(y, 0.6, rng, 3)),
            run("concat", seed, y, noisy_predictions(y, 0.9, rng, 3)),
            run("late", seed, y, noisy_predictions(y, 0.9, rng, 3)),
            run("sk:logreg:only:x", seed, y, noisy_predictions(y, 0.6, rng, 3)),
        ]
    stats = comparison_statistics(runs)
    assert stats["concat"]["best_unimodal"] == "only:x"
    assert stats["only:x"]["vs_best_unimodal"] is None  # the reference itself
    assert stats["concat"]["vs_best_unimodal"].low > 0.2
    best = stats["concat"]["best"]
    assert stats[best]["vs_best"] is None
    other = "late" if best == "concat" else "concat"
    assert not stats[other]["vs_best"].excludes_zero  # two equally good methods
    verdict = noise_verdict(stats)
    assert f"Within noise of the best method ({best}): {other}" in verdict
    assert "Beating the best single modality (only:x) beyond noise: concat, late." in verdict
