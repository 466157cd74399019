"""A stacked ensemble: per-modality models, and a meta-learner trained on their (detached) predictions."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.fusion.base import (
    FUSIONS,
    Fusion,
    FusionOutput,
    classifier_head,
    presence_matrix,
    zero_absent,
)
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("stacked")
class StackedFusion(Fusion):
    title = "Stacked ensemble (stacking)"
    summary = (
        "Each modality's own classifier is trained by its own loss; a meta-learner learns how to "
        "combine their predictions, without being able to change them."
    )
    how_it_works = (
        "Stacking has two levels. The base models are one classifier per modality, each trained by "
        "its own cross-entropy loss, exactly as if it were alone (unlike late fusion, whose "
        "classifiers learn only through the combined vote). The meta-learner is a small network that "
        "reads every base model's log-probabilities, plus which modalities are present, and gives the "
        "final prediction; its input is detached, so its loss trains the meta-learner only and the "
        "base models stay honest unimodal models. How this fits one network, honestly: textbook "
        "stacking trains the meta-learner on out-of-fold predictions (each base model scores the "
        "rows it was not fitted on, over k folds), so the meta-learner does not learn to trust base "
        "models that have memorised the training rows. Here everything trains together in one pass "
        "on the same rows, so the meta-learner sees in-sample predictions; what guards against "
        "over-trust is that the base models are small and regularised by dropout (the meta-learner "
        "sees their noisy training-mode predictions), that the meta-learner has few weights, and "
        "that early stopping watches the validation rows. Holding out folds would mean k copies of "
        "every base model, k times the cost. An absent modality's prediction is replaced by zeros "
        "and flagged. The meta-learner reads only the base models' class scores, and each base "
        "model sees one modality, so it cannot represent interactions such as an XOR of two "
        "modalities (the base predictions carry no information about the label there). For a "
        "number (regression) each base model predicts a value by its own squared error and the "
        "meta-learner reads the values; being a small network of them, it can in principle combine "
        "them non-linearly, but only as well as each base model's value carries what is needed."
    )
    shapes = (
        "{m: (N, d_m)} → base classifier per modality → log-probabilities (N, C) each (trained by "
        "their own loss) → detach → [Σ_m C log-probs, M presence flags] (N, M·C+M) → meta MLP → logits"
    )
    cost = "One small classifier per modality, Σ (d_m × hidden + hidden × C), and a meta MLP (M·C+M) × meta_hidden."
    when_to_use = (
        "Modalities that are each informative alone, where you want every unimodal model to stay "
        "usable on its own (and inspectable) and a learned, calibrated way to combine them."
    )
    reference = "Wolpert, 'Stacked generalization', Neural Networks 1992"
    level = "late"
    learns_interactions = False
    option_help = {
        "meta_hidden": "hidden units of the meta-learner",
        "hidden": "units in the hidden layer of each modality's classifier",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        meta_hidden: int = 16,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'stacked'", 1, meta_hidden=meta_hidden, hidden=hidden)
        require_fraction("fusion 'stacked'", dropout=dropout)
        self.head = nn.ModuleDict(
            {
                m: classifier_head(d, num_classes, hidden=hidden, dropout=dropout)
                for m, d in self.in_dims.items()
            }
        )
        m = len(self.in_dims)
        self.meta = classifier_head(m * num_classes + m, num_classes, hidden=meta_hidden, dropout=0.0)
        self.fused_dim = m * num_classes + m

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        present = presence_matrix(masks, names)
        own = {m: self.head[m](zero_absent(features[m], masks[m])) for m in names}
        regression = self.task == "regression"
        # What the meta-learner reads: each base model's value (regression) or log-probabilities.
        scores = torch.stack([own[m] if regression else own[m].log_softmax(dim=-1) for m in names], dim=1)
        shown = scores.detach() * present.unsqueeze(-1).to(scores.dtype)  # (N, M, C)
        fused = torch.cat([shown.flatten(1), present.to(scores.dtype)], dim=1)
        details = {} if regression else {"probabilities": scores.exp()}
        return FusionOutput(self.meta(fused), fused, details, unimodal_logits=own)
