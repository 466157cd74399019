"""What every fusion method is: a module from per-modality features to class logits.

A fusion method receives a dict of per-modality embeddings ``{name: (N, d_name)}``
and presence masks ``{name: (N,) bool}`` and returns logits ``(N, num_classes)``.
It owns its classifier head, because late fusion needs one head per modality.

Each method carries its own teaching text as class attributes, which the Learn
page and ``fusion-explorer methods`` render:
``title``, ``summary`` (one line), ``how_it_works``, ``shapes``, ``cost``,
``when_to_use`` and ``reference``. ``level`` places it in one of the three
families: "early" (data-level), "intermediate" (feature-level) or "late"
(decision-level).

During ``forward`` a method stores what a learner may want to look at:
``self.insight`` (e.g. ``{"attention": (N, M)}`` per-sample weights, detached)
and ``self.fused`` (the fused representation ``(N, D)`` before the head, detached).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.registry import Registry


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

    def __init__(self, in_dims: Mapping[str, int], num_classes: int) -> None:
        super().__init__()
        if len(in_dims) < self.min_modalities:
            raise ConfigError(
                f"fusion {self.name!r} needs at least {self.min_modalities} modalities, "
                f"got {len(in_dims)}: {', '.join(in_dims) or 'none'}"
            )
        self.in_dims = dict(in_dims)
        self.num_classes = num_classes
        self.insight: dict[str, torch.Tensor] = {}
        self.fused: torch.Tensor | None = None

    @property
    def modality_names(self) -> list[str]:
        return list(self.in_dims)

    def forward(
        self,
        features: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        sequences: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


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
