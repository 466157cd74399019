"""Robustness of trained models: noise, missing modalities, corruptions and attacks, on data with a known answer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import test_analysis
import torch
from test_baselines import variance_series_dataset

from fusion_core.analysis.robustness import (
    NO_NETWORK_MESSAGE,
    relative_auc,
    robustness_curves,
    robustness_run,
)
from fusion_core.baselines import run_baseline
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.errors import ConfigError
from fusion_core.experiment import run_experiment

data = (
    test_analysis.data
)  # the fixtures: two vector modalities, one decides the class; a concat model on them
concat_run = test_analysis.concat_run


@pytest.fixture(scope="module")
def report(concat_run, data):
    return robustness_curves(concat_run.model, data, epsilons=(0.0, 0.1, 0.5))


def _curve(report, modality, corruption):
    (curve,) = [
        c
        for c in report["curves"] + report["adversarial"]
        if (c["modality"], c["corruption"]) == (modality, corruption)
    ]
    return curve


def test_noise_on_the_signal_lowers_f1_monotonically(report):
    curve = _curve(report, "signal", "noise")
    assert curve["score"][0] == pytest.approx(report["clean_score"])
    assert report["clean_score"] > 0.8
    assert all(
        later <= earlier + 1e-9 for earlier, later in zip(curve["score"], curve["score"][1:], strict=False)
    )
    assert curve["score"][-1] < report["clean_score"] - 0.2
    assert curve["robustness"] < 0.9


def test_noise_on_an_uninformative_modality_barely_moves_f1(report):
    curve = _curve(report, "noise", "noise")
    assert max(abs(f - report["clean_score"]) for f in curve["score"]) < 0.06
    assert curve["robustness"] > 0.95
    assert curve["robustness"] > _curve(report, "signal", "noise")["robustness"]


def test_fgsm_at_zero_epsilon_equals_clean_f1(report):
    for modality in ("signal", "noise", "all"):
        fgsm = _curve(report, modality, "fgsm")
        assert fgsm["levels"][0] == 0.0
        assert fgsm["score"][0] == pytest.approx(report["clean_score"], abs=1e-12)
    # and the attack on the signal hurts more with a larger budget, more than on the uninformative modality
    signal = _curve(report, "signal", "pgd")
    assert signal["score"][-1] < signal["score"][0] - 0.2
    assert signal["score"][-1] < _curve(report, "noise", "pgd")["score"][-1]


def test_missing_signal_costs_more_than_missing_noise(report):
    signal, noise = _curve(report, "signal", "missing"), _curve(report, "noise", "missing")
    assert signal["levels"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert signal["score"][-1] < 0.5 < noise["score"][-1]
    assert report["scores"]["missing"] == pytest.approx((signal["robustness"] + noise["robustness"]) / 2)
    assert set(report["scores"]) == {"noise", "missing", "fgsm", "pgd"}


def test_relative_auc():
    assert relative_auc([0, 1, 2], [0.8, 0.8, 0.8], 0.8) == pytest.approx(1.0)
    assert relative_auc([0, 1], [1.0, 0.0], 1.0) == pytest.approx(0.5)
    assert relative_auc([0, 0.5, 1], [1.0, 0.0, 0.0], 1.0) == pytest.approx(0.25)


def _typed_data() -> PreparedData:
    """One modality of each kind of tensor, to check each type's corruption runs and leaves clean F1 at 0."""
    n = 60
    rng = np.random.default_rng(1)
    labels = torch.from_numpy(rng.integers(0, 2, n))
    present = torch.ones(n, dtype=torch.bool)
    modalities = {
        "img": PreparedModality("img", "image", "grid", torch.randn(n, 3, 8, 8), present.clone()),
        "words": PreparedModality(
            "words", "text", "tokens", torch.randint(2, 20, (n, 12)), present.clone(), vocab_size=20
        ),
        "clip": PreparedModality("clip", "audio", "grid", torch.randn(n, 1, 6, 10), present.clone()),
        "steps": PreparedModality("steps", "series", "sequence", torch.randn(n, 16, 2), present.clone()),
    }
    everything = torch.arange(n)
    return PreparedData(
        dataset_name="typed",
        modalities=modalities,
        labels=labels,
        class_names=["x", "y"],
        ids=[str(i) for i in range(n)],
        splits=Splits(train=everything[:30], val=everything[30:40], test=everything[40:]),
    )


def test_each_type_gets_its_corruption():
    data = _typed_data()
    from fusion_core.model import build_model

    model = build_model(
        {name: m.spec for name, m in data.modalities.items()},
        num_classes=2,
        config=ModelConfig(fusion="concat", embedding_dim=8),
    )
    report = robustness_curves(model, data, epsilons=(0.0, 0.1))
    kinds = {(c["modality"], c["corruption"]) for c in report["curves"]}
    assert {
        ("img", "occlusion"),
        ("words", "word_dropout"),
        ("clip", "time_mask"),
        ("steps", "time_mask"),
    } <= kinds
    assert ("words", "noise") not in kinds  # token ids are discrete: no Gaussian noise, no gradient attack
    assert "words" not in {c["modality"] for c in report["adversarial"]}
    assert all(c["score"][0] == report["clean_score"] for c in report["curves"])


