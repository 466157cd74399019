"""Element-wise pooling fusion: sum, max or product of projected embeddings."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.fusion.base import FUSIONS, Fusion, FusionOutput, classifier_head, presence_matrix
from fusion_core.options import require_at_least, require_fraction


class PoolingFusion(Fusion):
    """Shared by ``sum``, ``max`` and ``product``: project, combine feature by feature, classify.

    Each subclass implements ``pool(projected (N, M, dim), present (N, M)) -> (N, dim)``.
    """

    shapes = "{m: (N, d_m)} → Linear → (N, M, dim) → combine over M → (N, dim) → MLP → logits (N, C)"
    cost = (
        "One dim-sized projection per modality, Σ d_m × dim, plus the head; the fused vector stays dim wide."
    )
    level = "intermediate"
    option_help = {
        "dim": "common size each embedding is projected to before combining",
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        dim: int = 64,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least(f"fusion {self.name!r}", 1, dim=dim, hidden=hidden)
        require_fraction(f"fusion {self.name!r}", dropout=dropout)
        self.project = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.in_dims.items()})
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def pool(
        self, projected: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        projected = torch.stack([self.project[m](features[m]) for m in names], dim=1)  # (N, M, dim)
        fused, weights = self.pool(projected, presence_matrix(masks, names))
        return FusionOutput(self.head(fused), fused, weights)


@FUSIONS.register("sum")
class SumFusion(PoolingFusion):
    title = "Sum pooling"
    summary = "Project every embedding to the same size and add them up, feature by feature."
    how_it_works = (
        "Each embedding is mapped by its own linear layer into a shared space of `dim` features, and "
        "the projections of the modalities present are summed. Summing treats the modalities as "
        "interchangeable sources of evidence for the same features; the result has the same size "
        "however many modalities there are, and an absent modality simply adds nothing. The MLP head "
        "can still model some interaction through its hidden layer."
    )
    when_to_use = "Many modalities, or a varying set of them; a compact alternative to concatenation."
    reference = "Liang et al., 'MultiBench: multiscale benchmarks for multimodal representation learning', NeurIPS 2021"

    def pool(self, projected, present):
        return (projected * present.unsqueeze(-1).to(projected.dtype)).sum(dim=1), {}


@FUSIONS.register("max")
class MaxFusion(PoolingFusion):
    title = "Max pooling"
    summary = "Project every embedding to the same size and keep, per feature, the largest value."
    how_it_works = (
        "Each embedding is mapped by its own linear layer to `dim` features; for every feature the "
        "largest value among the modalities present is kept. Each feature is thus decided by whichever "
        "modality signals it most strongly, and the `share` insight shows how many features each "
        "modality won for a sample. Absent modalities are left out of the maximum."
    )
    when_to_use = "When any one modality showing a cue should be enough (alarms, detection-style labels)."
    reference = "Liang et al., 'MultiBench: multiscale benchmarks for multimodal representation learning', NeurIPS 2021"

    def pool(self, projected, present):
        candidates = projected.masked_fill(~present.unsqueeze(-1), float("-inf"))
        winners = candidates.argmax(dim=1)  # (N, dim): which modality gave each feature
        share = nn.functional.one_hot(winners, projected.shape[1]).to(projected.dtype).mean(1)
        strongest = candidates.amax(dim=1)
        fused = torch.where(present.any(dim=1, keepdim=True), strongest, torch.zeros_like(strongest))
        return fused, {"share": share}


@FUSIONS.register("product")
class ProductFusion(PoolingFusion):
    title = "Element-wise product"
    summary = "Project every embedding to the same size and multiply them, feature by feature."
    how_it_works = (
        "Each embedding is mapped by its own linear layer to `dim` features, and the projections of the "
        "modalities present are multiplied feature by feature (an absent modality counts as 1). A "
        "product is large only when all modalities agree, so it builds multiplicative interactions "
        "into the fused vector itself — a cheap, diagonal cousin of bilinear and tensor fusion."
    )
    when_to_use = "When the label depends on modalities agreeing or interacting, at the cost of concat."
    reference = (
        "Antol et al., 'VQA: Visual Question Answering', ICCV 2015 (point-wise product of image and question)"
    )

    def pool(self, projected, present):
        return torch.where(present.unsqueeze(-1), projected, torch.ones_like(projected)).prod(dim=1), {}
