"""Unimodal baseline: a classifier on one modality alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from fusion_core.errors import ConfigError
from fusion_core.fusion.base import FUSIONS, Fusion, FusionOutput, classifier_head, zero_absent
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("only")
class UnimodalBaseline(Fusion):
    title = "Single modality (baseline)"
    summary = "Ignore all but one modality: how far does that modality get on its own?"
    how_it_works = (
        "Only the chosen modality is encoded, and the same kind of MLP head as in concatenation fusion "
        "classifies its embedding. It is listed once per modality as 'only:<modality>'. Comparing a "
        "fusion method with the best single-modality baseline tells you whether fusing helped at all, "
        "and the gap between the baselines tells you which modality carries the signal."
    )
    shapes = "(N, d_m) → Linear+ReLU (N, hidden) → logits (N, C)"
    cost = "One encoder and d_m × hidden + hidden × C head weights; the cheapest model."
    when_to_use = "Always, next to any fusion method, as the bar fusion has to clear."
    reference = (
        "Baltrušaitis, Ahuja & Morency, 'Multimodal machine learning: a survey and taxonomy', IEEE TPAMI 2019"
    )
    level = "late"
    learns_interactions = False
    min_modalities = 1
    per_modality_baseline: ClassVar[bool] = True
    """Offered once per modality, as ``only:<modality>``, instead of under its own name."""

    option_help = {
        "modality": "the one modality to use (empty: the first)",
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        modality: str = "",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'only'", 1, hidden=hidden)
        require_fraction("fusion 'only'", dropout=dropout)
        modality = modality or self.modality_names[0]
        if modality not in self.in_dims:
            raise ConfigError(
                f"fusion 'only' option modality={modality!r} is not a modality; "
                f"choose one of: {', '.join(self.in_dims)}"
            )
        self.modality = modality
        self.fused_dim = self.in_dims[modality]
        self.head = classifier_head(self.fused_dim, num_classes, hidden=hidden, dropout=dropout)

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        embedding = zero_absent(features[self.modality], masks[self.modality])
        return FusionOutput(self.head(embedding), embedding)
