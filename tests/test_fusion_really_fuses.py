"""Fusion must combine modalities, not just average what each knows alone.

The label is the XOR of one bit hidden in modality A and one bit hidden in
modality B. Either modality alone says nothing about the label (each bit is
independent of it), so a single-modality baseline is stuck at chance, while a
method that really fuses the two can reach nearly perfect accuracy.
"""

from __future__ import annotations

import pytest
import torch

from fusion_core.config import ModelConfig, TrainConfig
from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.model import build_model
from fusion_core.training import fit, predict


def xor_task(n: int = 2400, distractors: int = 7, noise: float = 0.3, seed: int = 0) -> PreparedData:
    """Modality "a" carries bit a in its first feature, "b" carries bit b; label = a XOR b."""
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (2, n), generator=g)
    modalities = {}
    for name, bit in zip(("a", "b"), bits, strict=True):
        signal = (2.0 * bit - 1.0)[:, None] + noise * torch.randn(n, 1, generator=g)
        values = torch.cat([signal, torch.randn(n, distractors, generator=g)], dim=1)
        modalities[name] = PreparedModality(
            name, "tabular", "vector", values, torch.ones(n, dtype=torch.bool)
        )
    labels = bits[0] ^ bits[1]
    order = torch.randperm(n, generator=g)
    a, b = int(0.6 * n), int(0.8 * n)
    return PreparedData(
        "xor",
        modalities,
        labels,
        ["same", "different"],
        [str(i) for i in range(n)],
        Splits(order[:a], order[a:b], order[b:]),
    )


def xor_test_accuracy(method: str, data: PreparedData) -> float:
    torch.manual_seed(0)
    model = build_model(data.input_specs(), data.num_classes, ModelConfig(fusion=method))
    fit(model, data, TrainConfig(epochs=40, patience=10, lr=3e-3))
    _, predictions = predict(model, data, data.splits.test)
    return float((torch.as_tensor(predictions) == data.labels[data.splits.test]).float().mean())


@pytest.fixture(scope="module")
def xor_data() -> PreparedData:
    return xor_task()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["concat", "early", "tensor"])
def test_fusion_methods_solve_xor(method, xor_data):
    assert xor_test_accuracy(method, xor_data) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("method", ["only:a", "only:b"])
def test_single_modality_baselines_stay_at_chance(method, xor_data):
    assert xor_test_accuracy(method, xor_data) <= 0.6
