"""How much each modality contributes to a trained model's test score.

Two ways to ask "how much does the model need modality m?":

**Masking.** Hide m at test time (as if it were missing for every sample) and
see how far macro-F1 falls. A large drop means the model leans on m. It says
nothing about m's value *together with* the others: if two modalities are
redundant, hiding either one costs little although the pair matters a lot.

**Shapley values.** Score the model on every subset S of modalities
(``v(S)`` = macro-F1 with only the modalities in S present; ``v(∅)`` = all
hidden) and give each modality its average marginal gain over all orders in
which the modalities could be added:

    φ_m = Σ_{S ⊆ N \\ {m}}  |S|! (M − |S| − 1)! / M!  ·  (v(S ∪ {m}) − v(S))

The values add up exactly to ``v(N) − v(∅)`` and split credit fairly between
redundant modalities (Shapley, 1953). They need ``2^M`` evaluations, so they
are computed for at most four modalities.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score, r2_score
from torch import nn

from fusion_core.analysis.forward import check_modalities, subset_logits
from fusion_core.data.types import MAIN_METRIC, METRIC_NAMES, PreparedData

MAX_SHAPLEY_MODALITIES = 4


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def subset_scores(
    model: nn.Module,
    data: PreparedData,
    subsets: Iterable[Iterable[str]],
    rows: torch.Tensor | np.ndarray | None = None,
) -> dict[frozenset[str], float]:
    """Macro-F1 (R² for a regression task) on ``rows`` (default: the test split) with only each
    subset's modalities present."""
    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    y_true = data.labels[rows].numpy()
    logits = subset_logits(model, data, rows, [frozenset(s) for s in subsets])
    if data.task == "regression":  # R² is unchanged by standardising truth and prediction alike
        mean, std = data.target_scale()
        standard = (y_true - mean) / std
        return {subset: float(r2_score(standard, values[:, 0])) for subset, values in logits.items()}
    return {subset: macro_f1(y_true, values.argmax(axis=1)) for subset, values in logits.items()}


def subset_errors(model: nn.Module, data: PreparedData, rows: torch.Tensor | None = None) -> dict[str, float]:
    """A regression model's RMSE (in the target's units) with only each subset of modalities present,
    keyed ``"A + B"``, …, ``"none"``: the error per modality subset."""
    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    names = check_modalities(model, data)
    y_true = data.labels[rows].numpy().astype(np.float64)
    mean, std = data.target_scale()
    subsets = sorted(all_subsets(names), key=lambda s: (-len(s), sorted(s)))
    logits = subset_logits(model, data, rows, subsets)
    errors = {}
    for subset in subsets:
        predicted = logits[subset][:, 0].astype(np.float64) * std + mean
        label = " + ".join(n for n in names if n in subset) or "none"
        errors[label] = float(np.sqrt(np.mean((predicted - y_true) ** 2)))
    return errors


def all_subsets(names: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(c) for k in range(len(names) + 1) for c in itertools.combinations(names, k)]


def shapley_values(scores: Mapping[frozenset[str], float], names: Sequence[str]) -> dict[str, float]:
    """Exact Shapley values of ``names`` from the score of every subset.

    ``scores`` must hold a value for each of the ``2^M`` subsets. The result
    sums to ``scores[all] − scores[empty]`` up to floating-point rounding.
    """
    m = len(names)
    values = {}
    for name in names:
        others = [n for n in names if n != name]
        total = 0.0
        for k in range(m):
            weight = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
            for subset in itertools.combinations(others, k):
                s = frozenset(subset)
                total += weight * (scores[s | {name}] - scores[s])
        values[name] = total
    return values


def modality_contribution(
    model: nn.Module,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | None = None,
    *,
    shapley: bool = True,
) -> dict:
    """Masking drops, single-modality scores and (for M ≤ 4) exact Shapley values, JSON-able.

    Keys: ``modalities``, ``full`` (v(all)), ``empty`` (v(∅)), ``without`` and
    ``alone`` (macro-F1 with one modality hidden / with only it present),
    ``drop`` (``full − without``), ``shapley`` (or None), ``subsets`` (every
    subset scored) and ``note``, a sentence in plain words.
    """
    names = check_modalities(model, data)
    metric = MAIN_METRIC[data.task]
    full, empty = frozenset(names), frozenset()
    wanted = [full, empty]
    wanted += [full - {n} for n in names] + [frozenset({n}) for n in names]
    do_shapley = shapley and len(names) <= MAX_SHAPLEY_MODALITIES
    if do_shapley:
        wanted += all_subsets(names)
    scores = subset_scores(model, data, wanted, rows)

    without = {n: scores[full - {n}] for n in names}
    result = {
        "metric": metric,
        "modalities": names,
        "full": scores[full],
        "empty": scores[empty],
        "without": without,
        "alone": {n: scores[frozenset({n})] for n in names},
        "drop": {n: scores[full] - without[n] for n in names},
        "shapley": shapley_values(scores, names) if do_shapley else None,
        "subsets": [
            {"present": [n for n in names if n in subset], metric: score}
            for subset, score in sorted(scores.items(), key=lambda item: (len(item[0]), sorted(item[0])))
        ],
    }
    if not do_shapley and shapley:
        result["shapley_note"] = (
            f"Shapley values need every subset of modalities scored (2^{len(names)} runs); "
            f"they are computed for at most {MAX_SHAPLEY_MODALITIES} modalities"
        )
    result["note"] = contribution_note(result)
    return result


def _fall(result: Mapping, name: str) -> str:
    """How far macro-F1 falls when ``name`` is hidden, with the scores it falls between."""
    return (
        f"{METRIC_NAMES[result.get('metric', 'macro_f1')]} falls by {result['drop'][name]:.2f}, "
        f"from {result['full']:.2f} to {result['without'][name]:.2f}"
    )


def contribution_note(result: Mapping) -> str:
    """Say in words which modality the model leans on most, and which it could do without."""
    drop: Mapping[str, float] = result["drop"]
    score = METRIC_NAMES[result.get("metric", "macro_f1")]
    if len(drop) < 2:
        (name,) = drop
        return f"the model reads only {name}; hiding it takes {score} from {result['full']:.2f} to {result['empty']:.2f}"
    ranked = sorted(drop, key=drop.__getitem__, reverse=True)
    top, last = ranked[0], ranked[-1]
    if drop[top] - drop[last] < 0.02:
        costs = ", ".join(f"{name} {drop[name]:+.2f}" for name in ranked)
        words = f"hiding any one modality costs about the same {score} ({costs}; all present {result['full']:.2f})"
    else:
        words = f"hiding {top} costs the most ({_fall(result, top)})"
        if drop[last] < 0.02:
            words += (
                f"; without {last} the score hardly moves ({drop[last]:+.2f}), so the model barely uses it"
            )
        else:
            words += f"; hiding {last} costs the least ({_fall(result, last)})"
    if result.get("shapley"):
        shap = result["shapley"]
        lead = max(shap, key=shap.__getitem__)
        words += f"; by Shapley value {lead} contributes most ({shap[lead]:.2f} of {result['full'] - result['empty']:.2f})"
    return words
