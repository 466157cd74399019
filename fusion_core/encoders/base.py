"""What every encoder is: a module from one modality's tensor to one vector per sample.

An encoder is built from the ``InputSpec`` of its modality (form, per-sample
shape, vocabulary size) and its own keyword-only hyperparameters, and it
declares ``out_dim`` when built, so the fusion method can be sized without a
trial forward pass. Sequence encoders (``gives_sequence = True``) can also
hand over the whole sequence of per-step features for methods that attend
across time, such as cross-modal attention.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.errors import ConfigError
from fusion_core.registry import Registry


class Encoder(nn.Module):
    """Base class. Subclasses set the class attributes and implement ``forward``."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    accepts: ClassVar[frozenset[str]] = frozenset()
    gives_sequence: ClassVar[bool] = False
    option_help: ClassVar[dict[str, str]] = {}
    option_choices: ClassVar[dict[str, tuple]] = {}

    out_dim: int

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, …) -> (N, out_dim)
        raise NotImplementedError

    def forward_sequence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(steps (N, T, out_dim), padding (N, T) bool, True where padded)``."""
        raise NotImplementedError(f"encoder {self.name!r} does not give a sequence")


ENCODERS: Registry[Encoder] = Registry("encoder")


def masked_mean(steps: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Average ``steps (N, T, D)`` over the steps that are not padding; all-padding rows give zeros."""
    keep = (~padding).unsqueeze(-1).to(steps.dtype)
    return (steps * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


class StepInput(nn.Module):
    """Turn a ``sequence``, ``tokens`` or ``grid`` input into steps ``(N, T, C)`` and a padding mask.

    - sequence ``(N, T, C)``: used as is; no step is padding.
    - tokens ``(N, T)`` int64: each id becomes a learned vector of ``embed_dim`` numbers;
      id 0 is padding (its vector is kept at zero) and marks the step as padded.
    - grid ``(N, C, H, W)``: each column is one step of ``C * H`` numbers, so an audio
      spectrogram (``C=1``, ``H`` frequency bins, ``W`` frames) is read frame by frame
      and an image column by column.

    ``num_steps`` and ``step_dim`` are known when built.
    """

    def __init__(self, spec: InputSpec, *, embed_dim: int) -> None:
        super().__init__()
        self.form = spec.form
        if spec.form == "tokens":
            if not spec.vocab_size:
                raise ConfigError(
                    "a tokens input needs a vocabulary size; prepare the text modality as tokens"
                )
            self.embedding = nn.Embedding(spec.vocab_size, embed_dim, padding_idx=0)
            self.num_steps, self.step_dim = spec.shape[0], embed_dim
        elif spec.form == "sequence":
            self.num_steps, self.step_dim = spec.shape[0], spec.shape[1]
        elif spec.form == "grid":
            channels, height, width = spec.shape
            self.num_steps, self.step_dim = width, channels * height
        else:
            raise ConfigError(f"a step-by-step encoder cannot read a {spec.form} input")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.form == "tokens":
            return self.embedding(x), x == 0
        if self.form == "grid":
            x = x.flatten(1, 2).transpose(1, 2)  # (N, C, H, W) -> (N, W, C*H)
        return x, x.new_zeros(x.shape[:2], dtype=torch.bool)
