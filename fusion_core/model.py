"""The whole network: one encoder per modality, then a fusion method that owns the head.

``build_model`` turns plain configuration (``ModelConfig``) and the input specs of
the prepared data into a ``FusionModel``, checking every choice on the way so that
a bad one fails with a message that says how to fix it, before any training starts.

>>> from fusion_core.config import ModelConfig
>>> from fusion_core.data.types import InputSpec
>>> specs = {"table": InputSpec("vector", (8,)), "image": InputSpec("grid", (1, 16, 16))}
>>> model = build_model(specs, num_classes=3, config=ModelConfig(fusion="concat"))
>>> [row["kind"] for row in describe_model(model)]
['encoder', 'encoder', 'fusion', 'head']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from fusion_core.config import EncoderConfig, ModelConfig
from fusion_core.data.types import InputSpec
from fusion_core.encoders import ENCODERS, Encoder, compatible_encoders, create_encoder, default_encoder
from fusion_core.encoders.base import masked_mean
from fusion_core.errors import ConfigError
from fusion_core.fusion import FUSIONS, Fusion, FusionOutput, available_methods, create_fusion, split_method
from fusion_core.options import check_options, describe_options

__all__ = ["FusionModel", "build_model", "count_parameters", "describe_model"]


class FusionModel(nn.Module):
    """Encoders, keyed by modality name, feeding one fusion method.

    ``forward(inputs, masks)`` takes ``{name: (N, …)}`` tensors and ``{name: (N,)}`` bool
    presence masks (a missing mask means "present") and returns logits ``(N, C)``.
    Embeddings of absent samples are zeroed before fusion. Inputs of modalities the
    model does not use (e.g. the others, for an ``only:<modality>`` baseline) are ignored.

    Attributes:
        encoders: ``nn.ModuleDict`` of ``Encoder`` by modality name, in ``modality_names`` order.
        fusion: the ``Fusion`` method, which also holds the classifier head.
        specs: the ``InputSpec`` of each modality the model was built for.
        config: the ``ModelConfig`` it was built from (``None`` when built by hand).
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        fusion: Fusion,
        *,
        specs: Mapping[str, InputSpec] | None = None,
        config: ModelConfig | None = None,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fusion = fusion
        self.modality_names = list(encoders)
        self.specs = dict(specs or {name: encoder.spec for name, encoder in encoders.items()})
        self.config = config
        self.num_classes = fusion.num_classes
        self.task = fusion.task  # "regression" when the head predicts one number

    def encode(
        self, inputs: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[
        dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, tuple[torch.Tensor, torch.Tensor]]
    ]:
        """Run every encoder: ``(features {name: (N, d)}, masks {name: (N,) bool}, sequences)``.

        ``sequences`` is filled only when the fusion method attends across steps and the
        encoder gives them; the pooled feature of such a modality is then the mean of its steps.
        """
        masks = masks or {}
        features, present, sequences = {}, {}, {}
        for name in self.modality_names:
            x = inputs[name]
            mask = masks.get(name)
            present[name] = x.new_ones(x.shape[0], dtype=torch.bool) if mask is None else mask.bool()
            encoder = self.encoders[name]
            if self.fusion.uses_sequences and encoder.gives_sequence:
                steps, padding = encoder.forward_sequence(x)
                keep = present[name].to(steps.dtype).view(-1, 1, 1)
                sequences[name] = (steps * keep, padding)
                features[name] = masked_mean(steps, padding) * keep.view(-1, 1)
            else:
                embedding = encoder(x)
                features[name] = embedding * present[name].to(embedding.dtype).unsqueeze(-1)
        return features, present, sequences

    def forward(
        self,
        inputs: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor] | None = None,
        *,
        details: bool = False,
    ) -> torch.Tensor | FusionOutput:
        """Logits ``(N, C)``; with ``details=True`` a ``FusionOutput`` (logits, fused, weights)."""
        features, present, sequences = self.encode(inputs, masks)
        return self.fusion(features, present, sequences or None, details=details)

    @property
    def method(self) -> str:
        """The fusion method's name, ``only:<modality>`` for a single-modality baseline."""
        if self.fusion.per_modality_baseline:
            return f"{self.fusion.name}:{self.fusion.modality}"
        return self.fusion.name


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------------------
# building from configuration


