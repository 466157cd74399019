"""1-D convolutional network: the encoder for time series, token sequences and spectrogram frames."""

from __future__ import annotations

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder, StepInput, masked_mean
from fusion_core.options import require_at_least, require_fraction


@ENCODERS.register("cnn1d")
class CNN1DEncoder(Encoder):
    """Convolutions along time: each output step looks at ``kernel_size`` neighbouring steps.

    Stacking ``layers`` convolutions widens that window, so the encoder detects local
    patterns (a spike in a sensor trace, a phrase of a few words, a short sound) where
    they occur. Each step is then mapped to ``out_dim`` numbers, and the steps are
    pooled into one vector: ``max`` keeps the strongest response of each feature
    anywhere in the sequence (good for "does this pattern occur?"), ``mean`` averages
    them. Padding steps (token id 0) are zeroed after every layer and skipped by the
    pooling, so a short text gives the same answer however much padding follows it.
    Token ids are first turned into learned vectors; a spectrogram is read frame by frame.

    Shape:
        input ``(N, T, C)``, ``(N, T)`` token ids or ``(N, 1, F, T)`` → ``(N, out_dim)``;
        ``forward_sequence`` gives ``(N, T, out_dim)`` and the padding mask ``(N, T)``.
    """

    title = "1-D convolutional network"
    summary = "Convolutions along time; fast on a CPU and good at spotting local patterns in series and text."
    accepts = frozenset({"sequence", "tokens", "grid"})
    gives_sequence = True
    option_help = {
        "channels": "filters in each convolution layer",
        "layers": "number of convolution layers",
        "kernel_size": "how many neighbouring steps one filter looks at",
        "embed_dim": "size of the learned vector of each token (text only)",
        "pool": "how steps are summarised into one vector: strongest response (max) or average (mean)",
        "out_dim": "size of the embedding handed to the fusion method",
        "dropout": "fraction of features dropped at random between layers while training",
    }
    option_choices = {"pool": ("max", "mean")}

    def __init__(
        self,
        spec: InputSpec,
        *,
        channels: int = 64,
        layers: int = 2,
        kernel_size: int = 5,
        embed_dim: int = 64,
        pool: str = "max",
        out_dim: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(spec)
        what = "encoder 'cnn1d'"
        require_at_least(what, 1, channels=channels, layers=layers, kernel_size=kernel_size)
        require_at_least(what, 1, embed_dim=embed_dim, out_dim=out_dim)
        require_fraction(what, dropout=dropout)
        self.steps_in = StepInput(spec, embed_dim=embed_dim)
        widths = [self.steps_in.step_dim] + [channels] * layers
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size, padding="same") for a, b in zip(widths, widths[1:], strict=False)
        )
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(channels, out_dim)
        self.pool = pool
        self.out_dim = out_dim

    def forward_sequence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps, padding = self.steps_in(x)
        keep = (~padding).unsqueeze(1).to(steps.dtype)  # (N, 1, T)
        hidden = steps.transpose(1, 2) * keep  # (N, C, T)
        for index, conv in enumerate(self.convs):
            if index:
                hidden = self.dropout(hidden)
            hidden = torch.relu(conv(hidden)) * keep
        out = self.project(hidden.transpose(1, 2)) * keep.transpose(1, 2)  # (N, T, out_dim)
        return out, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, padding = self.forward_sequence(x)
        if self.pool == "mean":
            return masked_mean(steps, padding)
        strongest = steps.masked_fill(padding.unsqueeze(-1), float("-inf")).amax(dim=1)
        return torch.where(padding.all(dim=1, keepdim=True), torch.zeros_like(strongest), strongest)
