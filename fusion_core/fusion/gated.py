"""Gated Multimodal Unit: per-feature gates decide how much each modality contributes."""

from __future__ import annotations

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
    masked_softmax,
    presence_matrix,
)
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("gated")
class GatedFusion(Fusion):
    title = "Gated Multimodal Unit (GMU)"
    summary = (
        "Gates computed from all modalities decide, feature by feature, how much each modality contributes."
    )
    how_it_works = (
        "Each embedding is turned into a candidate h_m = tanh(W_m x_m). A gate network reads all "
        "embeddings together and outputs, for every feature, one score per modality; a softmax over "
        "the modalities present turns them into gates z_m that sum to 1, and the fused vector is "
        "Σ_m z_m ⊙ h_m. With two modalities this is exactly the original GMU's sigmoid gate z and 1 − z. "
        "Unlike attention, which gives a modality one weight per sample, the gates differ per feature, "
        "and because they are computed from every modality the choice itself is multimodal. The "
        "average gate per modality is shown as 'gates'."
    )
    shapes = "{m: (N, d_m)} → candidates (N, M, dim), gates (N, M, dim) → Σ_m z_m ⊙ h_m (N, dim) → logits"
    cost = "Candidates Σ d_m × dim plus a gate layer (Σ d_m) × (M·dim), and the head."
    when_to_use = (
        "When one modality is reliable for some aspects of the input and another for others; "
        "a strong, inspectable default for two or three modalities."
    )
    reference = "Arevalo et al., 'Gated multimodal units for information fusion', ICLR workshop 2017"
    level = "intermediate"
    option_help = {
        "dim": "size of each modality's candidate vector and of the fused vector",
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
        dim: int = 64,
        absent: str = "zeros",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'gated'", 1, dim=dim, hidden=hidden)
        require_fraction("fusion 'gated'", dropout=dropout)
        self.dim = dim
        self.absent = AbsentFill(self.in_dims, absent)
        self.candidate = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.in_dims.items()})
        self.gate = nn.Linear(sum(self.in_dims.values()), len(self.in_dims) * dim)
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        filled = self.absent(features, masks)
        inputs = [filled[m] for m in names]
        candidates = torch.stack(
            [torch.tanh(self.candidate[m](x)) for m, x in zip(names, inputs, strict=True)], 1
        )
        gate_scores = self.gate(torch.cat(inputs, dim=1)).view(-1, len(names), self.dim)  # (N, M, dim)
        gates = masked_softmax(gate_scores, presence_matrix(masks, names))
        fused = (gates * candidates).sum(dim=1)
        return FusionOutput(self.head(fused), fused, {"gates": gates.mean(dim=-1)})
