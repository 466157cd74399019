"""Trusted multi-view classification: each modality gives a Dirichlet opinion; Dempster's rule joins them."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from fusion_core.fusion.base import (
    FUSIONS,
    Fusion,
    FusionOutput,
    classifier_head,
    presence_matrix,
    zero_absent,
)
from fusion_core.options import require_at_least, require_fraction


def combine_opinions(
    belief_a: torch.Tensor, doubt_a: torch.Tensor, belief_b: torch.Tensor, doubt_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dempster's combination of two opinions: beliefs ``(N, C)`` and uncertainties ``(N, 1)``.

    Agreeing beliefs reinforce each other, conflicting ones cancel, and the joint uncertainty
    is the product of the two, so it can only shrink. A vacuous opinion (belief 0,
    uncertainty 1) leaves the other unchanged.
    """
    agreement = belief_a * belief_b + belief_a * doubt_b + belief_b * doubt_a
    # 1 - conflict, where conflict = Σ_{i≠j} b_a,i b_b,j; always ≥ u_a·u_b > 0
    scale = belief_a.sum(-1, keepdim=True) * belief_b.sum(-1, keepdim=True) - (belief_a * belief_b).sum(
        -1, keepdim=True
    )
    normaliser = 1.0 - scale
    return agreement / normaliser, doubt_a * doubt_b / normaliser


@FUSIONS.register("evidential")
class EvidentialFusion(Fusion):
    title = "Uncertainty-aware late fusion (trusted multi-view, evidential)"
    summary = (
        "Each modality gives evidence for each class and an uncertainty; Dempster's rule combines "
        "them, so an unsure modality counts less, and every prediction comes with its uncertainty."
    )
    how_it_works = (
        "Each modality has its own classifier, but instead of probabilities it outputs non-negative "
        "evidence e_k for every class (a softplus). Evidence defines a Dirichlet distribution with "
        "α_k = e_k + 1 and strength S = Σ α_k; subjective logic reads it as a belief b_k = e_k / S in "
        "each class plus an uncertainty u = C / S that is large when the modality has little evidence "
        "for anything. Dempster's rule combines the modalities' opinions: beliefs that agree "
        "reinforce, beliefs that conflict cancel, and the joint uncertainty is the product of the "
        "modalities' uncertainties. An absent modality gives a vacuous opinion (no belief, "
        "uncertainty 1), which changes nothing. The combined opinion turns back into Dirichlet "
        "parameters, and the predicted class probabilities are α_k / S. Training minimises, as the "
        "paper does, a loss on the combined opinion plus a loss on every modality's own opinion; here "
        "the loss is the Dirichlet's negative log expected likelihood, log S − log α_y, which is "
        "cross-entropy on log(α / S) (the paper uses the expected cross-entropy and a KL term that "
        "pulls wrong evidence to zero; we leave that term out so the same loss serves every method). "
        "The combined uncertainty of each sample is reported as 'uncertainty' (0 = sure, 1 = no "
        "evidence at all), and each modality's own uncertainty as 'modality_uncertainty'. Because no "
        "modality sees another's features, it cannot represent interactions such as an XOR of two "
        "modalities."
    )
    shapes = (
        "{m: (N, d_m)} → evidence (N, C) each → belief (N, C) + uncertainty (N, 1) each → Dempster "
        "→ α (N, C) → log(α / S) → logits (N, C); uncertainty (N,)"
    )
    cost = "One small classifier per modality, Σ (d_m × hidden + hidden × C); combining is a few products."
    when_to_use = (
        "When you need to know how sure the model is (to flag samples for a human), or modalities "
        "differ in quality from sample to sample, e.g. a corrupted image next to a clean text."
    )
    reference = (
        "Han, Zhang, Fu & Zhou, 'Trusted multi-view classification', ICLR 2021; Sensoy, Kaplan & "
        "Kandemir, 'Evidential deep learning to quantify classification uncertainty', NeurIPS 2018"
    )
    level = "late"
    learns_interactions = False
    no_regression = (
        "its opinions are Dirichlet distributions over classes (belief per class plus an uncertainty, "
        "combined by Dempster's rule), and a number has no classes to hold evidence for; 'late' with "
        "combine 'weighted' averages per-modality values by learned inverse-variance weights instead"
    )
    option_help = {
        "hidden": "units in the hidden layer of each modality's evidence network",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self, in_dims: Mapping[str, int], num_classes: int, *, hidden: int = 64, dropout: float = 0.1
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'evidential'", 1, hidden=hidden)
        require_fraction("fusion 'evidential'", dropout=dropout)
        self.head = nn.ModuleDict(
            {
                m: classifier_head(d, num_classes, hidden=hidden, dropout=dropout)
                for m, d in self.in_dims.items()
            }
        )
        self.fused_dim = len(self.in_dims) * num_classes

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        present = presence_matrix(masks, names)
        classes = float(self.num_classes)
        beliefs, doubts, own_logits = [], [], {}
        for index, m in enumerate(names):
            evidence = F.softplus(self.head[m](zero_absent(features[m], masks[m])))  # (N, C)
            strength = evidence.sum(dim=-1, keepdim=True) + classes
            own_logits[m] = torch.log((evidence + 1.0) / strength)
            here = present[:, index : index + 1].to(evidence.dtype)
            beliefs.append(evidence / strength * here)  # absent: belief 0 …
            doubts.append(1.0 - here + here * classes / strength)  # … and uncertainty 1
        belief, doubt = beliefs[0], doubts[0]
        for other_belief, other_doubt in zip(beliefs[1:], doubts[1:], strict=True):
            belief, doubt = combine_opinions(belief, doubt, other_belief, other_doubt)
        strength = classes / doubt  # S = C / u, α = b·S + 1
        alpha = belief * strength + 1.0
        logits = torch.log(alpha / alpha.sum(dim=-1, keepdim=True))
        stacked_beliefs = torch.stack(beliefs, dim=1)  # (N, M, C)
        return FusionOutput(
            logits,
            stacked_beliefs.flatten(1),
            {"modality_uncertainty": torch.cat(doubts, dim=1), "beliefs": stacked_beliefs},
            unimodal_logits={m: own_logits[m] for i, m in enumerate(names)},
            uncertainty=doubt.squeeze(-1),
        )
