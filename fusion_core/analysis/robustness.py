"""How a trained model holds up when a modality is noisy, missing, corrupted or attacked.

For each modality the test split is scored at growing severity (macro-F1; for a regression
task R², with the RMSE in the target's units next to it) of:

- **noise**: Gaussian noise added to the preprocessed input, its standard
  deviation in units of that modality's spread (the standard deviation of its
  values over the training rows when the data holds them, else over the rows
  analysed); token ids are discrete and get no noise;
- **missing**: the modality hidden (zeros, presence mask ``False``) for a
  growing share of the samples, exactly as if the data lacked it;
- **one corruption per type**: occlusion of a square patch for images, word
  dropout for text, a masked block of time for audio and series.

An adversarial check perturbs the continuous inputs (not token ids) against
the model's own gradient: FGSM (one signed-gradient step of size ε) and PGD
(a few smaller steps, kept within ε of the input), per modality and on all
modalities together, with ε in units of the spread.

Each curve is summed up in one number, its **robustness**: the area under
the score–severity curve (severity scaled to 0..1) divided by the clean score. 1.0
means the score never moved; 0.5 means it lost half on average. One number
per run and corruption (averaged over modalities) ranks methods for
robustness next to their accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fusion_core.analysis.contribution import macro_f1
from fusion_core.analysis.forward import BATCH_SIZE, check_modalities, model_device
from fusion_core.baselines import is_baseline_method
from fusion_core.data.types import METRIC_NAMES, PreparedData
from fusion_core.errors import ConfigError
from fusion_core.metrics import regression_metrics

NOISE_LEVELS = (0.0, 0.25, 0.5, 1.0, 2.0)
"""Standard deviations of the added noise, in units of the modality's spread."""

SHARE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Shares of samples (missing) or of words / time / image side (corruptions)."""

EPSILONS = (0.0, 0.05, 0.1, 0.25, 0.5)
"""Adversarial budgets ε (L∞), in units of the modality's spread."""

PGD_STEPS = 5

NO_NETWORK_MESSAGE = (
    "is a classical sk: baseline: it has no network, so there is no input to perturb or gradient to "
    "attack and no robustness to measure; pick a neural run"
)


@dataclass(frozen=True)
class Corruption:
    """One way to damage a modality: its name, words, severity levels and what the levels mean."""

    name: str
    title: str
    levels: tuple[float, ...]
    unit: str


NOISE = Corruption("noise", "Gaussian noise", NOISE_LEVELS, "noise std in units of the training spread")
MISSING = Corruption("missing", "missing modality", SHARE_LEVELS, "share of samples without the modality")
TYPE_CORRUPTIONS = {
    "image": Corruption("occlusion", "occlusion", SHARE_LEVELS, "side of the hidden square / image side"),
    "text": Corruption("word_dropout", "word dropout", SHARE_LEVELS, "share of words dropped"),
    "audio": Corruption("time_mask", "time masking", SHARE_LEVELS, "share of time frames masked"),
    "series": Corruption("time_mask", "time masking", SHARE_LEVELS, "share of time steps masked"),
}
"""The corruption each modality type gets besides noise and missing samples."""

CORRUPTION_TITLES = {c.name: c.title for c in (NOISE, MISSING, *TYPE_CORRUPTIONS.values())} | {
    "fgsm": "FGSM attack",
    "pgd": f"PGD attack ({PGD_STEPS} steps)",
}

Batch = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]
Damage = Callable[[Batch, torch.Generator], Batch]


