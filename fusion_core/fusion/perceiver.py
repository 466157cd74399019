"""Bottleneck fusion in the Perceiver style: a few latent vectors cross-attend to every modality."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.fusion.base import FUSIONS, Fusion, FusionOutput, classifier_head, modality_steps
from fusion_core.fusion.tokens import TokenBlock
from fusion_core.options import require_at_least, require_fraction


@FUSIONS.register("perceiver")
class PerceiverFusion(Fusion):
    title = "Latent bottleneck fusion (Perceiver style)"
    summary = (
        "A few learned latent vectors read every modality by cross-attention; only the latents go on, "
        "so the cost does not grow with the size of the inputs."
    )
    how_it_works = (
        "The method keeps `latents` learned vectors. Each modality is turned into tokens: its steps, "
        "when its encoder gives a sequence (text, series, audio), otherwise its one embedding, each "
        "projected to a shared size and tagged with a learned modality embedding. The latents are the "
        "queries of one cross-attention whose keys and values are all these tokens at once; tokens of "
        "an absent modality are masked out, so they get no weight. The latents then attend to each "
        "other in a small transformer layer (the 'latent transformer'), are averaged, and the head "
        "classifies the average. All information has to squeeze through the few latents: a "
        "bottleneck that keeps cost linear in the number of tokens and forces the latents to pick what "
        "matters from every modality. Cross-attention, the latent layer and the MLP head mix the "
        "modalities non-linearly, so it can represent interactions such as an XOR of two modalities. "
        "How much attention the latents paid to each modality is shown as 'attention'."
    )
    shapes = (
        "{m: (N, T_m, d_m)} → Linear (N, T_m, dim) → all tokens (N, Σ T_m, dim); latents (L, dim) "
        "cross-attend → (N, L, dim) → latent transformer → mean (N, dim) → head → logits (N, C)"
    )
    cost = (
        "Projections Σ d_m × dim, cross-attention L × Σ T_m per sample (linear in the tokens), one "
        "latent layer of about 12·dim² weights."
    )
    when_to_use = (
        "Many modalities or long sequences, where attention between every pair of tokens would be too "
        "costly, or when you want one architecture whatever the inputs."
    )
    reference = (
        "Jaegle et al., 'Perceiver: general perception with iterative attention', ICML 2021; Nagrani "
        "et al., 'Attention bottlenecks for multimodal fusion', NeurIPS 2021"
    )
    level = "intermediate"
    uses_sequences = True
    option_help = {
        "latents": "number of latent vectors (the bottleneck's width)",
        "dim": "size of each latent and token",
        "heads": "attention heads (dim must be divisible by it)",
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of the head's hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        latents: int = 4,
        dim: int = 32,
        heads: int = 2,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'perceiver'", 1, latents=latents, dim=dim, heads=heads, hidden=hidden)
        require_fraction("fusion 'perceiver'", dropout=dropout)
        if dim % heads:
            raise ConfigError(f"fusion 'perceiver' option dim={dim} must be divisible by heads={heads}")
        self.project = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.in_dims.items()})
        self.modality_embedding = nn.Parameter(torch.randn(len(self.in_dims), dim) * 0.02)
        self.latents = nn.Parameter(torch.randn(latents, dim) * 0.02)
        self.token_norm = nn.LayerNorm(dim)
        self.read = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.think = TokenBlock(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        sequences = sequences or {}
        tokens, padding, sizes = [], [], []
        for index, m in enumerate(self.modality_names):
            raw, raw_padding = modality_steps(m, features, masks, sequences)  # absent: all padding
            tokens.append(self.project[m](raw) + self.modality_embedding[index])
            padding.append(raw_padding)
            sizes.append(raw.shape[1])
        keys = self.token_norm(torch.cat(tokens, dim=1))  # (N, Σ T_m, dim)
        key_padding = torch.cat(padding, dim=1)
        # a sample with nothing present (or a fully padded one) still needs somewhere to look
        key_padding = key_padding & key_padding.logical_not().any(dim=1, keepdim=True)
        queries = self.latents.to(keys.dtype).expand(keys.shape[0], -1, -1)
        read, weights = self.read(queries, keys, keys, key_padding_mask=key_padding)  # (N, L, Σ T_m)
        latents, _ = self.think(queries + read)
        fused = self.norm(latents.mean(dim=1))
        # weights per modality: sum each modality's block of tokens, average over latents
        shares = torch.stack([w.sum(dim=-1) for w in weights.split(sizes, dim=-1)], dim=-1).mean(dim=1)
        shares = shares / shares.sum(dim=-1, keepdim=True).clamp(min=1e-12)
        return FusionOutput(self.head(fused), fused, {"attention": shares})
