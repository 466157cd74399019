"""What every fusion method is: a module from per-modality features to class logits.

A fusion method receives a dict of per-modality embeddings ``{name: (N, d_name)}``
and presence masks ``{name: (N,) bool}`` and returns logits ``(N, num_classes)``;
for a regression task ``num_classes`` is 1 and the single output is the predicted
(standardised) value.
It owns its classifier head, because late fusion needs one head per modality.

Each method carries its own teaching text as class attributes, which the Learn
page and ``fusion-explorer methods`` render:
``title``, ``summary`` (one line), ``how_it_works``, ``shapes``, ``cost``,
``when_to_use`` and ``reference``. ``level`` places it in one of the three
families: "early" (data-level), "intermediate" (feature-level) or "late"
(decision-level).

A method implements ``fuse``, which returns a ``FusionOutput``: the logits, the
fused representation ``(N, fused_dim)`` the head reads, and the per-sample
weights a learner may want to look at (e.g. ``{"attention": (N, M)}``).
``forward`` returns the logits alone, or the whole ``FusionOutput`` when called
with ``details=True``. A method keeps no per-call state, so one model can serve
many callers at once.

Besides the teaching text, every method declares what callers may rely on:
``fused_dim`` (the size of the fused representation), ``head`` (the classifier
head, one per modality for late fusion), ``head_options`` (the constructor
options that shape the head), ``per_modality_baseline`` (an ``only:<modality>``
baseline that reads one modality), ``fixed_encoder`` (the encoder every
modality must use, ``None`` when any fits) and ``learns_interactions`` (whether it
can represent a label that depends on how modalities combine, such as an XOR of
two modalities; the teaching text says so too, and a test holds each method to it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.registry import Registry


@dataclass
class FusionOutput:
    """What one forward pass of a fusion method gives when asked for details.

    ``logits`` ``(N, C)``; ``fused`` ``(N, fused_dim)``, the representation the head reads
    (per-modality probabilities for late fusion); ``weights``, named per-sample weights
    such as ``{"attention": (N, M)}`` (empty for methods that expose none);
    ``unimodal_logits``, each modality's own prediction ``{name: (N, C)}`` for methods with
    one head per modality that is trained by its own loss (see ``Fusion.training_loss``);
    ``uncertainty`` ``(N,)`` in [0, 1], how unsure the fused prediction is, for methods that
    estimate it (``None`` otherwise).
    """

    logits: torch.Tensor
    fused: torch.Tensor
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    unimodal_logits: dict[str, torch.Tensor] = field(default_factory=dict)
    uncertainty: torch.Tensor | None = None


class Fusion(nn.Module):
    name: ClassVar[str]
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    how_it_works: ClassVar[str] = ""
    shapes: ClassVar[str] = ""
    cost: ClassVar[str] = ""
    when_to_use: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    level: ClassVar[str] = "intermediate"
    uses_sequences: ClassVar[bool] = False
    min_modalities: ClassVar[int] = 2
    option_help: ClassVar[dict[str, str]] = {}
    option_choices: ClassVar[dict[str, tuple]] = {}
    per_modality_baseline: ClassVar[bool] = False
    fixed_encoder: ClassVar[str | None] = None
    head_options: ClassVar[tuple[str, ...]] = ("hidden", "dropout")
    learns_interactions: ClassVar[bool] = True
    no_regression: ClassVar[str] = ""
    """Why the method cannot predict a number (a regression target), or "" when it can."""

    fused_dim: int
    head: nn.Module

    def __init__(self, in_dims: Mapping[str, int], num_classes: int) -> None:
        super().__init__()
        if len(in_dims) < self.min_modalities:
            raise ConfigError(
                f"fusion {self.name!r} needs at least {self.min_modalities} modalities, "
                f"got {len(in_dims)}: {', '.join(in_dims) or 'none'}"
            )
        # The head's output size comes from the task: one score per class, or a single number
        # for a regression target (``build_model`` passes 1), so every method regresses for free.
        if num_classes == 1 and self.no_regression:
            raise ConfigError(
                f"fusion {self.name!r} cannot predict a number: {self.no_regression}; "
                "pick another method for a regression target"
            )
        self.in_dims = dict(in_dims)
        self.num_classes = num_classes
        self.task = "regression" if num_classes == 1 else "classification"

    @property
    def modality_names(self) -> list[str]:
        return list(self.in_dims)

    def fuse(
        self,
        features: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        sequences: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> FusionOutput:
        """Fuse ``{name: (N, d)}`` features (with ``{name: (N,)}`` presence masks) and classify."""
        raise NotImplementedError

    def forward(
        self,
        features: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        sequences: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        *,
        details: bool = False,
    ) -> torch.Tensor | FusionOutput:
        """The logits ``(N, C)``; with ``details=True`` the whole ``FusionOutput``."""
        output = self.fuse(features, masks, sequences)
        return output if details else output.logits

    def auxiliary_loss(
        self,
        output: FusionOutput,
        labels: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor | None:
        """What training adds to ``loss_fn(logits, labels)``: ``loss_fn`` on each modality's own
        prediction (``output.unimodal_logits``), or ``None`` for a method without such heads.

        This is how a method trains per-modality heads by their own loss (stacking, evidential
        fusion) while ``forward`` stays pure: the loss is computed from the forward's result.
        """
        terms = [loss_fn(logits.float(), labels) for logits in output.unimodal_logits.values()]
        return torch.stack(terms).sum() if terms else None

    def training_loss(
        self,
        output: FusionOutput,
        labels: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """The whole objective: ``loss_fn`` on the logits plus ``auxiliary_loss``."""
        loss = loss_fn(output.logits.float(), labels)
        extra = self.auxiliary_loss(output, labels, loss_fn)
        return loss if extra is None else loss + extra


FUSIONS: Registry[Fusion] = Registry("fusion method")


def classifier_head(in_dim: int, num_classes: int, *, hidden: int, dropout: float) -> nn.Sequential:
    """The small MLP every method ends with: Linear → ReLU → Dropout → Linear.

    The hidden layer matters: with it the head can learn interactions between the
    fused features (such as an XOR of two modalities) that a linear layer cannot.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
    )


