"""Attention fusion: a learned, per-sample weighting of the modalities."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.fusion.base import (
    FUSIONS,
    Fusion,
    FusionOutput,
    classifier_head,
    masked_softmax,
    presence_matrix,
)
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("attention")
class AttentionFusion(Fusion):
    title = "Attention over modalities"
    summary = "Score each modality's embedding, softmax the scores, and take the weighted average."
    how_it_works = (
        "Each embedding is projected to a shared size, and a small scoring network (one per modality: "
        "Linear → tanh → Linear) gives it one number saying how useful it looks for this sample. A "
        "softmax over the modalities present turns the scores into weights that sum to 1 (absent "
        "modalities get weight 0), and the fused vector is the weighted average of the projections. "
        "Because the weights are computed per sample, the model can lean on the image for one sample "
        "and on the text for another; the weights are shown as 'attention'."
    )
    shapes = "{m: (N, d_m)} → (N, M, dim) → scores (N, M) → softmax → Σ_m w_m z_m (N, dim) → logits (N, C)"
    cost = "Projections Σ d_m × dim, a tiny scorer per modality, and the head; fused size stays dim."
    when_to_use = (
        "When the most reliable modality changes from sample to sample (noisy or missing inputs), and "
        "you want to see which modality the model relied on."
    )
    reference = "Hori et al., 'Attention-based multimodal fusion for video description', ICCV 2017"
    level = "intermediate"
    option_help = {
        "dim": "common size each embedding is projected to",
        "score_hidden": "hidden units of each modality's scoring network",
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        dim: int = 64,
        score_hidden: int = 32,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'attention'", 1, dim=dim, score_hidden=score_hidden, hidden=hidden)
        require_fraction("fusion 'attention'", dropout=dropout)
        self.project = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.in_dims.items()})
        self.score = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(dim, score_hidden), nn.Tanh(), nn.Linear(score_hidden, 1))
                for m in self.in_dims
            }
        )
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        projected = torch.stack([self.project[m](features[m]) for m in names], dim=1)  # (N, M, dim)
        scores = torch.cat([self.score[m](projected[:, i]) for i, m in enumerate(names)], dim=1)  # (N, M)
        weights = masked_softmax(scores, presence_matrix(masks, names))
        fused = (weights.unsqueeze(-1) * projected).sum(dim=1)
        return FusionOutput(self.head(fused), fused, {"attention": weights})
