"""Fusion methods: how per-modality embeddings become one prediction.

Each method lives in its own file and registers itself in ``FUSIONS`` when
imported; this package imports them all. ``available_methods`` lists what a
given set of modalities can use, including one ``only:<modality>`` baseline
per modality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fusion_core.errors import ConfigError
from fusion_core.fusion import (  # noqa: F401  (fill the registry)
    attention,
    concat,
    crossattn,
    early,
    evidential,
    experts,
    film,
    gated,
    late,
    lowrank,
    mfb,
    perceiver,
    pooling,
    stacked,
    tensor,
    tokens,
    unimodal,
)
from fusion_core.fusion.base import FUSIONS, Fusion, FusionOutput
from fusion_core.options import check_options

FAMILIES = ("early", "intermediate", "late")
"""Where fusion happens: on the raw data, on learned features, or on each modality's decision."""

__all__ = [
    "FAMILIES",
    "FUSIONS",
    "Fusion",
    "FusionOutput",
    "available_methods",
    "create_fusion",
    "split_method",
]


def _is_baseline(cls: type[Fusion]) -> bool:
    return cls.per_modality_baseline


def available_methods(modality_names: Sequence[str], task: str | None = None) -> list[str]:
    """Every method these modalities can use, then ``only:<modality>`` for each modality. With
    ``task="regression"``, without the methods that predict classes only (``Fusion.no_regression``);
    ``compare`` lists them all, so that it can say why it skips them.

    >>> available_methods(["image", "text"])[-2:]
    ['only:image', 'only:text']
    """
    names = list(modality_names)
    methods = [
        name
        for name, cls in FUSIONS.items()
        if not _is_baseline(cls)
        and len(names) >= cls.min_modalities
        and not (task == "regression" and cls.no_regression)
    ]
    methods.sort(key=lambda name: FAMILIES.index(FUSIONS.get(name).level))  # stable: early, then …
    baselines = [name for name, cls in FUSIONS.items() if _is_baseline(cls)]
    return methods + [f"{baseline}:{m}" for baseline in baselines for m in names]


def split_method(name: str) -> tuple[str, str | None]:
    """``"only:image"`` → ``("only", "image")``; ``"concat"`` → ``("concat", None)``."""
    method, _, modality = name.partition(":")
    return method, modality or None


def create_fusion(name: str, in_dims: Mapping[str, int], num_classes: int, **options: Any) -> Fusion:
    """Build fusion method ``name`` (or ``only:<modality>``) for embeddings of sizes ``in_dims``.

    Options are checked against the method's keyword-only arguments.
    """
    method, modality = split_method(name)
    cls = FUSIONS.get(method)
    if modality is not None:
        if not _is_baseline(cls):
            raise ConfigError(f"fusion method {method!r} takes no ':<modality>' suffix; write {method!r}")
        options = {**options, "modality": modality}
    return cls(in_dims, num_classes, **check_options(cls, options, f"fusion {name!r}"))
