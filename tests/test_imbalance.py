"""Remedies for modality imbalance: OGM-GE and gradient blending, in the trainer and on their own."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from fusion_core.analysis.probe import probe_accuracy
from fusion_core.cli import main as cli_main
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset
from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.errors import ConfigError
from fusion_core.experiment import run_experiment
from fusion_core.imbalance import GradientBlending, GradientModulation
from fusion_core.modalities import prepare
from fusion_core.model import build_model
from fusion_core.runs import RunStore
from fusion_core.training import fit


def strong_and_weak(n: int = 600, seed: int = 0) -> PreparedData:
    """'strong' shows the class clearly; 'weak' faintly."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    centres = torch.randn(3, 6, generator=g)
    modalities = {
        name: PreparedModality(
            name,
            "tabular",
            "vector",
            scale * centres[labels] + torch.randn(n, 6, generator=g),
            torch.ones(n, dtype=torch.bool),
        )
        for name, scale in (("strong", 4.0), ("weak", 0.7))
    }
    order = torch.randperm(n, generator=g)
    splits = Splits(order[: n // 2], order[n // 2 : 3 * n // 4], order[3 * n // 4 :])
    return PreparedData("sw", modalities, labels, ["a", "b", "c"], [str(i) for i in range(n)], splits)


@pytest.mark.parametrize("remedy", ["ogm-ge", "blend"])
def test_a_remedy_trains_and_leaves_the_saved_model_unchanged_in_shape(remedy):
    data = strong_and_weak()
    torch.manual_seed(0)
    model = build_model(data.input_specs(), 3, ModelConfig(fusion="concat", embedding_dim=16))
    keys = set(model.state_dict())
    result = fit(model, data, TrainConfig(epochs=3, imbalance=remedy))
    assert result.epochs_run == 3 and result.notes == []
    assert all(h.train_loss == h.train_loss and h.val_macro_f1 > 0.5 for h in result.history)
    assert set(model.state_dict()) == keys  # the remedy's heads live only while training


def test_a_remedy_on_one_modality_is_skipped_with_a_note():
    data = strong_and_weak()
    model = build_model(data.input_specs(), 3, ModelConfig(fusion="only:weak", embedding_dim=16))
    result = fit(model, data, TrainConfig(epochs=1, imbalance="blend"))
    assert result.notes == ["imbalance remedy 'blend' needs two or more modalities; trained without it"]


def test_ogm_slows_only_the_modality_that_is_ahead():
    remedy = GradientModulation({"strong": 2, "weak": 2}, 2, alpha=0.5)
    with torch.no_grad():
        remedy.heads["strong"].weight.copy_(torch.tensor([[5.0, 0.0], [-5.0, 0.0]]))
        remedy.heads["weak"].weight.zero_()
    labels = torch.tensor([0, 1, 0, 1])
    signs = 1.0 - 2.0 * labels.float()
    features = {"strong": torch.stack([signs, torch.zeros(4)], 1), "weak": torch.randn(4, 2)}
    present = {name: torch.ones(4, dtype=torch.bool) for name in features}
    main = torch.tensor(1.0)
    total = remedy.loss(main, features, present, labels, F.cross_entropy)
    strong, weak = remedy.coefficients.tolist()
    # strong: p(true) ≈ 1, weak: p(true) = 0.5, so the ratio is about 2 → 1 - tanh(0.5)
    assert strong == pytest.approx(1 - torch.tanh(torch.tensor(0.5)).item(), abs=1e-3)
    assert weak == 1.0
    assert total > main  # the probes learn from their own loss …
    total.backward()
    assert features["strong"].grad is None  # … on detached embeddings

    encoder = {"strong": [torch.nn.Parameter(torch.ones(3))], "weak": [torch.nn.Parameter(torch.ones(3))]}
    for params in encoder.values():
        params[0].grad = torch.full((3,), 2.0)  # zero spread: no noise added
    remedy.after_backward(encoder)
    assert torch.allclose(encoder["strong"][0].grad, torch.full((3,), 2.0 * strong))
    assert torch.equal(encoder["weak"][0].grad, torch.full((3,), 2.0))


def test_gradient_blending_weighs_heads_by_generalisation_over_overfitting():
    remedy = GradientBlending({"a": 2, "b": 2}, 2)
    assert remedy.weights.tolist() == pytest.approx([1 / 3] * 3)
    features = {"a": torch.randn(8, 2), "b": torch.randn(8, 2)}
    labels = torch.randint(0, 2, (8,))

    def epoch(train_losses, val_losses):
        remedy.train_sum.copy_(torch.tensor(train_losses) * 8)
        remedy.rows.fill_(8)
        remedy.heads.requires_grad_(False)
        heads_val = iter(val_losses[1:])
        remedy.end_epoch(
            torch.tensor(val_losses[0]), features, labels, lambda *_: torch.tensor(next(heads_val))
        )

    epoch([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert remedy.weights.tolist() == pytest.approx([1 / 3] * 3)  # the first epoch sets the baseline
    # fused: val falls 0.2 while its gap grows 0.5 (overfits); a: val falls 0.2, gap grows 0.1; b: no gain
    epoch([0.3, 0.7, 0.9], [0.8, 0.8, 1.0])
    fused, a, b = remedy.weights.tolist()
    assert a > fused > b == 0.0
    assert a + fused == pytest.approx(1.0)
    assert a / fused == pytest.approx((0.2 / 0.1**2) / (0.2 / 0.5**2), rel=1e-4)


def test_bad_remedy_settings_are_explained():
    with pytest.raises(
        ConfigError, match="unknown imbalance remedy 'ogm'; choose one of: none, ogm-ge, blend"
    ):
        TrainConfig(imbalance="ogm")
    with pytest.raises(ConfigError, match="ogm_alpha must be positive, got 0"):
        TrainConfig(ogm_alpha=0)


def test_the_cli_trains_with_a_remedy(tmp_path, capsys):
    code = cli_main(
        [
            "train",
            "--data",
            "parcel-scanner",
            "--fusion",
            "concat",
            "--epochs",
            "1",
            "--imbalance",
            "blend",
            "--modality-dropout",
            "0.1",
            "--runs-dir",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    saved = RunStore(tmp_path).load(run_id).config.train  # the remedy is saved with the run
    assert (saved.imbalance, saved.modality_dropout) == ("blend", 0.1)


@pytest.mark.slow
def test_blending_lifts_the_dominated_modality_on_the_parcel_scanner_sample():
    """The sample's lesson, on seed 0: the sensors' probed accuracy rises and the fused F1 holds."""
    data = DataConfig(source="parcel-scanner")
    prepared = prepare(load_dataset("parcel-scanner"), data)
    scores = {}
    for remedy in ("none", "blend"):
        config = ExperimentConfig(
            data=data, model=ModelConfig(fusion="concat"), train=TrainConfig(imbalance=remedy)
        )
        result = run_experiment(config, prepared=prepared)
        scores[remedy] = (probe_accuracy(result.model, prepared)["sensors"], result.metrics["macro_f1"])
    (plain_probe, plain_f1), (blend_probe, blend_f1) = scores["none"], scores["blend"]
    assert blend_probe > plain_probe + 0.02
    assert blend_f1 >= plain_f1 - 0.005
