"""Multilayer perceptron: the encoder for a vector of numbers."""

from __future__ import annotations

import math

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder
from fusion_core.options import require_at_least, require_fraction


@ENCODERS.register("mlp")
class MLPEncoder(Encoder):
    """A stack of fully connected layers: ``Linear → ReLU → Dropout`` repeated, then ``Linear``.

    Every input number is connected to every hidden unit, so an MLP makes no assumption
    about the order or neighbourhood of its inputs. That suits tabular features and
    bag-of-words vectors. A grid or sequence is flattened first, which throws away the
    knowledge that neighbouring pixels or steps belong together: a CNN or a recurrent
    encoder usually does better there with fewer parameters.

    Shape:
        input ``(N, D)`` (or ``(N, C, H, W)`` / ``(N, T, C)``, flattened) → ``(N, out_dim)``
    """

    title = "Multilayer perceptron (MLP)"
    summary = "Fully connected layers; the natural choice for tabular features and bag-of-words vectors."
    accepts = frozenset({"vector", "grid", "sequence"})
    option_help = {
        "hidden": "units in each hidden layer",
        "layers": "number of hidden layers (0 makes the encoder a single linear map)",
        "out_dim": "size of the embedding handed to the fusion method",
        "dropout": "fraction of hidden units dropped at random while training",
    }

    def __init__(
        self, spec: InputSpec, *, hidden: int = 64, layers: int = 1, out_dim: int = 64, dropout: float = 0.1
    ) -> None:
        super().__init__(spec)
        require_at_least("encoder 'mlp'", 1, hidden=hidden, out_dim=out_dim)
        require_at_least("encoder 'mlp'", 0, layers=layers)
        require_fraction("encoder 'mlp'", dropout=dropout)
        blocks: list[nn.Module] = [nn.Flatten()]
        width = math.prod(spec.shape)
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        blocks.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*blocks)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
