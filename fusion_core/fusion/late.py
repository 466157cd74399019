"""Late fusion: one classifier per modality, their votes combined."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.fusion.base import (
    FUSIONS,
    Fusion,
    FusionOutput,
    classifier_head,
    masked_log_softmax,
    presence_matrix,
    zero_absent,
)
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("late")
class LateFusion(Fusion):
    title = "Late fusion (decision level)"
    summary = "Each modality predicts the class on its own; the predictions are combined into one."
    how_it_works = (
        "Every modality gets its own encoder and its own classifier, which outputs class "
        "probabilities. Only these decisions are fused: 'mean' averages the probabilities of the "
        "modalities present, 'weighted' averages them with learned weights (one per modality, "
        "softmax-normalised), and 'product' (the default) multiplies them (sums log-probabilities) "
        "like a product of experts, so a confident 'no' from one modality can veto the others. All "
        "classifiers are trained together through the combined prediction. Because no modality ever "
        "sees another's features, late fusion cannot learn interactions such as 'class A when image "
        "says x AND text says y' — "
        "but a missing modality simply drops out of the vote. For a number (regression) each "
        "modality predicts a value: 'mean' averages the values; 'weighted' and 'product' weight "
        "them by learned weights, one per modality, which is the inverse-variance weighting of a "
        "product of Gaussian experts with one noise level per modality. (A noise level per sample "
        "would let one modality's confidence gate the other's value: an interaction.)"
    )
    shapes = "{m: (N, d_m)} → per-modality probabilities (N, M, C) → combined (N, C) → log → logits"
    cost = "One small classifier per modality: Σ (d_m × hidden + hidden × C)."
    when_to_use = (
        "Modalities that are informative on their own, often missing, or arriving from separate "
        "systems; a robust baseline. Avoid it when the label depends on how modalities interact."
    )
    reference = (
        "Snoek, Worring & Smeulders, 'Early versus late fusion in semantic video analysis', ACM MM 2005"
    )
    level = "late"
    learns_interactions = False
    option_help = {
        "combine": "how per-modality predictions are joined: average, learned weighted average, or product",
        "hidden": "units in the hidden layer of each modality's classifier",
        "dropout": "fraction of hidden units dropped at random while training",
    }
    option_choices = {"combine": ("mean", "weighted", "product")}

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        combine: str = "product",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'late'", 1, hidden=hidden)
        require_fraction("fusion 'late'", dropout=dropout)
        self.combine = combine
        self.head = nn.ModuleDict(
            {
                m: classifier_head(d, num_classes, hidden=hidden, dropout=dropout)
                for m, d in self.in_dims.items()
            }
        )
        self.modality_scores = nn.Parameter(torch.zeros(len(self.in_dims)))
        self.fused_dim = len(self.in_dims) * num_classes

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        if self.task == "regression":
            return self._fuse_values(features, masks)
        log_probs = torch.stack(
            [self.head[m](zero_absent(features[m], masks[m])).log_softmax(dim=-1) for m in names], dim=1
        )  # (N, M, C)
        present = presence_matrix(masks, names)
        learned = self.combine == "weighted"
        scores = self.modality_scores if learned else self.modality_scores.new_zeros(len(names))
        log_weights = masked_log_softmax(scores.expand(present.shape), present)  # (N, M)
        if self.combine == "product":
            weights = log_weights.exp()
            # every present expert counts fully; renormalising turns the product into probabilities
            logits = (log_probs * (weights > 0).to(log_probs.dtype).unsqueeze(-1)).sum(dim=1).log_softmax(-1)
        else:
            logits = torch.logsumexp(log_weights.unsqueeze(-1) + log_probs, dim=1)  # log Σ w_m p_m
            weights = log_weights.exp()
        probabilities = log_probs.exp()
        return FusionOutput(
            logits, probabilities.flatten(1), {"weights": weights, "probabilities": probabilities}
        )

    def _fuse_values(self, features, masks) -> FusionOutput:
        """Regression: an average of the per-modality values, plain or with learned weights
        (softmax of ``modality_scores``: the inverse variances, normalised)."""
        names = self.modality_names
        values = torch.cat([self.head[m](zero_absent(features[m], masks[m])) for m in names], dim=1)  # (N, M)
        present = presence_matrix(masks, names)
        learned = self.combine in ("weighted", "product")
        scores = self.modality_scores if learned else self.modality_scores.new_zeros(len(names))
        weights = masked_log_softmax(scores.expand(present.shape), present).exp()
        prediction = (weights * values).sum(dim=1, keepdim=True)
        return FusionOutput(prediction, values, {"weights": weights})
