"""FiLM: one modality modulates the features of the others."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.fusion.base import (
    ABSENT_CHOICES,
    ABSENT_HELP,
    FUSIONS,
    AbsentFill,
    Fusion,
    FusionOutput,
    classifier_head,
    zero_absent,
)
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("film")
class FiLMFusion(Fusion):
    title = "FiLM (feature-wise linear modulation)"
    summary = (
        "A conditioning modality produces a scale and a shift for every feature of the other modalities."
    )
    how_it_works = (
        "One modality is the condition (option `condition`, the first modality by default). From its "
        "embedding, a linear layer computes for every other modality a per-feature scale γ and shift β, "
        "and that modality's projected features h become ReLU((1 + γ) ⊙ h + β). The condition therefore "
        "does not add its own evidence next to the others; it changes how they are read — as a question "
        "decides which parts of an image matter. When the condition is absent γ = β = 0 and the other "
        "features pass unchanged; when another modality is absent only the shift β is left."
    )
    shapes = (
        "condition (N, d_c) → γ, β (N, dim) per other modality; others (N, d_m) → (N, dim) → "
        "modulated, concatenated (N, (M−1)·dim) → logits (N, C)"
    )
    cost = "Per other modality: a projection d_m × dim and a FiLM layer d_c × 2·dim; then the head."
    when_to_use = (
        "When one modality is context for interpreting the others (a question about an image, subject "
        "information for a sensor trace)."
    )
    reference = "Perez et al., 'FiLM: visual reasoning with a general conditioning layer', AAAI 2018"
    level = "intermediate"
    option_help = {
        "condition": "the modality that modulates the others (empty: the first modality)",
        "dim": "size each modulated modality is projected to",
        "absent": ABSENT_HELP,
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of hidden units dropped at random while training",
    }
    option_choices = {"absent": ABSENT_CHOICES}

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        condition: str = "",
        dim: int = 64,
        absent: str = "zeros",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'film'", 1, dim=dim, hidden=hidden)
        require_fraction("fusion 'film'", dropout=dropout)
        condition = condition or self.modality_names[0]
        if condition not in self.in_dims:
            raise ConfigError(
                f"fusion 'film' option condition={condition!r} is not a modality; "
                f"choose one of: {', '.join(self.in_dims)}"
            )
        self.condition = condition
        self.modulated = [m for m in self.modality_names if m != condition]
        self.project = nn.ModuleDict({m: nn.Linear(self.in_dims[m], dim) for m in self.modulated})
        self.film = nn.ModuleDict({m: nn.Linear(self.in_dims[condition], 2 * dim) for m in self.modulated})
        self.absent = AbsentFill({m: dim for m in self.modulated}, absent)  # on the projections
        self.fused_dim = dim * len(self.modulated)
        self.head = classifier_head(self.fused_dim, num_classes, hidden=hidden, dropout=dropout)

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        condition = zero_absent(features[self.condition], masks[self.condition])
        projections = self.absent({m: self.project[m](features[m]) for m in self.modulated}, masks)
        parts = []
        for m in self.modulated:
            h = projections[m]
            scale, shift = zero_absent(self.film[m](condition), masks[self.condition]).chunk(2, dim=-1)
            parts.append(torch.relu((1 + scale) * h + shift))
        fused = torch.cat(parts, dim=1)
        return FusionOutput(self.head(fused), fused)
