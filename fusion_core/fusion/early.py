"""Early fusion: join the raw inputs, then learn one network on them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from fusion_core.fusion.base import FUSIONS, Fusion, FusionOutput, zero_absent
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("early")
class EarlyFusion(Fusion):
    title = "Early fusion (data level)"
    summary = "Concatenate the raw inputs of all modalities and train one network on the joined vector."
    how_it_works = (
        "Before any learning, every modality is turned into a plain vector: an image's pixels are "
        "flattened, a time series' values are laid end to end, a text becomes word counts. The vectors "
        "are concatenated into one long input and a single MLP learns from it. Because the very first "
        "layer sees all modalities at once, it can in principle find any interaction between them, but "
        "it has to do so from raw values, without an encoder suited to each kind of data. A modality "
        "absent for a sample contributes zeros."
    )
    shapes = "{m: (N, values_m)} → concat (N, Σ values_m) → MLP → logits (N, C)"
    cost = (
        "The first layer has (Σ values_m) × hidden weights, which is large for images; "
        "no per-modality encoder parameters."
    )
    when_to_use = (
        "Modalities that are already compact, aligned features (sensor channels, tabular blocks); "
        "a baseline that shows what per-modality encoders add."
    )
    reference = (
        "Snoek, Worring & Smeulders, 'Early versus late fusion in semantic video analysis', ACM MM 2005"
    )
    level = "early"
    # Width and dropout measured on four datasets of 569 to 5,000 rows (macro-F1, 1-3 seeds):
    # hidden 256 with dropout 0.3 beat hidden 128 with 0.1 on every one (+0.003 to +0.02).
    fixed_encoder: ClassVar[str | None] = "flatten"
    head_options: ClassVar[tuple[str, ...]] = ("hidden", "layers", "dropout")
    """Every modality is given this encoder, whatever the model configuration says."""

    option_help = {
        "hidden": "units in each hidden layer of the joint network",
        "layers": "number of hidden layers of the joint network",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'early'", 1, hidden=hidden, layers=layers)
        require_fraction("fusion 'early'", dropout=dropout)
        blocks: list[nn.Module] = []
        width = sum(self.in_dims.values())
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.head = nn.Sequential(*blocks, nn.Linear(width, num_classes))
        self.fused_dim = sum(self.in_dims.values())

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        joined = torch.cat([zero_absent(features[m], masks[m]) for m in self.modality_names], dim=1)
        return FusionOutput(self.head(joined), joined)
