"""Paired differences between methods, with 95 % intervals a reviewer can check.

Every method of a comparison is trained on the same splits with the same seeds,
so two methods' runs pair up by (seed, fold) and are scored on the very same
test rows. ``paired_difference`` estimates the mean macro-F1 difference of two
methods over those pairs with a two-level paired bootstrap: each replicate
draws the (seed, fold) pairs with replacement and, inside each, the test rows
with replacement (the same rows for both methods), then recomputes both
macro-F1s on the drawn rows.

Why a bootstrap and not a paired t-interval: comparisons here usually have one
to five seeds. A paired t-interval over three seeds has two degrees of freedom
(t = 4.3), and with one seed it does not exist at all, yet each seed's test set
holds hundreds of predictions whose sampling noise is the larger part of the
uncertainty. Resampling the test rows uses that information, and resampling the
seeds too adds the seed-to-seed spread when there are several. Macro-F1 is not
a mean over rows, so the rows are resampled and the metric recomputed rather
than averaging per-row scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusion_core.data.types import MAIN_METRIC

REPLICATES = 2000
LEVEL = 0.95
BASELINE_PREFIX = "only:"  # "only:<modality>": a method that sees one modality (see fusion_core.experiment)


@dataclass
class PairedDifference:
    """``mean`` macro-F1 of a method minus a reference's, with its 95 % interval ``[low, high]``."""

    reference: str
    mean: float
    low: float
    high: float
    pairs: int

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below zero: a difference beyond noise."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "pairs": self.pairs,
            "excludes_zero": self.excludes_zero,
        }


