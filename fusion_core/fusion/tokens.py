"""A transformer over modality tokens: each modality is one token, an absent one is a learned token."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.fusion.base import FUSIONS, Fusion, FusionOutput, classifier_head
from fusion_core.options import require_at_least, require_fraction


class TokenBlock(nn.Module):
    """One pre-norm transformer layer: self-attention, then a two-layer MLP, each with a residual.

    No dropout on the attention weights: over a handful of modality tokens it drops whole
    modalities at random (measured on digits-audio: macro-F1 0.62 with 0.1, 0.96 without).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attend = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens (N, T, dim)`` → updated tokens and the attention weights ``(N, T, T)``."""
        normed = self.norm1(tokens)
        attended, weights = self.attend(normed, normed, normed)
        tokens = tokens + attended
        return tokens + self.mlp(self.norm2(tokens)), weights


@FUSIONS.register("tokens")
class ModalityTokenTransformer(Fusion):
    title = "Transformer over modality tokens"
    summary = (
        "Each modality becomes one token; a small transformer lets the tokens (and a summary token) "
        "attend to each other; an absent modality is replaced by a learned 'absent' token."
    )
    how_it_works = (
        "Each modality's embedding is projected to a shared size and tagged with a learned "
        "modality embedding, so the transformer knows which token is which. A modality that is absent "
        "for a sample is not zeroed and not hidden: its token is replaced by a learned 'absent' token "
        "for that modality, so the model can learn what to do when it is missing. A learned summary "
        "token (like BERT's [CLS]) is put in front, `layers` transformer layers let every token "
        "attend to every other, and the average of all final tokens is classified (the modality tokens' "
        "own residual paths make this train much faster than reading the summary token alone). Attention and the "
        "MLP inside each layer mix the modalities non-linearly, so the method can represent "
        "interactions such as an XOR of two modalities. The summary token's attention over the "
        "modality tokens in the last layer is shown as 'attention'."
    )
    shapes = (
        "{m: (N, d_m)} → Linear + modality embedding (N, dim) each (absent → learned token) → "
        "[summary, m_1 … m_M] (N, 1+M, dim) → transformer → mean over tokens (N, dim) → head → logits (N, C)"
    )
    cost = "Projections Σ d_m × dim and per layer about 12·dim² weights; attention over 1+M tokens is cheap."
    when_to_use = (
        "Three or more modalities whose relations matter, or data where modalities are often "
        "missing and 'missing' itself says something."
    )
    reference = (
        "Vaswani et al., 'Attention is all you need', NeurIPS 2017; Ma et al., 'Are multimodal "
        "transformers robust to missing modality?', CVPR 2022"
    )
    level = "intermediate"
    option_help = {
        "dim": "size of each modality token",
        "heads": "attention heads per layer (dim must be divisible by it)",
        "layers": "transformer layers",
        "hidden": "units in the hidden layer of the head",
        "dropout": "fraction of the head's hidden units dropped at random while training",
    }

    def __init__(
        self,
        in_dims: Mapping[str, int],
        num_classes: int,
        *,
        dim: int = 32,
        heads: int = 2,
        layers: int = 1,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(in_dims, num_classes)
        require_at_least("fusion 'tokens'", 1, dim=dim, heads=heads, layers=layers, hidden=hidden)
        require_fraction("fusion 'tokens'", dropout=dropout)
        if dim % heads:
            raise ConfigError(f"fusion 'tokens' option dim={dim} must be divisible by heads={heads}")
        m = len(self.in_dims)
        self.project = nn.ModuleDict({name: nn.Linear(d, dim) for name, d in self.in_dims.items()})
        self.modality_embedding = nn.Parameter(torch.randn(m, dim) * 0.02)
        self.absent_token = nn.Parameter(torch.randn(m, dim) * 0.02)
        self.summary_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.blocks = nn.ModuleList([TokenBlock(dim, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = classifier_head(dim, num_classes, hidden=hidden, dropout=dropout)
        self.fused_dim = dim

    def fuse(self, features, masks, sequences=None) -> FusionOutput:
        tokens = []
        for index, m in enumerate(self.modality_names):
            projected = self.project[m](features[m])
            token = torch.where(masks[m].bool().unsqueeze(-1), projected, self.absent_token[index])
            tokens.append(token + self.modality_embedding[index])
        stacked = torch.stack(tokens, dim=1)  # (N, M, dim)
        summary = self.summary_token.expand(stacked.shape[0], 1, -1).to(stacked.dtype)
        hidden = torch.cat([summary, stacked], dim=1)
        weights = None
        for block in self.blocks:
            hidden, weights = block(hidden)
        # all tokens averaged: measured on digits-audio, macro-F1 0.93 after 8 epochs, 0.65 reading
        # the summary token alone (it starts near zero and learns slowly)
        fused = self.norm(hidden.mean(dim=1))
        looked = weights[:, 0, 1:]  # the summary token's attention over the modality tokens
        looked = looked / looked.sum(dim=-1, keepdim=True).clamp(min=1e-12)
        return FusionOutput(self.head(fused), fused, {"token_attention": looked})
