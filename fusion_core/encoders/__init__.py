"""Encoders: one module per modality that turns its tensor into an embedding.

Each family lives in its own file and registers itself in ``ENCODERS`` when
imported; this package imports them all. Which encoders can read a modality
depends only on the *form* of its prepared tensor (vector, grid, sequence,
tokens), which each encoder lists in ``accepts``.
"""

from __future__ import annotations

from typing import Any

from fusion_core.data.types import FORMS, InputSpec
from fusion_core.encoders import cnn, cnn1d, mlp, rnn, transformer  # noqa: F401  (fill the registry)

# isort: split
from fusion_core.encoders import flatten  # noqa: F401  (registered last: the no-learning choice ends every list)

# isort: split
from fusion_core.encoders.base import ENCODERS, Encoder
from fusion_core.errors import ConfigError
from fusion_core.options import check_options

DEFAULT_ENCODERS = {"vector": "mlp", "grid": "cnn", "sequence": "cnn1d", "tokens": "cnn1d"}
"""The encoder a modality gets when the model configuration names none, by form."""

__all__ = ["ENCODERS", "Encoder", "compatible_encoders", "create_encoder", "default_encoder"]


def _check_form(spec: InputSpec) -> None:
    if spec.form not in FORMS:
        raise ConfigError(f"unknown input form {spec.form!r}; choose one of: {', '.join(FORMS)}")


def compatible_encoders(spec: InputSpec) -> list[str]:
    """Names of the encoders that can read an input of this form, the default first."""
    _check_form(spec)
    fitting = [name for name, cls in ENCODERS.items() if spec.form in cls.accepts]
    default = DEFAULT_ENCODERS[spec.form]
    return sorted(fitting, key=lambda name: name != default)


def default_encoder(spec: InputSpec) -> str:
    """The encoder used for this form when none is chosen: mlp, cnn, or cnn1d for series and text."""
    _check_form(spec)
    return DEFAULT_ENCODERS[spec.form]


def create_encoder(name: str, spec: InputSpec, **options: Any) -> Encoder:
    """Build encoder ``name`` for inputs described by ``spec``, with validated options.

    >>> encoder = create_encoder("mlp", InputSpec("vector", (10,)), out_dim=8)
    >>> encoder.out_dim
    8
    """
    cls = ENCODERS.get(name)
    if spec.form not in cls.accepts:
        raise ConfigError(
            f"encoder {name!r} cannot read a {spec.form} input; "
            f"encoders that fit: {', '.join(compatible_encoders(spec))}"
        )
    return cls(spec, **check_options(cls, options, f"encoder {name!r}"))
