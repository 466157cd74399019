"""Remedies for modality imbalance: when one modality dominates, the others stop learning.

A multimodal model trained end to end tends to lean on whichever modality lowers the
loss fastest; once that modality fits the training labels, the gradient reaching the
other encoders shrinks and they stay under-trained ("modality competition"). The
gradient-dominance note in the insight panel diagnoses it; these training options
treat it. They live in ``TrainConfig``: ``imbalance`` picks one, ``ogm_alpha`` tunes
OGM-GE, and ``modality_dropout`` (hide each modality at random) is the third remedy.

* ``"ogm-ge"``, on-the-fly gradient modulation with generalisation enhancement (Peng
  et al., CVPR 2022). Each batch, every modality's own confidence in the true class is
  measured; the encoder of the modality that is ahead gets its gradient scaled down by
  ``1 - tanh(alpha · (ratio - 1))``, and Gaussian noise with the gradient's own spread is
  added to every encoder's gradient (the "GE" part, which keeps SGD's noise and so its
  generalisation). For a regression target the confidence is ``exp(-e²/2)`` of the probe's
  error ``e`` on the standardised target (a Gaussian likelihood, 1 when exact, like the
  probability of the true class). The paper reads each modality's confidence from its half of a
  concatenation classifier; to work with any fusion method we read it from a linear
  probe per modality, trained on the detached embeddings, so the probes never change
  the encoders. OGM-GE was designed for plain SGD: Adam and AdamW divide each weight's
  step by its own running gradient size, which largely undoes a rescaling of the
  gradient, so with them its effect is mostly the noise (on the parcel-scanner sample
  with AdamW it raised the weak modality's probed accuracy by 0.016, gradient blending by 0.055;
  see its data card).
* ``"blend"``, gradient blending (Wang, Tran & Feiszli, CVPR 2020). Each modality gets
  an auxiliary linear head trained on its own embedding, and the loss is a weighted sum
  of the fused loss and the heads' losses. After every epoch each head's weight is set
  from its overfitting-to-generalisation trade-off, ``w ∝ ΔG / ΔO²``: how much its
  validation loss fell (ΔG) over how much the gap between validation and training loss
  grew (ΔO). A head that still generalises gets more weight, so its encoder keeps
  receiving its own gradient.

Both take the training loss as given (cross-entropy, or MSE / Huber for a regression target,
whose heads predict one number). The remedies run on the device with no host reads per batch; the heads exist only during
training and are not part of the saved model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from fusion_core.config import IMBALANCE_REMEDIES, REMEDY_HELP

__all__ = [
    "IMBALANCE_REMEDIES",
    "REMEDY_HELP",
    "GradientBlending",
    "GradientModulation",
    "Remedy",
    "make_remedy",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Remedy(nn.Module):
    """One linear head per modality, used only while training; subclasses say what they do with it."""

    def __init__(self, dims: Mapping[str, int], num_outputs: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({m: nn.Linear(d, num_outputs) for m, d in dims.items()})
        self.regression = num_outputs == 1  # the heads predict one standardised number

    def loss(
        self,
        main: torch.Tensor,
        features: Mapping[str, torch.Tensor],
        present: Mapping[str, torch.Tensor],
        labels: torch.Tensor,
        loss_fn: LossFn,
    ) -> torch.Tensor:
        """The loss to minimise, given the fused loss ``main`` and this batch's embeddings."""
        raise NotImplementedError

    def after_backward(self, encoders: Mapping[str, list[nn.Parameter]]) -> None:
        """Change the encoders' gradients before the optimiser step (nothing by default)."""

    reads_validation = False
    """Whether ``end_epoch`` needs the validation rows' embeddings (the trainer computes them only then)."""

    def end_epoch(
        self,
        fused_val_loss: torch.Tensor,
        features: Mapping[str, torch.Tensor],
        labels: torch.Tensor,
        loss_fn: LossFn,
    ) -> None:
        """Learn from the epoch that ended (nothing by default)."""


