"""Multi-modal Factorized Bilinear pooling (MFB): a bilinear interaction through low-rank factors."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

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


@FUSIONS.register("mfb")
class FactorizedBilinearFusion(Fusion):
    title = "Factorized bilinear pooling (MFB)"
    summary = (
        "Each modality is projected to `factor` × `dim` numbers, the projections are multiplied "
        "element-wise, and each group of `factor` products is summed: a low-rank bilinear interaction."
    )
    how_it_works = (
        "A full bilinear model would give every output feature its own matrix W_o and compute "
        "x_aᵀ W_o x_b: far too many weights. MFB writes each W_o as a product of two thin matrices of "
        "rank `factor`, which turns the bilinear form into: project x_a to factor·dim numbers, project "
        "x_b the same way, multiply the two element-wise (with three or more modalities, all of them), "
        "and sum-pool every group of `factor` neighbouring numbers into one of the `dim` outputs. A "
        "signed square root and an L2 normalisation keep the products' scale in check (the large "
        "values a product makes would otherwise dominate training). Because the fused vector is made "
        "of products of the modalities, MFB can represent interactions such as an XOR of two "
        "modalities. An absent modality enters as zeros (its projection is then just the layer's "
        "bias) or, with absent='learned', as a vector learned for that modality."
    )
    shapes = (
        "{m: (N, d_m)} → Linear (N, factor·dim) each → Π_m element-wise → sum-pool by factor (N, dim) "
        "→ signed √ → L2 norm → head → logits (N, C)"
    )
    cost = "Σ d_m × factor·dim projection weights and the head; the product itself is cheap."
    when_to_use = (
        "When the label depends on how two modalities combine (the classic case: a question and an "
        "image), and concatenation underfits; a compact alternative to tensor fusion."
    )
    reference = (
        "Yu et al., 'Multi-modal factorized bilinear pooling with co-attention learning for visual "
        "question answering', ICCV 2017"
    )
    level = "intermediate"
    option_help = {
        "factor": "rank of each output's bilinear weight (numbers summed into one output)",
        "dim": "size of the fused vector",
        "absent": ABSENT_HELP,
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of the products and hidden units dropped at random while training",
    }
    option_choices = {"absent": ABSENT_CHOICES}

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        factor: int = 4,
        dim: int = 32,
        absent: str = "zeros",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'mfb'", 1, factor=factor, dim=dim, hidden=hidden)
        require_fraction("fusion 'mfb'", dropout=dropout)
        self.factor, self.dim = factor, dim
        self.absent = AbsentFill(self.in_dims, absent)
        self.project = nn.ModuleDict({m: nn.Linear(d, factor * dim) for m, d in self.in_dims.items()})
        self.drop = nn.Dropout(dropout)
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        filled = self.absent(features, masks)
        product = None
        for m in self.modality_names:
            term = self.project[m](filled[m])
            product = term if product is None else product * term
        pooled = self.drop(product).view(-1, self.dim, self.factor).sum(dim=-1)  # (N, dim)
        # signed square root; the small constant keeps its gradient finite at zero
        rooted = torch.sign(pooled) * torch.sqrt(pooled.abs() + 1e-8)
        fused = F.normalize(rooted, dim=-1)
        return FusionOutput(self.head(fused), fused)
