"""compute_metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_core.metrics import compute_metrics


def test_metrics_match_hand_computed_values():
    # class 0: 1 of 2 predictions right, 1 of 2 found        → P 1/2, R 1/2, F1 1/2
    # class 1: 2 of 3 predictions right, 2 of 2 found        → P 2/3, R 1,   F1 4/5
    # class 2: 1 of 1 prediction right, 1 of 2 found         → P 1,   R 1/2, F1 2/3
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    m = compute_metrics(y_true, y_pred, None, ["a", "b", "c"])

    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)  # equal supports
    assert m["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert m["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert m["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["roc_auc"] is None  # no probabilities given


def test_weighted_f1_weights_by_support():
    # class 0 (support 3): P 1, R 2/3, F1 4/5; class 1 (support 1): P 1/2, R 1, F1 2/3
    m = compute_metrics([0, 0, 0, 1], [0, 0, 1, 1], None, ["x", "y"])
    assert m["weighted_f1"] == pytest.approx((3 * 4 / 5 + 1 * 2 / 3) / 4)
    assert m["macro_f1"] == pytest.approx((4 / 5 + 2 / 3) / 2)


def test_binary_roc_auc_from_probabilities():
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of the 4 pairs are ordered right
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    m = compute_metrics([0, 0, 1, 1], [0, 0, 0, 1], np.stack([1 - p1, p1], axis=1), ["neg", "pos"])
    assert m["roc_auc"] == pytest.approx(0.75)


def test_multiclass_roc_auc_is_one_for_perfect_ranking():
    probabilities = np.eye(3)[[0, 1, 2, 0]] * 0.8 + 0.2 / 3
    m = compute_metrics([0, 1, 2, 0], [0, 1, 2, 0], probabilities.astype(np.float32), ["a", "b", "c"])
    assert m["roc_auc"] == pytest.approx(1.0)


def test_class_missing_from_test_split_keeps_its_row_and_gives_no_roc_auc():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    m = compute_metrics([0, 0, 1, 1], [0, 0, 1, 2], probabilities, ["a", "b", "c"])
    assert m["roc_auc"] is None
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert m["per_class"]["c"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }  # zero_division=0
    # macro averages run over the classes that occur (a, b, and c as a prediction)
    assert m["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)
