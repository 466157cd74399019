"""Pass-through encoder: the raw input as one long vector, used by early fusion."""

from __future__ import annotations

import math

import torch

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder
from fusion_core.errors import ConfigError


@ENCODERS.register("flatten")
class FlattenEncoder(Encoder):
    """No learning: hands the input over as a vector, so the fusion method sees raw data.

    Grids and sequences are flattened (``(N, C, H, W)`` → ``(N, C·H·W)``). Token ids
    are not meaningful as numbers (id 7 is not "more" than id 3), so text becomes a
    bag of words instead: for each vocabulary entry, ``log(1 + count)`` of how often it
    occurs in the sample, with the padding id left out. This is what early fusion
    concatenates.

    Shape:
        input ``(N, …)`` → ``(N, out_dim)`` where ``out_dim`` is the number of input
        values, or the vocabulary size for tokens.
    """

    title = "Flatten (no encoder)"
    summary = "Passes the raw values on as one vector (text as word counts); what early fusion uses."
    accepts = frozenset({"vector", "grid", "sequence", "tokens"})

    def __init__(self, spec: InputSpec) -> None:
        super().__init__(spec)
        if spec.form == "tokens":
            if not spec.vocab_size:
                raise ConfigError(
                    "a tokens input needs a vocabulary size; prepare the text modality as tokens"
                )
            not_padding = torch.ones(spec.vocab_size)
            not_padding[0] = 0.0
            # a buffer, so the counts follow the module's device and dtype
            self.register_buffer("not_padding", not_padding, persistent=False)
            self.out_dim = spec.vocab_size
        else:
            self.out_dim = math.prod(spec.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.form != "tokens":
            return x.flatten(1)
        counts = self.not_padding.new_zeros(x.shape[0], self.out_dim)
        counts.scatter_add_(1, x, self.not_padding.new_ones(x.shape))
        return torch.log1p(counts * self.not_padding)
