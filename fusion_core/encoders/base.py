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
