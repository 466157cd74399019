"""Which modality did training listen to? Per-modality gradient norms, epoch by epoch.

The trainer records, every epoch, the mean norm of the gradient that reached
each modality's encoder (``EpochLog.grad_norms``). When one modality's
gradients are several times larger than the others', training is driven by
that modality and the others learn slowly: the model may settle on the easy
modality and under-use the rest. This "modality imbalance" is a known failure
of joint training (Wang et al., 2020, "What Makes Training Multi-modal
Classification Networks Hard?"; Peng et al., 2022, OGM-GE). When the summary
finds a dominant or starved modality it recommends a remedy from
``fusion_core.imbalance`` (``summary["remedy"]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DOMINANCE_RATIO = 3.0
"""A modality dominates when its mean gradient norm exceeds this many times every other modality's."""


RECOMMENDED_REMEDY = "blend"
"""The remedy recommended first: on the parcel-scanner sample it raised the under-used modality's
probed accuracy and the fused macro-F1 (``bench/bench_imbalance.py``, see its data card)."""
REMEDY_ADVICE = (
    "try retraining with gradient blending (Train page, 'Modality imbalance remedies', or "
    "`--imbalance blend`): every modality gets its own head and a loss weighted by how well it still "
    "generalises, so the under-used encoder keeps learning; OGM-GE (`--imbalance ogm-ge`) and modality "
    "dropout are the alternatives"
)


def _grad_norms(entry: Any) -> Mapping[str, float]:
    if isinstance(entry, Mapping):
        return entry.get("grad_norms") or {}
    return getattr(entry, "grad_norms", None) or {}


def _epoch(entry: Any, default: int) -> int:
    value = entry.get("epoch") if isinstance(entry, Mapping) else getattr(entry, "epoch", None)
    return int(value) if value is not None else default


def gradient_summary(history: Sequence[Any], *, ratio: float = DOMINANCE_RATIO) -> dict:
    """Gradient-norm history per modality, its means, and a note when one modality dominated.

    ``history`` is ``RunResult.history`` (``EpochLog`` objects or their dicts).
    Returns ``epochs``, ``norms`` ({modality: [per-epoch norm]}), ``mean``,
    ``dominant`` (a name or None), ``ratio`` (largest mean / next largest),
    ``starved`` (modalities, beyond the top two, whose mean is more than ``ratio``
    times below the runner-up's), ``note`` in plain words, and, when a modality dominated or
    starved, ``remedy`` (a ``TrainConfig.imbalance`` value) with ``recommendation`` in plain
    words (``None`` and "" otherwise).
    """
    names: list[str] = []
    for entry in history:
        for name in _grad_norms(entry):
            if name not in names:
                names.append(name)
    epochs = [_epoch(entry, i + 1) for i, entry in enumerate(history)]
    norms = {name: [_finite_or_none(_grad_norms(entry).get(name)) for entry in history] for name in names}
    mean = {
        name: float(np.mean([v for v in series if v is not None] or [0.0])) for name, series in norms.items()
    }
    summary = {"epochs": epochs, "norms": norms, "mean": mean, "dominant": None, "ratio": None, "starved": []}
    summary["note"] = _note(mean, summary, ratio)
    summary["remedy"] = RECOMMENDED_REMEDY if summary["dominant"] or summary["starved"] else None
    summary["recommendation"] = REMEDY_ADVICE if summary["remedy"] else ""
    return summary


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _note(mean: Mapping[str, float], summary: dict, ratio: float) -> str:
    if not mean:
        return "no gradient norms were recorded for this run"
    if len(mean) == 1:
        (name,) = mean
        return f"only one modality ({name}) receives gradients, so there is nothing to balance"
    ranked = sorted(mean, key=mean.__getitem__, reverse=True)
    top, runner_up = ranked[0], ranked[1]
    if mean[runner_up] <= 0:
        if mean[top] <= 0:
            return "no modality's encoder received a gradient (the encoders may be frozen or pass-through)"
        times = float("inf")
    else:
        times = mean[top] / mean[runner_up]
    summary["ratio"] = times if np.isfinite(times) else None
    if times > ratio:
        summary["dominant"] = top
        others = ", ".join(ranked[1:])
        strength = "many" if not np.isfinite(times) else f"{times:.1f}"
        return (
            f"{top} dominated training: its encoder received {strength} times the gradient of the next "
            f"modality ({runner_up}), so {others} learned slowly and may be under-used; "
            "a remedy for modality imbalance can rebalance it"
        )
    starved = [name for name in ranked[2:] if mean[name] * ratio < mean[runner_up]]
    summary["starved"] = starved
    if starved:
        weakest = starved[-1]
        times_less = "many" if mean[weakest] <= 0 else f"{mean[top] / mean[weakest]:.0f}"
        one = len(starved) == 1
        return (
            f"{top} and {runner_up} shared the gradient ({times:.1f} to 1), while {', '.join(starved)} received "
            f"far less ({weakest}: {times_less} times less than {top}), so {'it' if one else 'they'} learned "
            f"little and the model may be ignoring {'it' if one else 'them'}"
        )
    return (
        f"the modalities received gradients of similar size (the largest, {top}, is {times:.1f} times "
        f"{runner_up}): no single modality dominated training"
    )