def relative_auc(levels: Sequence[float], scores: Sequence[float], clean: float) -> float:
    """Area under the score–severity curve with severity scaled to 0..1, divided by ``clean``.

    1.0: the score never fell; 0.0: it fell to zero at once. A curve of one point is its score / clean.
    """
    levels = np.asarray(levels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if clean <= 0:
        return 0.0
    if len(levels) < 2 or levels[-1] == levels[0]:
        return float(scores.mean() / clean)
    x = (levels - levels[0]) / (levels[-1] - levels[0])
    area = float(np.sum((x[1:] - x[:-1]) * (scores[1:] + scores[:-1]) / 2))
    return area / clean


def modality_spread(data: PreparedData, name: str, rows: torch.Tensor) -> tuple[float, str]:
    """Standard deviation of a modality's present values, and which rows it came from."""
    modality = data.modalities[name]
    source_rows, source = (data.splits.train, "training") if len(data.splits.train) else (rows, "test")
    values = modality.values[source_rows][modality.present[source_rows]].float()
    spread = float(values.std()) if values.numel() > 1 else 0.0
    return (spread if np.isfinite(spread) and spread > 0 else 1.0), source


def is_continuous(data: PreparedData, name: str) -> bool:
    return data.modalities[name].form != "tokens"


def _noise(name: str, sigma: float) -> Damage:
    def damage(batch: Batch, generator: torch.Generator) -> Batch:
        inputs, masks = dict(batch[0]), batch[1]
        values = inputs[name]
        noise = torch.randn(values.shape, generator=generator, dtype=values.dtype) * sigma
        keep = masks[name].to(values.dtype).view(-1, *([1] * (values.dim() - 1)))
        inputs[name] = values + noise.to(values.device) * keep
        return inputs, masks

    return damage


def _missing(name: str, share: float) -> Damage:
    def damage(batch: Batch, generator: torch.Generator) -> Batch:
        inputs, masks = dict(batch[0]), dict(batch[1])
        hide = torch.rand(len(masks[name]), generator=generator) < share
        hide = hide.to(masks[name].device)
        values = inputs[name]
        inputs[name] = values * (~hide).to(values.dtype).view(-1, *([1] * (values.dim() - 1)))
        masks[name] = masks[name] & ~hide
        return inputs, masks

    return damage


def _zeroed(name: str, where: Callable[[torch.Tensor, torch.Generator], torch.Tensor | None]) -> Damage:
    """A damage that sets the values ``where(values, generator)`` marks to 0 (the mean, or padding)."""

    def damage(batch: Batch, generator: torch.Generator) -> Batch:
        inputs, masks = dict(batch[0]), batch[1]
        hidden = where(inputs[name], generator)
        if hidden is not None:
            inputs[name] = inputs[name].masked_fill(hidden.to(inputs[name].device), 0)
        return inputs, masks

    return damage


def _spans(count: int, length: int, span: int, generator: torch.Generator) -> torch.Tensor:
    """``(count, length)`` bool: a run of ``span`` True at a random place in each row."""
    starts = torch.randint(0, length - span + 1, (count, 1), generator=generator)
    steps = torch.arange(length).view(1, -1)
    return (steps >= starts) & (steps < starts + span)


def _occlusion(values: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor | None:
    """A square of side ``share`` × the image side, at a random place per sample (N, C, H, W)."""
    (height, width), n = values.shape[-2:], len(values)
    h, w = round(share * height), round(share * width)
    if not (h and w):
        return None
    rows, cols = _spans(n, height, h, generator), _spans(n, width, w, generator)
    return rows.view(n, 1, height, 1) & cols.view(n, 1, 1, width)


def _word_dropout(values: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A share of the words: token ids become padding (0); bag-of-words counts become 0."""
    return torch.rand(values.shape, generator=generator) < share


def _time_mask(
    values: torch.Tensor, share: float, form: str, generator: torch.Generator
) -> torch.Tensor | None:
    """A block of ``share`` × the length at a random place per sample: (N, 1, F, T) grids or (N, T, C) sequences."""
    length = values.shape[-1] if form == "grid" else values.shape[1]
    span = round(share * length)
    if not span:
        return None
    steps = _spans(len(values), length, span, generator)
    return steps.view(len(values), 1, 1, length) if form == "grid" else steps.view(len(values), length, 1)


def _type_corruption(data: PreparedData, name: str, share: float) -> Damage:
    modality = data.modalities[name]
    if modality.type == "image":
        return _zeroed(name, lambda values, generator: _occlusion(values, share, generator))
    if modality.type == "text":
        return _zeroed(name, lambda values, generator: _word_dropout(values, share, generator))
    return _zeroed(name, lambda values, generator: _time_mask(values, share, modality.form, generator))


def _batches(data: PreparedData, rows: torch.Tensor, device: torch.device):
    for start in range(0, len(rows), BATCH_SIZE):
        batch = rows[start : start + BATCH_SIZE]
        inputs = {n: m.values[batch].to(device) for n, m in data.modalities.items()}
        masks = {n: m.present[batch].to(device) for n, m in data.modalities.items()}
        yield inputs, masks


@torch.inference_mode()
def _score(
    model: nn.Module, data: PreparedData, rows: torch.Tensor, damage: Damage | None, seed: int
) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    device = model_device(model)
    outputs = []
    for batch in _batches(data, rows, device):
        inputs, masks = damage(batch, generator) if damage is not None else batch
        outputs.append(model(inputs, masks).float().cpu())
    return _scores(data, rows, torch.cat(outputs))


def _scores(data: PreparedData, rows: torch.Tensor, outputs: torch.Tensor) -> dict[str, float]:
    """The task's main score of the model's outputs on ``rows``, and for regression the RMSE too."""
    if data.task == "regression":
        mean, std = data.target_scale()
        predicted = outputs[:, 0].double().numpy() * std + mean
        metrics = regression_metrics(data.labels[rows].numpy(), predicted)
        return {"r2": metrics["r2"], "rmse": metrics["rmse"]}
    return {"macro_f1": macro_f1(data.labels[rows].numpy(), outputs.argmax(dim=1).numpy())}


def _targets(data: PreparedData, rows: torch.Tensor, device: torch.device) -> torch.Tensor:
    """What the training loss compares the output with: class indices, or standardised values."""
    if data.task == "regression":
        mean, std = data.target_scale()
        return ((data.labels[rows].double() - mean) / std).float().to(device)
    return data.labels[rows].to(device)


def _attack_loss(data: PreparedData) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if data.task == "regression":
        return lambda outputs, targets: nn.functional.mse_loss(outputs[:, 0], targets)
    return nn.CrossEntropyLoss()


def _attack(
    model: nn.Module,
    data: PreparedData,
    rows: torch.Tensor,
    targets: Sequence[str],
    epsilons: Mapping[str, float],
    steps: int,
) -> float:
    """Scores after an L∞ attack on ``targets``: FGSM when ``steps`` is 1, else PGD with ``steps`` steps.

    ``epsilons`` gives each target's budget in its own units. Only present samples are perturbed.
    """
    device = model_device(model)
    outputs = []
    loss_fn = _attack_loss(data)
    labels_all = _targets(data, rows, device)
    for start, (inputs, masks) in zip(
        range(0, len(rows), BATCH_SIZE), _batches(data, rows, device), strict=True
    ):
        labels = labels_all[start : start + BATCH_SIZE]
        clean = {n: inputs[n].float() for n in targets}
        keep = {n: masks[n].to(clean[n].dtype).view(-1, *([1] * (clean[n].dim() - 1))) for n in targets}
        adversarial = dict(clean)
        step_size = {n: epsilons[n] if steps == 1 else 2.5 * epsilons[n] / steps for n in targets}
        for _ in range(steps):
            leaves = {n: adversarial[n].detach().requires_grad_(True) for n in targets}
            with torch.enable_grad():
                loss = loss_fn(model({**inputs, **leaves}, masks), labels)
                grads = torch.autograd.grad(loss, [leaves[n] for n in targets])
            for n, grad in zip(targets, grads, strict=True):
                moved = leaves[n].detach() + step_size[n] * grad.sign() * keep[n]
                adversarial[n] = clean[n] + (moved - clean[n]).clamp(-epsilons[n], epsilons[n])
        with torch.inference_mode():
            outputs.append(model({**inputs, **adversarial}, masks).float().cpu())
    return _scores(data, rows, torch.cat(outputs))


def robustness_curves(
    model: nn.Module,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | None = None,
    *,
    modalities: Sequence[str] | None = None,
    corruptions: Sequence[str] | None = None,
    adversarial: bool = True,
    epsilons: Sequence[float] = EPSILONS,
    seed: int = 0,
) -> dict[str, Any]:
    """Every robustness curve of ``model`` on ``rows`` (default: the test split); a JSON-able dict.

    ``modalities`` and ``corruptions`` (names among noise, missing, occlusion, word_dropout,
    time_mask) narrow what is computed. Keys: ``metric`` (``macro_f1``, or ``r2`` for regression) and
    its ``metric_name``; ``clean_score``; ``spread`` per modality and the rows it came from; ``curves``,
    a list of ``{modality, corruption, title, unit, levels, score, robustness}`` (regression adds
    ``rmse``, the error in the target's units, per level, and the report a ``clean_rmse``);
    ``adversarial``, the same with ``modality`` ``"all"`` for the joint attack; ``scores``, one
    robustness number per corruption averaged over modalities; ``notes`` in plain words.
    """
    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    if len(rows) == 0:
        raise ConfigError(
            "there are no test samples to measure robustness on; use a dataset with a test split"
        )
    names = check_modalities(model, data)
    if modalities is not None:
        unknown = [n for n in modalities if n not in names]
        if unknown:
            raise ConfigError(f"unknown modality {unknown[0]!r}; choose among: {', '.join(names)}")
        names = list(modalities)
    was_training = model.training
    model.eval()
    try:
        clean_scores = _score(model, data, rows, None, seed)
        clean = clean_scores[data.main_metric]
        spreads = {n: modality_spread(data, n, rows) for n in data.modalities}
        curves = []
        for index, name in enumerate(names):
            kinds = [NOISE] if is_continuous(data, name) else []
            kinds.append(MISSING)
            if data.modalities[name].type in TYPE_CORRUPTIONS:
                kinds.append(TYPE_CORRUPTIONS[data.modalities[name].type])
            for kind in kinds:
                if corruptions is not None and kind.name not in corruptions:
                    continue
                scores = []
                for level in kind.levels:
                    if level == 0:
                        scores.append(clean_scores)
                        continue
                    if kind is NOISE:
                        damage = _noise(name, level * spreads[name][0])
                    elif kind is MISSING:
                        damage = _missing(name, level)
                    else:
                        damage = _type_corruption(data, name, level)
                    scores.append(_score(model, data, rows, damage, seed + index))
                curves.append(
                    _curve(name, kind.name, kind.title, kind.unit, kind.levels, scores, clean_scores)
                )
        attacks = (
            _adversarial_curves(model, data, rows, names, spreads, epsilons, clean_scores)
            if adversarial
            else []
        )
    finally:
        model.train(was_training)
    return {
        "metric": data.main_metric,
        "metric_name": METRIC_NAMES[data.main_metric],
        "clean_score": clean,
        **({"clean_rmse": clean_scores["rmse"]} if "rmse" in clean_scores else {}),
        "test_samples": len(rows),
        "spread": {n: {"value": s, "from": src} for n, (s, src) in spreads.items()},
        "curves": curves,
        "adversarial": attacks,
        "scores": robustness_scores(curves + attacks),
        "notes": _notes(curves, attacks, clean, METRIC_NAMES[data.main_metric]),
    }


def _adversarial_curves(model, data, rows, names, spreads, epsilons, clean_scores) -> list[dict[str, Any]]:
    continuous = [n for n in names if is_continuous(data, n)]
    targets = [[n] for n in continuous] + ([continuous] if len(continuous) > 1 else [])
    result = []
    for attack, steps in (("fgsm", 1), ("pgd", PGD_STEPS)):
        for target in targets:
            scores = [
                clean_scores
                if eps == 0 and attack == "pgd"
                else _attack(model, data, rows, target, {n: eps * spreads[n][0] for n in target}, steps)
                for eps in epsilons
            ]
            label = target[0] if len(target) == 1 else "all"
            result.append(
                _curve(label, attack, CORRUPTION_TITLES[attack], "ε in units of the training spread",
                       tuple(epsilons), scores, clean_scores)
            )  # fmt: skip
    return result


def _curve(modality, corruption, title, unit, levels, scores, clean) -> dict[str, Any]:
    """One curve from the scores at each level (``_scores`` dicts), relative to the ``clean`` ones."""
    metric = "r2" if "r2" in clean else "macro_f1"
    values = [float(v[metric]) for v in scores]
    curve = {
        "modality": modality,
        "corruption": corruption,
        "title": title,
        "unit": unit,
        "levels": [float(v) for v in levels],
        "score": values,
        "robustness": relative_auc(levels, values, clean[metric]),
    }
    if "rmse" in scores[0]:
        curve["rmse"] = [float(v["rmse"]) for v in scores]
    return curve


def robustness_scores(curves: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One robustness number per corruption: the mean over modalities (the joint attack counts alone)."""
    grouped: dict[str, list[float]] = {}
    joint: dict[str, float] = {}
    for curve in curves:
        if curve["modality"] == "all":
            joint[curve["corruption"]] = curve["robustness"]
        else:
            grouped.setdefault(curve["corruption"], []).append(curve["robustness"])
    scores = {name: float(np.mean(values)) for name, values in grouped.items()}
    scores.update(joint)  # an attack on everything at once says more than the mean of single ones
    return scores


def _notes(curves, attacks, clean, metric_name) -> list[str]:
    notes = [f"clean {metric_name} on the test split: {clean:.3f}"]
    for kind in ("noise", "missing"):
        chosen = [c for c in curves if c["corruption"] == kind]
        if chosen:
            worst = min(chosen, key=lambda c: c["robustness"])
            notes.append(
                f"{CORRUPTION_TITLES[kind]} hurts most on {worst['modality']} "
                f"(robustness {worst['robustness']:.2f}; 1.00 means no loss)"
            )
    joint = [c for c in attacks if c["modality"] == "all" or len({a["modality"] for a in attacks}) == 1]
    if joint:
        last = joint[-1]
        notes.append(
            f"{last['title']} at ε = {last['levels'][-1]:g} spreads on {last['modality']}: "
            f"{metric_name} {last['score'][-1]:.3f}"
        )
    return notes


def robustness_run(
    run: Any,
    *,
    dataset: Any = None,
    prepared: PreparedData | None = None,
    adversarial: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """``robustness_curves`` for a saved run, on its test samples; adds a ``run`` entry."""
    from fusion_core.analysis.report import data_for_run

    if is_baseline_method(run.method):
        raise ConfigError(f"run {run.label!r} {NO_NETWORK_MESSAGE}")
    if run.model is None:
        raise ConfigError(
            "this run has no trained model to test; load it with RunStore.load(run_id) or train it again"
        )
    data, rows = data_for_run(run, dataset=dataset, prepared=prepared)
    report = robustness_curves(run.model, data, rows, adversarial=adversarial, seed=seed)
    report["run"] = {
        "run_id": run.run_id,
        "label": run.label,
        "method": run.method,
        "dataset": run.dataset_name,
        report["metric"]: float(run.metrics.get(report["metric"], report["clean_score"])),
    }
    return report
