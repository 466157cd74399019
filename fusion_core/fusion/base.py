"""What every fusion method is: a module from per-modality features to class logits.

A fusion method receives a dict of per-modality embeddings ``{name: (N, d_name)}``
and presence masks ``{name: (N,) bool}`` and returns logits ``(N, num_classes)``;
for a regression task ``num_classes`` is 1 and the single output is the predicted
(standardised) value.
It owns its classifier head, because late fusion needs one head per modality.

Each method carries its own teaching text as class attributes, which the Learn
page and ``fusion-explorer methods`` render:
``title``, ``summary`` (one line), ``how_it_works``, ``shapes``, ``cost``,
``when_to_use`` and ``reference``. ``level`` places it in one of the three
families: "early" (data-level), "intermediate" (feature-level) or "late"
(decision-level).

A method implements ``fuse``, which returns a ``FusionOutput``: the logits, the
fused representation ``(N, fused_dim)`` the head reads, and the per-sample
weights a learner may want to look at (e.g. ``{"attention": (N, M)}``).
``forward`` returns the logits alone, or the whole ``FusionOutput`` when called
with ``details=True``. A method keeps no per-call state, so one model can serve
many callers at once.

Besides the teaching text, every method declares what callers may rely on:
``fused_dim`` (the size of the fused representation), ``head`` (the classifier
head, one per modality for late fusion), ``head_options`` (the constructor
options that shape the head), ``per_modality_baseline`` (an ``only:<modality>``
baseline that reads one modality) and ``fixed_encoder`` (the encoder every
modality must use, ``None`` when any fits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.registry import Registry


@dataclass
class FusionOutput:
    """What one forward pass of a fusion method gives when asked for details.

    ``logits`` ``(N, C)``; ``fused`` ``(N, fused_dim)``, the representation the head reads
    (per-modality probabilities for late fusion); ``weights``, named per-sample weights
    such as ``{"attention": (N, M)}`` (empty for methods that expose none).
    """

    logits: torch.Tensor
    fused: torch.Tensor
    weights: dict[str, torch.Tensor] = field(default_factory=dict)


class Fusion(nn.Module):
    name: ClassVar[str]
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    how_it_works: ClassVar[str] = ""
    shapes: ClassVar[str] = ""
    cost: ClassVar[str] = ""
    when_to_use: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    level: ClassVar[str] = "intermediate"
    uses_sequences: ClassVar[bool] = False
    min_modalities: ClassVar[int] = 2
    option_help: ClassVar[dict[str, str]] = {}
    option_choices: ClassVar[dict[str, tuple]] = {}
    per_modality_baseline: ClassVar[bool] = False
    fixed_encoder: ClassVar[str | None] = None
    head_options: ClassVar[tuple[str, ...]] = ("hidden", "dropout")

    fused_dim: int
    head: nn.Module

    def __init__(self, in_dims: Mapping[str, int], num_classes: int) -> None:
        super().__init__()
        if len(in_dims) < self.min_modalities:
            raise ConfigError(
                f"fusion {self.name!r} needs at least {self.min_modalities} modalities, "
                f"got {len(in_dims)}: {', '.join(in_dims) or 'none'}"
            )
        self.in_dims = dict(in_dims)
        # The head's output size comes from the task: one score per class, or a single number
        # for a regression target (``build_model`` passes 1), so every method regresses for free.
        self.num_classes = num_classes
        self.task = "regression" if num_classes == 1 else "classification"

    @property
    def modality_names(self) -> list[str]:
        return list(self.in_dims)

    def fuse(
        self,
        features: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        sequences: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> FusionOutput:
        """Fuse ``{name: (N, d)}`` features (with ``{name: (N,)}`` presence masks) and classify."""
        raise NotImplementedError

    def forward(
        self,
        features: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        sequences: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        *,
        details: bool = False,
    ) -> torch.Tensor | FusionOutput:
        """The logits ``(N, C)``; with ``details=True`` the whole ``FusionOutput``."""
        output = self.fuse(features, masks, sequences)
        return output if details else output.logits


FUSIONS: Registry[Fusion] = Registry("fusion method")


def classifier_head(in_dim: int, num_classes: int, *, hidden: int, dropout: float) -> nn.Sequential:
    """The small MLP every method ends with: Linear → ReLU → Dropout → Linear.

    The hidden layer matters: with it the head can learn interactions between the
    fused features (such as an XOR of two modalities) that a linear layer cannot.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
    )


def presence_matrix(masks: Mapping[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """Stack per-modality presence masks into ``(N, M)`` bool, in the order of ``names``."""
    return torch.stack([masks[name].bool() for name in names], dim=1)


def zero_absent(features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Multiply ``features (N, …)`` by the presence mask ``(N,)`` so absent samples are zeros."""
    return features * present.reshape(-1, *([1] * (features.dim() - 1))).to(features.dtype)


def masked_log_softmax(scores: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Log-softmax over modalities ``(N, M, …)`` that gives absent modalities zero weight.

    A sample with no modality present spreads its weight evenly, so it still gets an answer.
    """
    present = present | ~present.any(dim=1, keepdim=True)
    while present.dim() < scores.dim():
        present = present.unsqueeze(-1)
    return scores.masked_fill(~present, float("-inf")).log_softmax(dim=1)


def masked_softmax(scores: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Softmax over modalities ``(N, M, …)`` with zero weight on absent modalities."""
    return masked_log_softmax(scores, present).exp()