def macro_f1_rows(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Macro-F1 of each row of ``(R, n)`` label and prediction arrays, as ``(R,)``.

    Classes that occur neither as truth nor as prediction in a row are left out of its
    mean, as ``sklearn.metrics.f1_score(average="macro", zero_division=0)`` does.
    """
    y_true, y_pred = np.atleast_2d(y_true), np.atleast_2d(y_pred)
    replicates = y_true.shape[0]
    cell = (np.arange(replicates)[:, None] * num_classes + y_true) * num_classes + y_pred
    counts = np.bincount(cell.ravel(), minlength=replicates * num_classes * num_classes)
    confusion = counts.reshape(replicates, num_classes, num_classes).astype(float)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    totals = confusion.sum(axis=2) + confusion.sum(axis=1)
    occurs = totals > 0
    f1 = np.where(occurs, 2 * hits / np.maximum(totals, 1), 0.0)
    return f1.sum(axis=1) / np.maximum(occurs.sum(axis=1), 1)


def r2_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """R² of each row of ``(R, n)`` target and prediction arrays, as ``(R,)`` (as ``sklearn.metrics.r2_score``)."""
    y_true, y_pred = np.atleast_2d(y_true), np.atleast_2d(y_pred)
    residual = ((y_true - y_pred) ** 2).sum(axis=1)
    total = ((y_true - y_true.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return 1.0 - residual / np.maximum(total, 1e-12)


def paired_difference(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    num_classes: int,
    *,
    reference: str = "",
    replicates: int = REPLICATES,
    seed: int = 0,
    task: str = "classification",
) -> PairedDifference:
    """Mean difference (A − B) of the task's main score (macro-F1, or R² for regression) over
    ``pairs`` of ``(y_true, pred_a, pred_b)``, with a 95 % interval.

    Each pair is one (seed, fold): both methods' predictions on the same test rows.
    """
    if not pairs:
        raise ValueError("a paired difference needs at least one pair of runs")
    if task == "regression":
        dtype = np.float64

        def score(y: np.ndarray, p: np.ndarray) -> np.ndarray:
            return r2_rows(y, p)
    else:
        dtype = np.int64

        def score(y: np.ndarray, p: np.ndarray) -> np.ndarray:
            return macro_f1_rows(y, p, num_classes)

    rng = np.random.default_rng(seed)
    observed, per_pair = [], []
    for y_true, pred_a, pred_b in pairs:
        y_true, pred_a, pred_b = (np.asarray(a, dtype=dtype) for a in (y_true, pred_a, pred_b))
        observed.append(score(y_true, pred_a)[0] - score(y_true, pred_b)[0])
        rows = rng.integers(0, len(y_true), size=(replicates, len(y_true)))
        per_pair.append(score(y_true[rows], pred_a[rows]) - score(y_true[rows], pred_b[rows]))
    diffs = np.stack(per_pair)  # (pairs, replicates)
    drawn = rng.integers(0, len(pairs), size=(replicates, len(pairs)))  # the pairs each replicate uses
    boot = diffs[drawn, np.arange(replicates)[:, None]].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return PairedDifference(reference, float(np.mean(observed)), float(low), float(high), len(pairs))


def comparison_statistics(runs: Sequence[Any], *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """For each method: its paired difference to the best unimodal baseline and to the best method.

    ``runs`` are ``RunResult``s of one comparison (same dataset). Runs pair up by
    (seed, fold) when they were scored on the same test rows. Returns
    ``{method: {"vs_best_unimodal": PairedDifference | None, "vs_best": … | None}}``,
    with ``"best"`` and ``"best_unimodal"`` naming the references (by the mean of the task's main
    score: macro-F1, or R² for regression).
    A method compared with itself, or with no common pairs, gets None.
    """
    by_method: dict[str, dict[tuple, Any]] = {}
    for run in runs:
        by_method.setdefault(run.method, {})[(run.seed, run.fold)] = run
    if not by_method:
        return {}
    task = runs[0].task
    metric = MAIN_METRIC[task]
    means = {
        method: float(np.mean([r.metrics[metric] for r in found.values()]))
        for method, found in by_method.items()
    }
    best = max(means, key=means.get)
    unimodal = [m for m in means if m.startswith(BASELINE_PREFIX)]
    best_unimodal = max(unimodal, key=means.get) if unimodal else None
    num_classes = max(len(r.class_names) for r in runs)

    def versus(method: str, reference: str | None) -> PairedDifference | None:
        if reference is None or method == reference:
            return None
        pairs = [
            (run.y_true, run.y_pred, by_method[reference][key].y_pred)
            for key, run in sorted(by_method[method].items(), key=lambda item: str(item[0]))
            if key in by_method[reference] and list(by_method[reference][key].test_ids) == list(run.test_ids)
        ]
        if not pairs:
            return None
        return paired_difference(pairs, num_classes, reference=reference, seed=seed, task=task)

    return {
        method: {
            "best": best,
            "best_unimodal": best_unimodal,
            "vs_best_unimodal": versus(method, best_unimodal),
            "vs_best": versus(method, best),
        }
        for method in by_method
    }


def format_difference(difference: PairedDifference | dict[str, Any] | None) -> str:
    """``+0.031 [+0.012, +0.050] *``: the mean and its 95 % interval, starred when it excludes zero."""
    if difference is None:
        return ""
    if isinstance(difference, PairedDifference):
        difference = difference.to_dict()
    star = " *" if difference["excludes_zero"] else ""
    return f"{difference['mean']:+.3f} [{difference['low']:+.3f}, {difference['high']:+.3f}]{star}"


def statistics_rows(statistics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method for a table: its differences to the two references, as text."""
    return [
        {
            "method": method,
            "vs_best_unimodal": format_difference(found["vs_best_unimodal"]),
            "vs_best": format_difference(found["vs_best"]),
            "pairs": max(
                (d.pairs for d in (found["vs_best_unimodal"], found["vs_best"]) if d is not None), default=0
            ),
        }
        for method, found in statistics.items()
    ]


def noise_verdict(statistics: dict[str, dict[str, Any]]) -> str:
    """Plain words on which differences are beyond noise, from ``comparison_statistics``."""
    if not statistics:
        return ""
    first = next(iter(statistics.values()))
    best, best_unimodal = first["best"], first["best_unimodal"]
    tied = sorted(
        m for m, s in statistics.items() if s["vs_best"] is not None and not s["vs_best"].excludes_zero
    )
    sentences = []
    if tied:
        sentences.append(
            f"Within noise of the best method ({best}): {', '.join(tied)}; their 95 % intervals for the "
            "difference include zero, so this ranking among them may not hold on other data or seeds."
        )
    else:
        sentences.append(f"The best method ({best}) is ahead of every other beyond noise.")
    if best_unimodal is not None:
        # fusion methods, neural or classical (``sk:<model>:only:<modality>`` sees one modality)
        fused = [
            m for m in statistics if not m.startswith(BASELINE_PREFIX) and f":{BASELINE_PREFIX}" not in m
        ]
        beyond = sorted(
            m
            for m in fused
            if statistics[m]["vs_best_unimodal"] is not None and statistics[m]["vs_best_unimodal"].low > 0
        )
        if beyond:
            sentences.append(
                f"Beating the best single modality ({best_unimodal}) beyond noise: {', '.join(beyond)}."
            )
        elif fused:
            sentences.append(
                f"No fusion method beats the best single modality ({best_unimodal}) beyond noise."
            )
    return " ".join(sentences)
