"""2-D convolutional network: the encoder for images and spectrograms."""

from __future__ import annotations

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder
from fusion_core.errors import ConfigError
from fusion_core.options import require_at_least, require_fraction


@ENCODERS.register("cnn")
class CNNEncoder(Encoder):
    """Blocks of ``3×3 convolution → batch norm → ReLU``, each halving the grid, then a coarse map.

    A convolution slides one small filter over the whole grid, so the same pattern (an
    edge, a stroke, a burst of energy at some pitch) is recognised wherever it appears,
    with few parameters. Each block halves the grid, so later blocks see larger regions;
    the channel count doubles per block to make room for more kinds of pattern. The
    first block halves it by moving its filter two cells at a time (``first_stride=2``, as
    in the "stem" of most image networks): it computes a quarter as many positions as a
    filter at every cell followed by pooling, and its normalisation and ReLU touch a
    quarter as many cells. Later blocks halve the grid with a ``2×2`` max-pool, which keeps the strongest
    response in each neighbourhood. Halving stops once the grid is one cell wide, so
    small inputs work too.

    The last grid is then averaged down to a coarse ``pooled_size × pooled_size`` map
    and a linear layer maps it to ``out_dim``. The map keeps *where* each pattern was,
    roughly: in a digit, a stroke at the top means something else than one at the
    bottom, and in a spectrogram the height of a band *is* its pitch.
    ``pooled_size=1`` is a global average: only *which* patterns occur survives, which
    suits textures and objects that may sit anywhere in the picture. (On the default
    sample's covered digits, the picture alone reaches a macro-F1 of about 0.75 with the
    4 × 4 map, and about 0.4 with a global average.)

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
        "blocks": "number of convolution blocks; each halves the grid",
        "first_stride": (
            "step of the first block's filter: 2 halves the grid at once (fast), "
            "1 filters every cell and max-pools afterwards (finer, about 1.5x slower)"
        ),
        "pooled_size": (
            "side of the coarse map the last grid is averaged to: 1 keeps only which patterns occur, "
            "larger also keeps roughly where"
        ),
        "out_dim": "size of the embedding handed to the fusion method",
        "dropout": "fraction of features dropped at random before the last layer while training",
    }

    def __init__(
        self,
        spec: InputSpec,
        *,
        channels: int = 16,
        blocks: int = 2,
        first_stride: int = 2,
        pooled_size: int = 4,
        out_dim: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(spec)
        require_at_least(
            "encoder 'cnn'", 1, channels=channels, blocks=blocks, pooled_size=pooled_size, out_dim=out_dim
        )
        require_fraction("encoder 'cnn'", dropout=dropout)
        if first_stride not in (1, 2):
            raise ConfigError(f"encoder 'cnn' option first_stride must be 1 or 2, got {first_stride}")
        in_channels, height, width = spec.shape
        layers: list[nn.Module] = []
        for block in range(blocks):
            out_channels = channels * 2**block
            stride = first_stride if block == 0 and min(height, width) >= 2 else 1
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            if stride > 1:
                height, width = (height + 1) // 2, (width + 1) // 2
            elif min(height, width) >= 2:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        pooled = (min(pooled_size, height), min(pooled_size, width))
        if pooled != (height, width):  # averaging a grid to its own size is a (not free) no-op
            layers.append(nn.AdaptiveAvgPool2d(pooled))
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.project = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(in_channels * pooled[0] * pooled[1], out_dim)
        )
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(x))