def test_a_classical_baseline_says_it_has_no_network(tmp_path):
    dataset = variance_series_dataset(tmp_path, n=60)
    config = ExperimentConfig(
        data=DataConfig(source="unused"), model=ModelConfig(fusion="sk:logreg:only:signal")
    )
    baseline = run_baseline(config, dataset=dataset)
    with pytest.raises(ConfigError, match="no network") as info:
        robustness_run(baseline, dataset=dataset)
    assert NO_NETWORK_MESSAGE in str(info.value)


def test_cli_robustness_of_a_saved_run(tmp_path, capsys):
    from test_analysis import _write_bundle

    from fusion_core.cli import main
    from fusion_core.runs import RunStore

    bundle = tmp_path / "bundle"
    _write_bundle(bundle)
    config = ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="concat", embedding_dim=16),
        train=TrainConfig(epochs=12, batch_size=32, lr=5e-3, device="cpu"),
    )
    run = run_experiment(config, store=RunStore(tmp_path / "runs"))
    capsys.readouterr()
    args = ["robustness", "--run", run.run_id, "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clean_score"] == pytest.approx(run.metrics["macro_f1"], abs=1e-6)
    kinds = {(c["modality"], c["corruption"]) for c in report["curves"]}
    assert {("signal", "noise"), ("note", "missing"), ("note", "word_dropout")} <= kinds
    by_modality = {c["modality"]: c["robustness"] for c in report["curves"] if c["corruption"] == "missing"}
    assert by_modality["signal"] < by_modality["noise"]  # losing the informative modality costs the most
    assert {"noise", "missing", "word_dropout", "fgsm", "pgd"} <= set(report["scores"])

    assert main([*args, "--no-attack"]) == 0
    text = capsys.readouterr().out
    assert "Gaussian noise on signal" in text and "FGSM" not in text
    assert re.search(r"^  missing\s+\d\.\d{3}$", text, re.MULTILINE)


def test_results_tab_and_compare_overlay_in_the_app(tmp_path, monkeypatch):
    from app_helpers import new_app, open_page, plotly_spec, problems
    from test_analysis import _write_bundle

    from fusion_core.runs import RunStore

    bundle = tmp_path / "bundle"
    _write_bundle(bundle)
    store = RunStore(tmp_path / "runs")
    trained = {}
    for fusion in ("concat", "late"):
        config = ExperimentConfig(
            data=DataConfig(source=str(bundle)),
            model=ModelConfig(fusion=fusion, embedding_dim=8),
            train=TrainConfig(epochs=3, batch_size=32, device="cpu"),
        )
        trained[fusion] = run_experiment(config, store=store, label=fusion)
    baseline = ExperimentConfig(
        data=DataConfig(source=str(bundle)), model=ModelConfig(fusion="sk:logreg:early")
    )
    run_experiment(baseline, store=store, label="baseline")
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))

    at = open_page(new_app(), "results")
    at.selectbox(key="results_run").select(trained["concat"].run_id).run()
    at.toggle(key="results_robustness_measure").set_value(True).run(timeout=60)
    assert problems(at) == []
    missing = plotly_spec(at, "results_robustness_missing")
    assert {trace["name"].split(" (")[0] for trace in missing["data"]} == {"signal", "noise", "note"}
    assert plotly_spec(at, "results_robustness_fgsm")

    at.selectbox(key="results_run").select(
        next(r["run_id"] for r in store.list() if r["label"] == "baseline")
    )
    at.run()
    assert any("no network" in info.value for info in at.info)

    open_page(at, "compare")
    at.toggle(key="compare_robustness_measure").set_value(True).run(timeout=60)
    assert problems(at) == []
    assert any("have no network" in caption.value for caption in at.caption)
    at.selectbox(key="compare_robustness_kind").select("missing").run()
    at.selectbox(key="compare_robustness_modality").select("signal").run()
    overlay = plotly_spec(at, "compare_robustness_overlay")
    assert sorted(trace["name"].split(" (")[0] for trace in overlay["data"]) == ["concat", "late"]


@pytest.mark.slow  # trains two models on a bundled sample
def test_modality_dropout_flattens_the_missing_modality_curve():
    """On activity-sensors both modalities matter; a model trained with modality dropout keeps more of its score
    when either goes missing (the figures are in sample_data/activity-sensors.md)."""
    scores = {}
    for dropout in (0.0, 0.5):
        config = ExperimentConfig(
            data=DataConfig(source="activity-sensors"),
            model=ModelConfig(fusion="concat"),
            train=TrainConfig(device="cpu", epochs=EPOCHS, modality_dropout=dropout),
        )
        report = robustness_run(run_experiment(config), adversarial=False)
        scores[dropout] = {c["modality"]: c for c in report["curves"] if c["corruption"] == "missing"}
    for modality in ("motion", "subject"):
        plain, dropped = scores[0.0][modality], scores[0.5][modality]
        assert dropped["score"][-1] > plain["score"][-1] + 0.15, (
            modality
        )  # F1 with the modality always missing
        assert dropped["robustness"] > plain["robustness"] + 0.1, modality


EPOCHS = 15