def build_model(
    specs: Mapping[str, InputSpec], num_classes: int, config: ModelConfig, *, task: str = "classification"
) -> FusionModel:
    """Build the encoders and the fusion method that ``config`` describes for these inputs.

    Each modality gets the encoder named in ``config.encoders`` or, failing that, the
    default for its form; the encoder's ``out_dim`` defaults to ``config.embedding_dim``.
    Early fusion gives every modality the ``flatten`` encoder, whatever ``config.encoders``
    says; ``only:<modality>`` builds that modality's encoder alone.

    Raises:
        ConfigError: an unknown encoder, fusion method or modality name, an encoder that
            cannot read a modality's form, bad options, or too few modalities for the method.
    """
    names = list(specs)
    if not names:
        raise ConfigError("there are no modalities to build a model from; the dataset needs at least one")
    if task == "regression":
        num_classes = 1  # the head predicts one number
    elif num_classes < 2:
        raise ConfigError(
            f"a classifier needs at least 2 classes, got {num_classes}; check the target column"
        )
    for name in names:
        if not name or "." in name:
            raise ConfigError(
                f"modality name {name!r} must be non-empty and contain no '.'; rename the modality"
            )
    for name in config.encoders:
        if name not in specs:
            raise ConfigError(
                f"an encoder is set for unknown modality {name!r}; modalities are: {', '.join(names)}"
            )

    method, target = split_method(config.fusion)
    if method not in FUSIONS:
        raise ConfigError(
            f"unknown fusion method {config.fusion!r}; choose one of: {', '.join(available_methods(names))}"
        )
    fusion_cls = FUSIONS.get(method)
    used = names
    if fusion_cls.per_modality_baseline:
        target = target or config.fusion_options.get("modality") or names[0]
        if target not in specs:
            raise ConfigError(
                f"fusion {config.fusion!r} names unknown modality {target!r}; "
                f"choose one of: {', '.join(f'{method}:{n}' for n in names)}"
            )
        used = [target]

    built = {name: _build_encoder(name, specs[name], config, fusion_cls.fixed_encoder) for name in used}
    encoders = {name: encoder for name, (encoder, _) in built.items()}
    in_dims = {name: encoder.out_dim for name, encoder in encoders.items()}
    fusion = create_fusion(config.fusion, in_dims, num_classes, **config.fusion_options)
    # Record every option with its default filled in, so a saved run rebuilds the same
    # network even after a default changes in a later version.
    resolved = replace(
        config,
        encoders={name: choice for name, (_, choice) in built.items()},
        fusion_options=_with_defaults(type(fusion), config.fusion_options, skip=("modality",)),
    )
    return FusionModel(encoders, fusion, specs={name: specs[name] for name in used}, config=resolved)


def _with_defaults(cls: type, options: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    defaults = {info.name: info.default for info in describe_options(cls) if info.name not in skip}
    return {**defaults, **check_options(cls, dict(options), cls.name)}


def _build_encoder(
    name: str, spec: InputSpec, config: ModelConfig, fixed_encoder: str | None
) -> tuple[Encoder, EncoderConfig]:
    choice = config.encoders.get(name)
    if fixed_encoder is not None:
        encoder_name, options = fixed_encoder, {}
    elif choice is not None:
        encoder_name, options = choice.name, dict(choice.options)
    else:
        encoder_name, options = default_encoder(spec), {}
    cls = ENCODERS.get(encoder_name)
    if spec.form not in cls.accepts:
        raise ConfigError(
            f"encoder {encoder_name!r} cannot read modality {name!r}, whose form is {spec.form}; "
            f"encoders that fit: {', '.join(compatible_encoders(spec))}"
        )
    if "out_dim" not in options and any(info.name == "out_dim" for info in describe_options(cls)):
        options["out_dim"] = config.embedding_dim
    encoder = create_encoder(encoder_name, spec, **options)
    return encoder, EncoderConfig(encoder_name, _with_defaults(cls, options))


# ---------------------------------------------------------------------------------------------------------
# describing a built model


def _shape(*dims: int | str) -> str:
    return "(N, " + ", ".join(str(d) for d in dims) + ")"


def describe_model(model: FusionModel) -> list[dict[str, Any]]:
    """One row per block, in the order data flows, for tables and architecture diagrams.

    Each row: ``name``, ``kind`` ("encoder", "fusion" or "head"), ``block`` (registered
    name), ``title``, ``inputs`` (names of the rows or modalities feeding it),
    ``input_shape`` and ``output_shape`` (text such as ``"(N, 64)"``) and ``parameters``.
    """
    rows: list[dict[str, Any]] = []
    fusion = model.fusion
    for name in model.modality_names:
        encoder = model.encoders[name]
        sequence = fusion.uses_sequences and encoder.gives_sequence
        rows.append(
            {
                "name": name,
                "kind": "encoder",
                "block": encoder.name,
                "title": encoder.title,
                "inputs": [name],
                "input_shape": _shape(*encoder.spec.shape),
                "output_shape": _shape("T", encoder.out_dim) if sequence else _shape(encoder.out_dim),
                "parameters": count_parameters(encoder),
            }
        )
    head = fusion.head
    head_parameters = count_parameters(head)
    fused_dim = fusion.fused_dim
    joined_inputs = " + ".join(row["output_shape"] for row in rows)
    fusion_row = {
        "name": fusion.name,
        "kind": "fusion",
        "block": fusion.name,
        "title": fusion.title,
        "inputs": list(model.modality_names),
        "input_shape": joined_inputs,
        "output_shape": _shape(fused_dim) if fused_dim else "",
        "parameters": count_parameters(fusion) - head_parameters,
    }
    head_row = {
        "name": "head",
        "kind": "head",
        "block": "classifier",
        "title": "Classifier head",
        "inputs": [fusion.name],
        "input_shape": fusion_row["output_shape"],
        "output_shape": _shape(model.num_classes),
        "parameters": head_parameters,
    }
    if fusion.level == "late" and isinstance(head, nn.ModuleDict):
        # decisions first, then their combination
        head_row.update(
            title="One classifier per modality",
            inputs=list(model.modality_names),
            input_shape=joined_inputs,
            output_shape=" + ".join(_shape(model.num_classes) for _ in model.modality_names),
        )
        fusion_row.update(
            inputs=["head"], input_shape=head_row["output_shape"], output_shape=_shape(model.num_classes)
        )
        return rows + [head_row, fusion_row]
    return rows + [fusion_row, head_row]
