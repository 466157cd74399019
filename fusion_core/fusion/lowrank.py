"""Low-rank Multimodal Fusion: tensor fusion without building the tensor."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

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


@FUSIONS.register("lowrank")
class LowRankFusion(Fusion):
    title = "Low-rank Multimodal Fusion (LMF)"
    summary = (
        "Tensor fusion with its weight split into a few per-modality factors, so its size grows linearly."
    )
    how_it_works = (
        "Tensor fusion multiplies a huge outer-product tensor by a huge weight. LMF writes that weight "
        "as a sum of `rank` products of small per-modality factors. Then the outer product never has to "
        "be built: each modality's embedding (with a 1 appended) is multiplied by its own factor, the "
        "results of all modalities are multiplied element-wise, and the `rank` terms are summed with "
        "learned weights. The output is the same kind of multiplicative interaction as TFN, at a cost "
        "that grows with the sum of the embedding sizes instead of their product."
    )
    shapes = (
        "{m: (N, d_m)} → [1, x_m] (N, d_m+1) × factor_m (rank, d_m+1, dim) → Π_m → Σ_rank (N, dim) → logits"
    )
    cost = "rank × Σ (d_m+1) × dim factor weights, instead of Π (d_m+1) × dim for the full tensor."
    when_to_use = "Interactions matter but there are three or more modalities, or tensor fusion is too large."
    reference = "Liu et al., 'Efficient low-rank multimodal fusion with modality-specific factors', ACL 2018"
    level = "intermediate"
    option_help = {
        "rank": "number of factor products summed; higher is more expressive and larger",
        "dim": "size of the fused vector",
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
        rank: int = 4,
        dim: int = 64,
        absent: str = "zeros",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'lowrank'", 1, rank=rank, dim=dim, hidden=hidden)
        require_fraction("fusion 'lowrank'", dropout=dropout)
        # a plain dict or list would hide the factors from .parameters(), state_dict() and .to()
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(torch.randn(rank, d + 1, dim) / math.sqrt(d + 1))
                for m, d in self.in_dims.items()
            }
        )
        self.absent = AbsentFill(self.in_dims, absent)
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        filled = self.absent(features, masks)
        product = None
        for m in self.modality_names:
            x = filled[m]
            with_one = torch.cat([x.new_ones(x.shape[0], 1), x], dim=1)  # (N, d+1)
            term = torch.einsum("nd,rdo->rno", with_one, self.factors[m])  # (rank, N, dim)
            product = term if product is None else product * term
        fused = torch.einsum("r,rno->no", self.rank_weights, product) + self.bias
        return FusionOutput(self.head(fused), fused)