class GradientModulation(Remedy):
    """OGM-GE: scale down the dominant modality's encoder gradient; add noise of the gradient's spread."""

    def __init__(self, dims: Mapping[str, int], num_outputs: int, alpha: float) -> None:
        super().__init__(dims, num_outputs)
        self.alpha = alpha
        self.coefficients: torch.Tensor | None = None  # (M,), set every batch on the device

    def loss(self, main, features, present, labels, loss_fn):
        names = list(self.heads)
        total = main
        scores = []
        for m in names:
            logits = self.heads[m](features[m].detach()).float()
            total = total + loss_fn(logits, labels)
            confidence = self._confidence(logits, labels)
            here = present[m].to(confidence.dtype)
            scores.append((confidence * here).sum() / here.sum().clamp(min=1.0))
        score = torch.stack(scores)  # (M,)
        others = (score.sum() - score) / max(1, len(names) - 1)
        ratio = score / others.clamp(min=1e-6)
        self.coefficients = 1.0 - torch.tanh(self.alpha * torch.relu(ratio - 1.0))
        return total

    def _confidence(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per sample: p(true class), or for regression the Gaussian likelihood ``exp(-e²/2)``."""
        if self.regression:
            return torch.exp(-0.5 * (logits[:, 0] - labels).square())
        return logits.softmax(dim=-1).gather(1, labels[:, None]).squeeze(1)

    def after_backward(self, encoders):
        if self.coefficients is None:
            return
        for index, m in enumerate(self.heads):
            for p in encoders.get(m, []):
                if p.grad is None:
                    continue
                spread = p.grad.std() if p.grad.numel() > 1 else p.grad.new_zeros(())
                p.grad.mul_(self.coefficients[index]).add_(torch.randn_like(p.grad) * spread)


class GradientBlending(Remedy):
    """Fused loss plus per-modality head losses, weighted by each head's generalisation over overfitting."""

    def __init__(self, dims: Mapping[str, int], num_outputs: int) -> None:
        super().__init__(dims, num_outputs)
        count = len(dims) + 1  # the fused output, then one head per modality
        self.register_buffer("weights", torch.full((count,), 1.0 / count))
        self.register_buffer("train_sum", torch.zeros(count))
        self.register_buffer("rows", torch.zeros(()))
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (train, val) losses

    def loss(self, main, features, present, labels, loss_fn):
        terms = [main] + [loss_fn(self.heads[m](features[m]).float(), labels) for m in self.heads]
        losses = torch.stack(terms)
        self.train_sum += losses.detach() * len(labels)
        self.rows += len(labels)
        return (self.weights * losses).sum() * len(terms)  # weights sum to 1; keep the loss's scale

    reads_validation = True

    def end_epoch(self, fused_val_loss, features, labels, loss_fn):
        train = self.train_sum / self.rows.clamp(min=1.0)
        with torch.inference_mode():
            heads = [loss_fn(self.heads[m](features[m]).float(), labels) for m in self.heads]
        val = torch.stack([fused_val_loss.float(), *heads])
        if self.previous is not None:
            previous_train, previous_val = self.previous
            generalisation = (previous_val - val).clamp(min=0.0)  # ΔG: how much validation loss fell
            overfitting = (val - train) - (previous_val - previous_train)  # ΔO: how much the gap grew
            raw = generalisation / overfitting.square().clamp(min=1e-4)
            total = raw.sum()
            uniform = torch.full_like(raw, 1.0 / len(raw))
            self.weights.copy_(torch.where(total > 0, raw / total.clamp(min=1e-12), uniform))
        self.previous = (train, val)
        self.train_sum.zero_()
        self.rows.zero_()


def make_remedy(name: str, dims: Mapping[str, int], num_outputs: int, *, ogm_alpha: float) -> Remedy | None:
    """The remedy called ``name`` for encoders giving embeddings of sizes ``dims`` and a head of
    ``num_outputs`` (classes, or 1 for regression); ``None`` for "none"."""
    if name == "none":
        return None
    if name == "ogm-ge":
        return GradientModulation(dims, num_outputs, ogm_alpha)
    return GradientBlending(dims, num_outputs)
