"""Transformer encoder: self-attention over tokens, time steps or image patches."""

from __future__ import annotations

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder, masked_mean
from fusion_core.errors import ConfigError
from fusion_core.options import require_at_least, require_fraction


@ENCODERS.register("transformer")
class TransformerEncoder(Encoder):
    """Self-attention (Vaswani et al., 2017): every step looks at every other step.

    The input is cut into steps: token ids become learned vectors, time steps are
    mapped linearly, and an image is cut into ``patch × patch`` squares (as in the
    Vision Transformer). A learned position vector is added to each step, because
    attention by itself ignores order. Each layer then lets every step gather
    information from all the others, weighted by how relevant they look, followed by a
    small per-step MLP. Padding tokens are hidden from the attention and left out of
    the final average, which becomes the embedding.

    Transformers need more data than CNNs or RNNs to shine; on small data sets keep
    them shallow.

    Shape:
        input ``(N, T)`` token ids, ``(N, T, C)`` or ``(N, C, H, W)`` → ``(N, out_dim)``;
        ``forward_sequence`` gives ``(N, steps, out_dim)`` and the padding mask.
    """

    title = "Transformer"
    summary = "Self-attention between all steps (or image patches); flexible but data-hungry."
    accepts = frozenset({"tokens", "sequence", "grid"})
    gives_sequence = True
    option_help = {
        "width": "size of each step's vector inside the transformer",
        "heads": "attention heads per layer (must divide width)",
        "layers": "number of transformer layers",
        "feedforward": "hidden size of the per-step MLP in each layer",
        "patch": "side of the square patches an image is cut into (grid only)",
        "out_dim": "size of the embedding handed to the fusion method",
        "dropout": "fraction of features dropped at random while training",
    }

    def __init__(
        self,
        spec: InputSpec,
        *,
        width: int = 64,
        heads: int = 4,
        layers: int = 2,
        feedforward: int = 128,
        patch: int = 4,
        out_dim: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(spec)
        what = "encoder 'transformer'"
        require_at_least(what, 1, width=width, heads=heads, layers=layers, feedforward=feedforward)
        require_at_least(what, 1, patch=patch, out_dim=out_dim)
        require_fraction(what, dropout=dropout)
        if width % heads:
            raise ConfigError(f"{what} option width={width} must be divisible by heads={heads}")
        if spec.form == "grid":
            channels, height, grid_width = spec.shape
            side = min(patch, height, grid_width)
            self.embed: nn.Module = nn.Conv2d(channels, width, kernel_size=side, stride=side)
            num_steps = (height // side) * (grid_width // side)
        elif spec.form == "tokens":
            if not spec.vocab_size:
                raise ConfigError(
                    "a tokens input needs a vocabulary size; prepare the text modality as tokens"
                )
            self.embed = nn.Embedding(spec.vocab_size, width, padding_idx=0)
            num_steps = spec.shape[0]
        else:
            self.embed = nn.Linear(spec.shape[1], width)
            num_steps = spec.shape[0]
        self.position = nn.Parameter(torch.randn(1, num_steps, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, feedforward, dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.project = nn.Linear(width, out_dim)
        self.out_dim = out_dim

    def forward_sequence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps = self.embed(x)
        if self.spec.form == "grid":
            steps = steps.flatten(2).transpose(1, 2)  # (N, width, h, w) -> (N, h*w, width)
        padding = x == 0 if self.spec.form == "tokens" else x.new_zeros(steps.shape[:2], dtype=torch.bool)
        steps = steps + self.position[:, : steps.shape[1]]
        # a row that is all padding would attend to nothing; let it attend to its (zero) steps instead
        hidden_from_attention = padding & ~padding.all(dim=1, keepdim=True)
        hidden = self.layers(steps, src_key_padding_mask=hidden_from_attention)
        out = self.project(self.norm(hidden)) * (~padding).unsqueeze(-1).to(hidden.dtype)
        return out, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return masked_mean(*self.forward_sequence(x))