def presence_matrix(masks: Mapping[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """Stack per-modality presence masks into ``(N, M)`` bool, in the order of ``names``."""
    return torch.stack([masks[name].bool() for name in names], dim=1)


def zero_absent(features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Multiply ``features (N, …)`` by the presence mask ``(N,)`` so absent samples are zeros."""
    return features * present.reshape(-1, *([1] * (features.dim() - 1))).to(features.dtype)


def modality_steps(
    name: str,
    features: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    sequences: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Modality ``name`` as steps to attend over: ``(N, T, d)`` and a padding mask ``(N, T)``.

    Its encoder's sequence when there is one, else its embedding as a single step; every step
    of an absent sample counts as padding.
    """
    if name in sequences:
        steps, padding = sequences[name]
    else:
        steps = features[name].unsqueeze(1)
        padding = steps.new_zeros(steps.shape[:2], dtype=torch.bool)
    return steps, padding | ~masks[name].bool().unsqueeze(1)


def masked_log_softmax(scores: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Log-softmax over modalities ``(N, M, …)`` that gives absent modalities zero weight.

    A sample with no modality present spreads its weight evenly, so it still gets an answer.
    """
    present = present | ~present.any(dim=1, keepdim=True)
    while present.dim() < scores.dim():
        present = present.unsqueeze(-1)
    return scores.masked_fill(~present, float("-inf")).log_softmax(dim=1)


def masked_softmax(scores: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Softmax over modalities ``(N, M, …)`` with zero weight on absent modalities."""
    return masked_log_softmax(scores, present).exp()


ABSENT_CHOICES = ("zeros", "learned")
ABSENT_HELP = (
    "what an absent modality's embedding becomes before fusion: zeros, or a vector learned per modality"
)


class AbsentFill(nn.Module):
    """What an absent modality's embedding becomes: zeros, or one learned vector per modality.

    A learned vector lets the method tell "absent" apart from "present with small values"
    (an all-zero embedding is also what a present sample can produce). It starts at zero, so
    a freshly built model behaves as with zeros, and it is trained like every other weight.
    Methods that fill absent embeddings take it as their ``absent`` option; methods that leave
    an absent modality out instead (attention and pooling mask it, the modality-token
    transformer always uses a learned token) have no need of it.
    """

    def __init__(self, in_dims: Mapping[str, int], mode: str) -> None:
        super().__init__()
        if mode not in ABSENT_CHOICES:
            raise ConfigError(f"absent={mode!r} is not a choice; choose one of: {', '.join(ABSENT_CHOICES)}")
        self.mode = mode
        self.embeddings = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(d)) for m, d in in_dims.items()} if mode == "learned" else {}
        )

    def forward(self, features: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]):
        """``{name: (N, d)}`` with every absent row replaced by zeros or the learned vector."""
        if self.mode == "zeros":
            return {m: zero_absent(x, masks[m]) for m, x in features.items()}
        return {
            m: torch.where(masks[m].bool().unsqueeze(-1), x, self.embeddings[m].to(x.dtype))
            for m, x in features.items()
        }
