"""2-D convolutional network: the encoder for images and spectrograms."""

from __future__ import annotations

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder
from fusion_core.options import require_at_least, require_fraction


@ENCODERS.register("cnn")
class CNNEncoder(Encoder):
    """Blocks of ``3×3 convolution → batch norm → ReLU → 2×2 max-pool``, then a global average.

    A convolution slides one small filter over the whole grid, so the same pattern (an
    edge, a stroke, a burst of energy at some pitch) is recognised wherever it appears,
    with few parameters. Each pooling step halves the grid, so later blocks see larger
    regions; the channel count doubles per block to make room for more kinds of
    pattern. Global average pooling then turns the final grid into one vector, and a
    linear layer maps it to ``out_dim``. Pooling stops once the grid is one cell wide,
    so small inputs work too.

    Shape:
        input ``(N, C, H, W)`` → ``(N, out_dim)``
    """

    title = "Convolutional network (2-D CNN)"
    summary = (
        "Small convolution filters shared across the grid; the standard encoder for images and spectrograms."
    )
    accepts = frozenset({"grid"})
    option_help = {
        "channels": "filters in the first block; each further block doubles them",
        "blocks": "number of convolution blocks",
        "out_dim": "size of the embedding handed to the fusion method",
        "dropout": "fraction of features dropped at random before the last layer while training",
    }

    def __init__(
        self, spec: InputSpec, *, channels: int = 16, blocks: int = 2, out_dim: int = 64, dropout: float = 0.1
    ) -> None:
        super().__init__(spec)
        require_at_least("encoder 'cnn'", 1, channels=channels, blocks=blocks, out_dim=out_dim)
        require_fraction("encoder 'cnn'", dropout=dropout)
        in_channels, height, width = spec.shape
        layers: list[nn.Module] = []
        for block in range(blocks):
            out_channels = channels * 2**block
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            if min(height, width) >= 2:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_channels, out_dim))
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(x))
