"""Plain-data configuration of an experiment, saved as JSON next to every run.

An experiment is three choices: which data and how to preprocess it
(``DataConfig``), which encoders and fusion method (``ModelConfig``), and how
to train (``TrainConfig``). The app builds these step by step from widgets and
the CLI from flags; both hand them to the same ``fusion_core`` functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fusion_core.errors import ConfigError


@dataclass
class DataConfig:
    """Where the data comes from and how it is split and preprocessed.

    ``source`` is a sample dataset name or a path to a bundle (zip or folder).
    ``preprocessing`` maps a modality name to its preprocessing options; a
    modality left out uses its type's defaults.
    """

    source: str = "digits-audio"
    preprocessing: dict[str, dict[str, Any]] = field(default_factory=dict)
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class EncoderConfig:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The fusion method and, per modality, the encoder that feeds it.

    A modality missing from ``encoders`` gets the default encoder for the form
    of its prepared tensor (see ``fusion_core.encoders.default_encoder``).
    """

    fusion: str = "concat"
    fusion_options: dict[str, Any] = field(default_factory=dict)
    encoders: dict[str, EncoderConfig] = field(default_factory=dict)
    embedding_dim: int = 64


SCHEDULES = ("plateau", "cosine", "constant")
"""Learning-rate schedules: halve on a plateau of validation macro-F1, warm-up then cosine, or fixed."""

REMEDY_HELP = {
    "none": "plain training",
    "ogm-ge": "on-the-fly gradient modulation: slows the dominant modality's encoder down and adds "
    "gradient noise (Peng et al., CVPR 2022); made for SGD, weaker with Adam",
    "blend": "gradient blending: one extra head per modality, its loss weighted by how well it still "
    "generalises (Wang et al., CVPR 2020)",
}
IMBALANCE_REMEDIES = tuple(REMEDY_HELP)
"""Training options against one modality dominating (see ``fusion_core.imbalance``)."""


REGRESSION_LOSSES = ("mse", "huber")
"""Losses for a regression target: mean squared error, or Huber (squared near zero, linear beyond 1
standard deviation of the target, so a few outliers pull less)."""


@dataclass
class TrainConfig:
    """How to train. The budget rule: train until validation macro-F1 stops improving.

    Training stops when ``patience`` epochs in a row bring no gain on the validation
    split (the best epoch's weights are kept), when ``epochs`` (a generous cap) have
    run, or when ``time_budget`` seconds have passed, whichever comes first. Every
    method of a comparison gets the same rule.
    """

    epochs: int = 60
    batch_size: int = 64
    lr: float = 4e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    seed: int = 0
    device: str = "auto"
    patience: int = 4
    class_weighting: bool = False
    modality_dropout: float = 0.0
    imbalance: str = "none"  # a remedy for one modality dominating: "none", "ogm-ge" or "blend"
    ogm_alpha: float = 0.5  # OGM-GE's modulation strength
    deterministic: bool = False
    bf16: bool = False
    schedule: str = "plateau"
    time_budget: float | None = None  # seconds per training run; None: no limit
    regression_loss: str = "mse"  # for a regression task: "mse" or "huber"
    # Half-life, in epochs, of the running average of the weights that is scored and kept; 0 scores
    # the weights as they are (see fusion_core.training.WeightAverage).
    average_weights: float = 0.5

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.patience < 1:
            raise ConfigError(f"patience must be at least 1 epoch, got {self.patience}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"unknown learning-rate schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )
        if not (self.average_weights >= 0 and math.isfinite(self.average_weights)):
            raise ConfigError(
                f"the weight average's half-life must be 0 (off) or a positive number of epochs, "
                f"got {self.average_weights}"
            )
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(
                f"the time budget must be a positive number of seconds, got {self.time_budget}; "
                "leave it out for no limit"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"modality dropout must be in [0, 1), got {self.modality_dropout}")
        if self.imbalance not in IMBALANCE_REMEDIES:
            raise ConfigError(
                f"unknown imbalance remedy {self.imbalance!r}; choose one of: {', '.join(IMBALANCE_REMEDIES)}"
            )
        if not self.ogm_alpha > 0:
            raise ConfigError(f"ogm_alpha must be positive, got {self.ogm_alpha}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of: adam, adamw, sgd")
        if self.regression_loss not in REGRESSION_LOSSES:
            raise ConfigError(
                f"unknown regression loss {self.regression_loss!r}; choose one of: {', '.join(REGRESSION_LOSSES)}"
            )


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ExperimentConfig:
        model_raw = dict(raw.get("model", {}))
        encoders = {name: _saved_encoder(enc) for name, enc in model_raw.pop("encoders", {}).items()}
        # Configurations saved before learning-rate schedules and weight averaging existed trained
        # with a fixed rate and scored the weights as they were.
        train_raw = {"schedule": "constant", "average_weights": 0.0, **raw.get("train", {})}
        return cls(
            data=DataConfig(**_known(DataConfig, raw.get("data", {}))),
            model=ModelConfig(encoders=encoders, **_known(ModelConfig, model_raw)),
            train=TrainConfig(**_known(TrainConfig, train_raw)),
        )

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        return cls.from_dict(json.loads(text))


def _saved_encoder(raw: dict[str, Any]) -> EncoderConfig:
    """An encoder as saved; a saved ``mlp`` with options but no ``linear_path`` was built before the
    linear path existed, so it is rebuilt without one (its weights would not fit otherwise)."""
    encoder = EncoderConfig(**raw)
    if encoder.name == "mlp" and encoder.options and "linear_path" not in encoder.options:
        encoder.options = {**encoder.options, "linear_path": False}
    return encoder


def _known(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}
