"""Tensor Fusion Network: the outer product of all modalities' embeddings."""

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
)
from fusion_core.options import require_at_least, require_fraction

MAX_FUSED_SIZE = 250_000


@FUSIONS.register("tensor")
class TensorFusion(Fusion):
    title = "Tensor Fusion Network (TFN)"
    summary = "Outer product of the embeddings (each with a 1 appended): every cross-modal product becomes a feature."
    how_it_works = (
        "Each embedding is projected down to `project_dim` numbers and a constant 1 is appended to it. "
        "The outer product of these vectors holds every product of one feature from each modality — "
        "all pairwise and higher-order interactions — and, thanks to the appended 1s, also every "
        "single-modality feature and every product of a subset of modalities. This (d+1)^M-sized "
        "tensor is flattened and classified by an MLP. An absent modality is projected to zeros, so "
        "only the terms of the modalities present remain."
    )
    shapes = "{m: (N, d_m)} → (N, p+1) each → outer product (N, (p+1)^M) → MLP → logits (N, C)"
    cost = (
        "The fused vector has (project_dim+1)^M entries: 17² = 289 for two modalities, 17³ = 4,913 for "
        "three; the head's first layer grows with it. Use lowrank when that is too big."
    )
    when_to_use = (
        "When the label depends on how modalities interact (agreement, XOR-like rules) and there are "
        "two or three modalities."
    )
    reference = "Zadeh et al., 'Tensor Fusion Network for multimodal sentiment analysis', EMNLP 2017"
    level = "intermediate"
    option_help = {
        "project_dim": "size each embedding is projected to before the outer product",
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
        project_dim: int = 16,
        absent: str = "zeros",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'tensor'", 1, project_dim=project_dim, hidden=hidden)
        require_fraction("fusion 'tensor'", dropout=dropout)
        self.fused_dim = (project_dim + 1) ** len(self.in_dims)
        if self.fused_dim > MAX_FUSED_SIZE:
            raise ConfigError(
                f"tensor fusion of {len(self.in_dims)} modalities with project_dim={project_dim} makes "
                f"{self.fused_dim} features; lower project_dim or use the 'lowrank' method"
            )
        self.project = nn.ModuleDict({m: nn.Linear(d, project_dim) for m, d in self.in_dims.items()})
        self.absent = AbsentFill({m: project_dim for m in self.in_dims}, absent)  # on the projections
        self.head = classifier_head(self.fused_dim, num_classes, hidden=hidden, dropout=dropout)

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        projections = self.absent({m: self.project[m](features[m]) for m in self.modality_names}, masks)
        fused = None
        for m in self.modality_names:
            projected = projections[m]
            with_one = torch.cat([projected.new_ones(projected.shape[0], 1), projected], dim=1)  # (N, p+1)
            fused = with_one if fused is None else torch.einsum("ni,nj->nij", fused, with_one).flatten(1)
        return FusionOutput(self.head(fused), fused)
