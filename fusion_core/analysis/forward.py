"""Run a trained model over some rows and keep what analysis needs: logits, exposed weights, fused features.

Every analysis looks at the same few things a fusion method returns from
``model(inputs, masks, details=True)`` (a ``FusionOutput``): the logits, the
per-sample weights (such as attention or gates) and the fused representation
just before the head. ``run_model`` collects them batch by batch, optionally
with some modalities hidden, exactly as if those modalities were missing from
the data (zeros in the values, ``False`` in the presence mask).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from fusion_core.data.types import PreparedData
from fusion_core.errors import ConfigError
from fusion_core.model import FusionModel

BATCH_SIZE = 512


@dataclass
class ModelOutputs:
    """What a model produced on some rows: logits ``(n, C)``, exposed weights and fused features."""

    logits: np.ndarray
    insight: dict[str, np.ndarray] = field(default_factory=dict)
    fused: np.ndarray | None = None

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def probabilities(self) -> np.ndarray:
        shifted = self.logits - self.logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)


def model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def check_modalities(model: FusionModel, data: PreparedData) -> list[str]:
    """The modality names the model reads, all of which ``data`` must hold."""
    names = list(model.fusion.in_dims)
    missing = [name for name in names if name not in data.modalities]
    if missing:
        raise ConfigError(
            f"the model reads modalities the data lacks: {', '.join(missing)}; "
            "analyse a run with the dataset it was trained on"
        )
    return names


@torch.inference_mode()
def run_model(
    model: FusionModel,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | None = None,
    *,
    present: Collection[str] | None = None,
    batch_size: int = BATCH_SIZE,
    keep_details: bool = True,
) -> ModelOutputs:
    """Forward ``rows`` (default: the test split) through ``model`` in batches.

    ``present`` names the modalities the model may see; the others are hidden
    (zero values, mask ``False``). ``None`` shows every modality as the data has it.
    With ``keep_details`` the exposed weights and fused features are collected too.
    """
    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    from fusion_core.training import resolve_threads

    device = model_device(model)
    was_training = model.training
    previous_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(resolve_threads())
    model.eval()
    names = list(data.modalities)
    hidden = set() if present is None else {name for name in names if name not in present}
    logits, fused = [], []
    insight: dict[str, list[torch.Tensor]] = {}
    try:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            inputs, masks = {}, {}
            for name in names:
                modality = data.modalities[name]
                values = modality.values[batch]
                mask = modality.present[batch]
                if name in hidden:
                    values = torch.zeros_like(values)
                    mask = torch.zeros_like(mask)
                inputs[name] = values.to(device)
                masks[name] = mask.to(device)
            if not keep_details:
                logits.append(model(inputs, masks).float())
                continue
            out = model(inputs, masks, details=True)
            logits.append(out.logits.float())
            for key, value in out.weights.items():
                insight.setdefault(key, []).append(value.float())
            if out.uncertainty is not None:  # (n,): how unsure the fused prediction is
                insight.setdefault("uncertainty", []).append(out.uncertainty.float())
            fused.append(out.fused.float().reshape(len(batch), -1))
    finally:
        model.train(was_training)
        torch.set_num_threads(previous_threads)
    stacked = torch.cat(logits).cpu().numpy() if logits else np.zeros((0, data.num_classes), np.float32)
    stacked = np.nan_to_num(stacked, nan=0.0, posinf=1e6, neginf=-1e6)
    n_batches = len(logits)
    return ModelOutputs(
        logits=stacked,
        insight={k: torch.cat(v).cpu().numpy() for k, v in insight.items() if len(v) == n_batches},
        fused=torch.cat(fused).cpu().numpy() if fused and len(fused) == n_batches else None,
    )


@torch.inference_mode()
def subset_logits(
    model: FusionModel,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | None,
    subsets: Iterable[frozenset[str]],
    *,
    batch_size: int = BATCH_SIZE,
) -> dict[frozenset[str], np.ndarray]:
    """Logits on ``rows`` with only each subset's modalities present, one array per subset.

    Hiding a modality zeroes its embedding, so each encoder runs once per batch and
    only the fusion step runs once per subset (``FusionModel.encode`` then
    ``model.fusion``).
    """
    subsets = list(dict.fromkeys(frozenset(s) for s in subsets))
    from fusion_core.training import resolve_threads

    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    device = model_device(model)
    was_training = model.training
    previous_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(resolve_threads())
    model.eval()
    chunks: dict[frozenset[str], list[torch.Tensor]] = {s: [] for s in subsets}
    try:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            inputs = {n: m.values[batch].to(device) for n, m in data.modalities.items()}
            masks = {n: m.present[batch].to(device) for n, m in data.modalities.items()}
            features, present, sequences = model.encode(inputs, masks)
            for subset in subsets:
                keep = {n: present[n] & (n in subset) for n in present}
                hidden_features = {n: f * keep[n].to(f.dtype).unsqueeze(-1) for n, f in features.items()}
                hidden_sequences = {
                    n: (steps * keep[n].to(steps.dtype).view(-1, 1, 1), padding)
                    for n, (steps, padding) in sequences.items()
                }
                logits = model.fusion(hidden_features, keep, hidden_sequences or None)
                chunks[subset].append(logits.float())
    finally:
        model.train(was_training)
        torch.set_num_threads(previous_threads)
    result = {}
    for subset, parts in chunks.items():
        stacked = torch.cat(parts).cpu().numpy() if parts else np.zeros((0, data.num_classes), np.float32)
        result[subset] = np.nan_to_num(stacked, nan=0.0, posinf=1e6, neginf=-1e6)
    return result
