"""Concatenation fusion: join the embeddings, then classify."""

from __future__ import annotations

from collections.abc import Mapping

import torch

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


@FUSIONS.register("concat")
class ConcatFusion(Fusion):
    title = "Concatenation (intermediate fusion)"
    summary = "Encode each modality separately, concatenate the embeddings, classify with an MLP."
    how_it_works = (
        "Each modality first goes through its own encoder (an MLP for tables, a CNN for images, …), "
        "which turns it into an embedding of a fixed size. The embeddings are laid side by side into "
        "one vector and a small MLP with a hidden layer makes the prediction. The hidden layer is what "
        "lets it combine evidence across modalities non-linearly (an XOR of two modalities is "
        "learnable); a linear layer on the concatenation could only add them up. An absent modality "
        "contributes an all-zero embedding, or with absent='learned' a vector learned for it."
    )
    shapes = "{m: (N, d_m)} → concat (N, Σ d_m) → Linear+ReLU (N, hidden) → logits (N, C)"
    cost = "(Σ d_m) × hidden + hidden × C head weights; the cheapest intermediate fusion."
    when_to_use = "The default first try: simple, strong and fast; compare every other method to it."
    reference = "Ngiam et al., 'Multimodal deep learning', ICML 2011"
    level = "intermediate"
    option_help = {
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
        absent: str = "zeros",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'concat'", 1, hidden=hidden)
        require_fraction("fusion 'concat'", dropout=dropout)
        self.absent = AbsentFill(self.in_dims, absent)
        self.fused_dim = sum(self.in_dims.values())
        self.head = classifier_head(self.fused_dim, num_classes, hidden=hidden, dropout=dropout)

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        filled = self.absent(features, masks)
        fused = torch.cat([filled[m] for m in self.modality_names], dim=1)
        return FusionOutput(self.head(fused), fused)
