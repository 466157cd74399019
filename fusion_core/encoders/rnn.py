"""Recurrent networks (LSTM and GRU): encoders that read a sequence one step at a time."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from fusion_core.data.types import InputSpec
from fusion_core.encoders.base import ENCODERS, Encoder, StepInput
from fusion_core.options import require_at_least, require_fraction


def _reverse_valid_steps(steps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[n]`` steps of every row and leave its padding in place.

    Applying it twice gives the input back, so it also undoes itself.
    """
    positions = torch.arange(steps.shape[1], device=steps.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1
    order = torch.where(positions <= last, last - positions, positions)  # (N, T)
    return steps.gather(1, order.unsqueeze(-1).expand_as(steps))


class RecurrentEncoder(Encoder):
    """Shared by ``lstm`` and ``gru``: the subclass picks the recurrent cell.

    The network keeps a hidden state and updates it at every step from the previous
    state and the new input, so it can carry information across the whole sequence.
    The pooled embedding is the state after the **last real step**: padding after the
    text is never read into it. A bidirectional encoder also reads each sequence
    backwards (only its real steps, reversed in place) and appends that reader's final
    state, so the start of the sequence weighs as much as its end.
    """

    cell: ClassVar[type[nn.RNNBase]]
    accepts = frozenset({"sequence", "tokens", "grid"})
    gives_sequence = True
    option_help = {
        "hidden": "size of the hidden state carried from step to step",
        "layers": "number of stacked recurrent layers",
        "bidirectional": "also read each sequence backwards and combine both readings",
        "embed_dim": "size of the learned vector of each token (text only)",
        "out_dim": "size of the embedding handed to the fusion method",
        "dropout": "fraction of features dropped at random between layers while training",
    }

    def __init__(
        self,
        spec: InputSpec,
        *,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        embed_dim: int = 64,
        out_dim: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(spec)
        what = f"encoder {self.name!r}"
        require_at_least(what, 1, hidden=hidden, layers=layers, embed_dim=embed_dim, out_dim=out_dim)
        require_fraction(what, dropout=dropout)
        self.steps_in = StepInput(spec, embed_dim=embed_dim)
        self.hidden = hidden
        self.bidirectional = bidirectional
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        width = self.steps_in.step_dim
        for _ in range(layers):
            self.forward_layers.append(self.cell(width, hidden, batch_first=True))
            if bidirectional:
                self.backward_layers.append(self.cell(width, hidden, batch_first=True))
            width = hidden * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(width, out_dim)
        self.out_dim = out_dim

    def _read(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, padding = self.steps_in(x)
        lengths = (~padding).sum(dim=1)
        hidden = steps
        for index, forward_layer in enumerate(self.forward_layers):
            if index:
                hidden = self.dropout(hidden)
            out, _ = forward_layer(hidden)
            if self.bidirectional:
                backward, _ = self.backward_layers[index](_reverse_valid_steps(hidden, lengths))
                out = torch.cat([out, _reverse_valid_steps(backward, lengths)], dim=-1)
            hidden = out
        return hidden, padding, lengths  # hidden: (N, T, hidden × directions)

    def forward_sequence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, padding, _ = self._read(x)
        return self.project(hidden) * (~padding).unsqueeze(-1).to(hidden.dtype), padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _, lengths = self._read(x)
        last = (lengths - 1).clamp_min(0).reshape(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
        final = hidden.gather(1, last).squeeze(1)  # forward reader: state after the last real step
        if self.bidirectional:
            # the backward reader ends at step 0, having read the real steps from last to first
            final = torch.cat([final[:, : self.hidden], hidden[:, 0, self.hidden :]], dim=-1)
        return self.project(self.dropout(final))


@ENCODERS.register("lstm")
class LSTMEncoder(RecurrentEncoder):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997).

    An LSTM keeps a memory cell next to its hidden state, with three learned gates that
    decide at each step what to forget, what to write and what to show. The gates let
    it hold information over long sequences without the gradient fading away.

    Shape:
        input ``(N, T, C)``, ``(N, T)`` token ids or ``(N, 1, F, T)`` → ``(N, out_dim)``;
        ``forward_sequence`` gives ``(N, T, out_dim)`` and the padding mask ``(N, T)``.
    """

    title = "LSTM (recurrent)"
    summary = "Reads the sequence step by step with a gated memory; good for order-dependent series and text."
    cell = nn.LSTM


@ENCODERS.register("gru")
class GRUEncoder(RecurrentEncoder):
    """Gated recurrent unit (Cho et al., 2014).

    A GRU is a leaner LSTM: two gates (update and reset) and no separate memory cell.
    It has about a quarter fewer parameters, trains a little faster and works as well
    on many small tasks.

    Shape:
        input ``(N, T, C)``, ``(N, T)`` token ids or ``(N, 1, F, T)`` → ``(N, out_dim)``;
        ``forward_sequence`` gives ``(N, T, out_dim)`` and the padding mask ``(N, T)``.
    """

    title = "GRU (recurrent)"
    summary = "A leaner LSTM with two gates; reads the sequence step by step."
    cell = nn.GRU
