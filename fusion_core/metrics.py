"""How good a classifier is, in the numbers a learner and a researcher both read.

``compute_metrics`` turns true labels, predictions and (optionally) predicted
probabilities into one plain dict, built on scikit-learn:

accuracy        the share of samples predicted right; misleading when classes are unbalanced.
macro F1        the F1 score (harmonic mean of precision and recall) of every class,
                averaged with equal weight per class, so rare classes count as much as
                common ones. Fusion Explorer ranks methods by it.
weighted F1     the same average weighted by each class's support (its number of true samples).
precision       of the samples predicted as a class, the share that truly are (macro average).
recall          of the samples truly in a class, the share found (macro average).
per_class       precision, recall, F1 and support of every class.
confusion_matrix  counts of (true class, predicted class); rows are true classes, and
                every class has a row and column even when absent from the test split.
roc_auc         one-vs-rest area under the ROC curve from the probabilities (macro average);
                None when no probabilities are given or a class has no true sample.

For a regression task ``regression_metrics`` gives MAE, RMSE and R² instead; R² ranks methods.

A score with nothing to divide by (a class never predicted) counts as 0, as
``zero_division=0`` does in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)


def compute_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    probabilities: np.ndarray | None,
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Score predictions against the truth; class ``i`` is ``class_names[i]``.

    >>> m = compute_metrics([0, 0, 1, 1], [0, 1, 1, 1], None, ["cat", "dog"])
    >>> m["accuracy"], round(m["macro_f1"], 3), m["confusion_matrix"]
    (0.75, 0.733, [[1, 1], [0, 2]])
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = np.arange(len(class_names))
    # Macro averages over the classes seen in this split (true or predicted), as
    # scikit-learn does by default; the confusion matrix and per-class table keep
    # every class so that a class missing from the test split is visible.
    seen = np.union1d(y_true, y_pred)
    precision, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=seen, average="macro", zero_division=0
    )
    per_p, per_r, per_f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=seen, average="weighted", zero_division=0)),
        "precision": float(precision),
        "recall": float(recall),
        "per_class": {
            str(name): {
                "precision": float(per_p[i]),
                "recall": float(per_r[i]),
                "f1": float(per_f[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "roc_auc": _roc_auc(y_true, probabilities, len(class_names)),
    }


def _roc_auc(y_true: np.ndarray, probabilities: np.ndarray | None, num_classes: int) -> float | None:
    """One-vs-rest macro ROC-AUC, or None when it is undefined for this split."""
    if probabilities is None or len(y_true) == 0:
        return None
    if len(np.unique(y_true)) < num_classes:  # a class without a true sample has no ROC curve
        return None
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 softmax drifts from 1
    if num_classes == 2:
        return float(roc_auc_score(y_true, probabilities[:, 1]))
    return float(
        roc_auc_score(
            y_true, probabilities, multi_class="ovr", average="macro", labels=np.arange(num_classes)
        )
    )


def regression_metrics(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> dict:
    """MAE, RMSE (in the target's units) and R² of predicted numbers, from scikit-learn.

    R² is 1 for a perfect prediction, 0 for always predicting the mean, negative when worse.

    >>> m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    >>> m["mae"], m["rmse"], m["r2"]
    (0.25, 0.5, 0.8)
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if len(y_true) == 0:
        return {"mae": None, "rmse": None, "r2": None}
    r2 = float(r2_score(y_true, y_pred)) if len(y_true) > 1 else None
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "r2": r2,
    }
