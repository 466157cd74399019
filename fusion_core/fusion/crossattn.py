"""Cross-modal attention: each modality's steps attend to the other modalities' steps."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.encoders.base import masked_mean
from fusion_core.errors import ConfigError
from fusion_core.fusion.base import (
    FUSIONS,
    Fusion,
    FusionOutput,
    classifier_head,
    modality_steps,
    zero_absent,
)
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("crossattn")
class CrossAttentionFusion(Fusion):
    title = "Cross-modal attention (MulT-style)"
    summary = "Every step of one modality looks up the relevant steps of the other modalities."
    how_it_works = (
        "Sequence encoders (1-D CNN, LSTM/GRU, transformer) hand over one vector per time step or "
        "token; other encoders hand over a single vector, which counts as a one-step sequence. All "
        "steps are projected to a shared size and tagged with a learned modality vector. Then, for "
        "each modality, its steps are the queries of a multi-head attention whose keys and values are "
        "the steps of all other modalities: a word can look up the moment in the audio it refers to. "
        "The result is added back (residual), normalised and averaged over the modality's own real "
        "steps; the per-modality results are concatenated and classified. Padding steps and absent "
        "modalities are masked out of the keys; a learned 'nothing' key is always available, so a "
        "modality whose partners are all missing attends to it instead. The share of attention each "
        "modality pays to each other one is shown as 'cross_attention' (rows: who looks, columns: at whom)."
    )
    shapes = (
        "{m: steps (N, T_m, d_m)} → (N, T_m, dim) → attend to the others' steps → pooled (N, dim) each → "
        "concat (N, M·dim) → logits (N, C)"
    )
    cost = (
        "Attention costs N × T_query × Σ T_others per modality; projections Σ d_m × dim, 4·dim² per modality."
    )
    when_to_use = (
        "Sequences that are related in time or content (speech and transcript, video and audio), "
        "ideally with sequence encoders; with vector encoders it reduces to attention between embeddings."
    )
    reference = "Tsai et al., 'Multimodal Transformer for unaligned multimodal language sequences', ACL 2019"
    level = "intermediate"
    uses_sequences = True
    option_help = {
        "dim": "shared size of every step inside the attention (must be divisible by heads)",
        "heads": "attention heads",
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of attention weights and hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        dim: int = 64,
        heads: int = 4,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'crossattn'", 1, dim=dim, heads=heads, hidden=hidden)
        require_fraction("fusion 'crossattn'", dropout=dropout)
        if dim % heads:
            raise ConfigError(f"fusion 'crossattn' option dim={dim} must be divisible by heads={heads}")
        names = self.modality_names
        self.project = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.in_dims.items()})
        self.modality_embedding = nn.Parameter(torch.randn(len(names), dim) * 0.02)
        self.nothing = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.attend = nn.ModuleDict(
            {m: nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True) for m in names}
        )
        self.norm = nn.ModuleDict({m: nn.LayerNorm(dim) for m in names})
        self.fused_dim = dim * len(names)
        self.head = classifier_head(self.fused_dim, num_classes, hidden=hidden, dropout=dropout)

    def _steps(self, features, masks, sequences) -> tuple[dict, dict]:
        steps, padding = {}, {}
        for index, m in enumerate(self.modality_names):
            raw, padding[m] = modality_steps(m, features, masks, sequences)  # absent: all padding
            steps[m] = self.project[m](raw) + self.modality_embedding[index]  # (N, T_m, dim)
        return steps, padding

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        names = self.modality_names
        steps, padding = self._steps(features, masks, sequences or {})
        first = steps[names[0]]
        nothing = self.nothing.expand(first.shape[0], 1, -1)
        no_padding = first.new_zeros(first.shape[0], 1, dtype=torch.bool)
        pooled, looks = [], []
        for m in names:
            others = [o for o in names if o != m]
            keys = torch.cat([nothing] + [steps[o] for o in others], dim=1)
            key_padding = torch.cat([no_padding] + [padding[o] for o in others], dim=1)
            attended, weights = self.attend[m](steps[m], keys, keys, key_padding_mask=key_padding)
            hidden = self.norm[m](steps[m] + attended)
            pooled.append(zero_absent(masked_mean(hidden, padding[m]), masks[m]))
            # weights (N, T_m, 1 + Σ T_o): sum each partner's block, average over this modality's steps
            sizes = [1] + [steps[o].shape[1] for o in others]
            per_block = torch.stack([w.sum(dim=-1) for w in weights.split(sizes, dim=-1)], dim=-1)
            shares = masked_mean(per_block, padding[m])  # (N, 1 + M - 1): the 'nothing' key, then partners
            by_partner = {o: shares[:, 1 + i] for i, o in enumerate(others)}
            looks.append(
                torch.stack([by_partner.get(o, shares.new_zeros(shares.shape[0])) for o in names], -1)
            )
        fused = torch.cat(pooled, dim=1)
        looked = torch.stack(looks, dim=1)  # (N, M looking, M looked at)
        return FusionOutput(self.head(fused), fused, {"cross_attention": looked})
