"""Regression targets: task inference, metrics, heads, training and the product-of-two-modalities lesson."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fusion_core.config import ModelConfig, TrainConfig
from fusion_core.data.types import PreparedData, PreparedModality, Splits, infer_task
from fusion_core.errors import ConfigError
from fusion_core.fusion import FUSIONS
from fusion_core.metrics import regression_metrics
from fusion_core.model import build_model
from fusion_core.training import fit, predict


def product_data(n: int = 1200, seed: int = 0, scale: float = 50.0, offset: float = 10.0) -> PreparedData:
    """Two modalities each holding one scalar (among distractors); the target is their product.

    The target is reported in its own units (``scale * a * b + offset``) to show that training
    standardises it and predictions come back in those units.
    """
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1.5, 1.5, n), rng.uniform(-1.5, 1.5, n)
    target = scale * a * b + offset

    def modality(name: str, signal: np.ndarray) -> PreparedModality:
        values = np.concatenate([signal[:, None], rng.standard_normal((n, 3))], axis=1).astype(np.float32)
        return PreparedModality(
            name, "tabular", "vector", torch.from_numpy(values), torch.ones(n, dtype=torch.bool)
        )

    order = torch.from_numpy(rng.permutation(n))
    n_val, n_test = n // 6, n // 6
    return PreparedData(
        dataset_name="product",
        modalities={"A": modality("A", a), "B": modality("B", b)},
        labels=torch.tensor(target, dtype=torch.float32),
        class_names=[],
        ids=[f"s{i}" for i in range(n)],
        splits=Splits(order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]),
        task="regression",
    )


def test_task_is_inferred_from_a_numeric_label_with_many_values():
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert infer_task(pd.Series([0, 1, 2, 1, 0] * 10)) == "classification"
    assert infer_task(pd.Series([f"c{i}" for i in range(50)])) == "classification"


def test_regression_metrics_match_their_definitions():
    metrics = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert metrics == {"mae": 0.25, "rmse": 0.5, "r2": pytest.approx(0.8)}
    assert regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])["r2"] == pytest.approx(0.0)


def test_unknown_regression_loss_says_which_exist():
    with pytest.raises(ConfigError, match="mse, huber"):
        TrainConfig(regression_loss="l1")


FUSED = sorted(n for n in FUSIONS.names() if not FUSIONS.get(n).per_modality_baseline)
REGRESSING = [n for n in FUSED if not FUSIONS.get(n).no_regression]


@pytest.mark.parametrize("method", REGRESSING)
def test_every_fusion_method_predicts_one_number(method):
    data = product_data(n=64)
    model = build_model(data.input_specs(), 0, ModelConfig(fusion=method), task="regression")
    inputs = {name: m.values[:8] for name, m in data.modalities.items()}
    masks = {name: m.present[:8].clone() for name, m in data.modalities.items()}
    masks["B"][:4] = False
    out = model(inputs, masks)
    assert out.shape == (8, 1) and torch.isfinite(out).all()


@pytest.mark.parametrize("method", REGRESSING)
def test_regression_loss_falls_and_reaches_every_encoder(method):
    """A few full-batch steps of the training objective (MSE on the standardised target, plus the
    per-modality heads' own losses) lower it, and the first step's gradient reaches every encoder."""
    from fusion_core.training import DeviceTensors, loss_function

    data = product_data(n=128)
    torch.manual_seed(0)
    model = build_model(
        data.input_specs(), 0, ModelConfig(fusion=method, embedding_dim=16), task="regression"
    ).train()
    tensors = DeviceTensors.from_prepared(data, torch.device("cpu"))
    inputs, masks = tensors.take(data.splits.train)
    targets = tensors.labels[data.splits.train]
    loss_fn = loss_function("regression", TrainConfig(), None)
    leaves = {n: x.clone().requires_grad_(True) for n, x in inputs.items()}
    model.fusion.training_loss(model(leaves, masks, details=True), targets, loss_fn).backward()
    assert all(leaves[n].grad.abs().sum() > 0 for n in leaves), "an input gets no gradient"
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(25):
        optimizer.zero_grad()
        output = model(inputs, masks, details=True)
        loss = model.fusion.training_loss(output, targets, loss_fn)
        loss.backward()
        if step == 0:
            for name, encoder in model.encoders.items():
                grads = [p.grad for p in encoder.parameters() if p.grad is not None]
                if encoder.name != "flatten":  # early fusion's pass-through encoder has nothing to learn
                    assert grads and any(g.abs().sum() > 0 for g in grads), f"no gradient reached {name}"
        optimizer.step()
        losses.append(loss.item())
    assert output.logits.shape == (len(targets), 1)
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("method", [n for n in FUSED if FUSIONS.get(n).no_regression])
def test_a_method_that_cannot_regress_says_why_and_compare_skips_it(method):
    from fusion_core.config import ExperimentConfig
    from fusion_core.experiment import run_one

    data = product_data(n=64)
    with pytest.raises(
        ConfigError, match=f"fusion '{method}' cannot predict a number: .*pick another method"
    ):
        build_model(data.input_specs(), 0, ModelConfig(fusion=method), task="regression")
    config = ExperimentConfig(model=ModelConfig(fusion=method), train=TrainConfig(epochs=1, device="cpu"))
    problem = run_one(config, data)
    assert problem.status == "skipped" and "cannot predict a number" in problem.reason
    # the app's menus leave it out for a number; compare keeps it, to say why it skips it
    from fusion_core.fusion import available_methods

    assert method in available_methods(["A", "B"]) and method not in available_methods(
        ["A", "B"], "regression"
    )


def _r2(method: str, data: PreparedData, loss: str = "mse") -> float:
    model = build_model(
        data.input_specs(), 0, ModelConfig(fusion=method, embedding_dim=32), task="regression"
    )
    train = TrainConfig(
        epochs=40, batch_size=64, lr=1e-2, seed=0, device="cpu", patience=8, regression_loss=loss
    )
    result = fit(model, data, train)
    assert result.history[-1].val_r2 is not None
    _, values = predict(model, data, data.splits.test, device="cpu")
    return regression_metrics(data.labels[data.splits.test].numpy(), values)["r2"]


@pytest.mark.slow
def test_product_of_two_modalities_needs_a_method_that_multiplies():
    data = product_data()
    r2 = {m: _r2(m, data) for m in ("concat", "tensor", "late", "only:A", "only:B")}
    print(r2)
    assert r2["concat"] >= 0.9 and r2["tensor"] >= 0.9, r2
    assert r2["late"] < 0.3 and r2["only:A"] < 0.3 and r2["only:B"] < 0.3, r2


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in REGRESSING if m not in ("concat", "tensor", "late")])
def test_a_method_learns_the_product_exactly_when_it_says_it_learns_interactions(method):
    """The product is an interaction: methods that declare they learn one fit it, the others cannot.
    (The experts' gate reads every modality, so it fits a little of it: below 0.5, not near 0.)"""
    r2 = _r2(method, product_data())
    if FUSIONS.get(method).learns_interactions:
        assert r2 >= 0.9, r2
    else:
        assert r2 < 0.5, r2


def test_predictions_come_back_in_the_targets_units_with_huber_loss():
    data = product_data(n=600)
    mean, std = data.target_scale()
    assert mean == pytest.approx(float(data.labels[data.splits.train].mean()), rel=1e-4) and std > 10
    model = build_model(
        data.input_specs(), 0, ModelConfig(fusion="tensor", embedding_dim=16), task="regression"
    )
    fit(model, data, TrainConfig(epochs=15, batch_size=64, lr=1e-2, device="cpu", regression_loss="huber"))
    _, values = predict(model, data, data.splits.test, device="cpu")
    truth = data.labels[data.splits.test].numpy()
    metrics = regression_metrics(truth, values)
    assert metrics["r2"] > 0.5 and abs(values.mean() - truth.mean()) < 0.3 * truth.std()


def _product_bundle(folder, n: int = 240, task: str | None = None, rounded: bool = False):
    """A folder bundle: two tabular modalities, a product target with many distinct values."""
    import json

    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "a_x": a,
            "a_noise": rng.normal(size=n),
            "b_x": b,
            "label": np.clip(np.round(3 * a * b), -2, 2).astype(int) if rounded else 5 * a * b,
        }
    )
    table.to_csv(folder / "manifest.csv", index=False)
    schema = {
        "modalities": {
            "A": {"type": "tabular", "columns": ["a_x", "a_noise"]},
            "B": {"type": "tabular", "columns": ["b_x"]},
        }
    }
    if task:
        schema["task"] = task
    (folder / "schema.json").write_text(json.dumps(schema))
    return folder


def test_a_bundle_with_a_numeric_target_trains_as_regression_end_to_end(tmp_path):
    from fusion_core.config import DataConfig, ExperimentConfig
    from fusion_core.data import load_dataset
    from fusion_core.experiment import run_experiment
    from fusion_core.modalities import prepare

    dataset = load_dataset(_product_bundle(tmp_path))
    assert dataset.task == "regression" and dataset.class_names == []
    prepared = prepare(dataset, DataConfig(), cache=False)
    assert prepared.task == "regression" and prepared.num_outputs == 1
    config = ExperimentConfig(
        model=ModelConfig(fusion="tensor", embedding_dim=16), train=TrainConfig(epochs=3, device="cpu")
    )
    result = run_experiment(config, prepared=prepared)
    assert result.task == "regression" and set(result.metrics) == {"mae", "rmse", "r2"}
    assert result.y_pred.dtype == np.float64 and len(result.y_pred) == len(prepared.splits.test)


def test_schema_sets_the_task_and_rejects_an_unknown_one(tmp_path):
    from fusion_core.data import load_dataset
    from fusion_core.data.schema import with_schema
    from fusion_core.errors import DataError

    # 5 distinct whole numbers: a regression target by inference only from 20 values on
    chosen = load_dataset(_product_bundle(tmp_path, task="classification", rounded=True))
    assert chosen.task == "classification" and len(chosen.class_names) == 5
    assert with_schema(chosen, task="regression").task == "regression"  # the user's change in the report
    (tmp_path / "schema.json").write_text('{"task": "ranking"}')
    with pytest.raises(DataError, match="classification, regression"):
        load_dataset(tmp_path)


def test_regression_figures_draw_the_values_they_are_given():
    from fusion_core import plots

    truth, predicted = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])
    scatter = plots.predicted_vs_true_figure(truth, predicted)
    assert list(scatter.data[0].x) == [1.0, 2.0, 3.0] and scatter.layout.shapes[0].x1 == 3.0
    residuals = plots.residuals_figure(truth, predicted)
    assert list(residuals.data[0].y) == [-0.5, 0.0, 1.0]
    bars = plots.subset_error_figure({"A + B": 0.2, "A": 1.0, "B": 0.9, "none": 1.1})
    assert list(bars.data[0].y) == [0.2, 1.0, 0.9, 1.1] and bars.data[0].marker.color[0] == plots.FUSION_COLOR


def test_a_saved_regression_run_predicts_values_in_the_targets_units(tmp_path):
    from fusion_core.config import DataConfig, ExperimentConfig
    from fusion_core.data import load_dataset
    from fusion_core.experiment import run_experiment
    from fusion_core.modalities import prepare
    from fusion_core.predict import predict_source
    from fusion_core.runs import RunStore

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    prepared = prepare(load_dataset(_product_bundle(bundle)), DataConfig(), cache=False)
    config = ExperimentConfig(
        model=ModelConfig(fusion="late", embedding_dim=8), train=TrainConfig(epochs=2, device="cpu")
    )
    store = RunStore(tmp_path / "runs")
    result = run_experiment(config, prepared=prepared, store=store)
    again = store.load(result.run_id)
    assert again.task == "regression" and again.metrics["r2"] == pytest.approx(result.metrics["r2"])
    np.testing.assert_allclose(again.y_pred, result.y_pred)
    predictions = predict_source(again, str(bundle))
    assert "predicted" in predictions.table and not any(c.startswith("prob_") for c in predictions.table)
    assert set(predictions.metrics) == {"mae", "rmse", "r2"}
    test = predictions.table.set_index("id").loc[result.test_ids, "predicted"].to_numpy()
    np.testing.assert_allclose(test, result.y_pred, rtol=1e-4, atol=1e-4)  # the same values, in target units


@pytest.mark.slow
def test_compare_ranks_regression_by_r2_with_sk_regressors_and_gain_over_unimodal(tmp_path):
    from fusion_core.config import DataConfig
    from fusion_core.experiment import compare, summarize

    bundle = _product_bundle(tmp_path, n=300)
    comparison = compare(
        DataConfig(source=str(bundle)),
        ["tensor", "only:A", "sk:logreg:early", "sk:gbdt:early"],
        train=TrainConfig(epochs=25, lr=1e-2, device="cpu", patience=8),
        model_template=ModelConfig(embedding_dim=16),
    )
    rows = summarize(comparison.runs)
    assert all(row["metric"] == "r2" and "macro_f1_mean" not in row for row in rows)
    r2 = {row["method"]: row["r2_mean"] for row in rows}
    assert [row["method"] for row in rows] == sorted(r2, key=r2.get, reverse=True)
    assert r2["sk:gbdt:early"] > 0.5 > r2["sk:logreg:early"]  # trees can multiply, a linear model cannot
    gains = {row["method"]: row["gain_over_best_unimodal"] for row in rows}
    assert gains["tensor"] == pytest.approx(r2["tensor"] - r2["only:A"])
    assert rows[0]["vs_best_unimodal"] is not None or rows[0]["method"] == "only:A"


@pytest.fixture(scope="module")
def regression_runs(tmp_path_factory):
    """A product bundle and two saved regression runs, one per imbalance remedy."""
    from fusion_core.config import DataConfig, ExperimentConfig
    from fusion_core.experiment import run_experiment
    from fusion_core.runs import RunStore

    folder = tmp_path_factory.mktemp("product")
    bundle = _product_bundle(folder, n=240)
    store = RunStore(folder / "runs")
    runs = {}
    for remedy in ("blend", "ogm-ge"):
        config = ExperimentConfig(
            data=DataConfig(source=str(bundle)),
            model=ModelConfig(fusion="concat", embedding_dim=16),
            train=TrainConfig(epochs=4, lr=1e-2, device="cpu", imbalance=remedy),
        )
        runs[remedy] = store.load(run_experiment(config, store=store).run_id)
    return bundle, store, runs


def test_imbalance_remedies_train_a_regression_run(regression_runs):
    _, _, runs = regression_runs
    for remedy, run in runs.items():
        assert run.task == "regression" and np.isfinite(run.metrics["rmse"]), remedy
        assert all(np.isfinite(log.train_loss) and log.val_r2 is not None for log in run.history), remedy


def test_gradient_modulation_slows_the_modality_that_predicts_the_number_better():
    from fusion_core.imbalance import GradientModulation
    from fusion_core.training import loss_function

    remedy = GradientModulation({"good": 1, "poor": 1}, 1, alpha=0.5)
    with torch.no_grad():
        for head in remedy.heads.values():
            head.weight.fill_(1.0)
            head.bias.zero_()
    targets = torch.linspace(-1, 1, 32)
    features = {"good": targets[:, None], "poor": torch.zeros(32, 1)}  # the good probe is exact
    present = {m: torch.ones(32, dtype=torch.bool) for m in features}
    remedy.loss(torch.zeros(()), features, present, targets, loss_function("regression", TrainConfig(), None))
    good, poor = remedy.coefficients.tolist()
    assert good < 1.0 and poor == pytest.approx(1.0)


def test_a_regression_run_exports_with_a_card_in_its_own_metrics_and_imports_again(regression_runs, tmp_path):
    from fusion_core.portable import MODEL_CARD, export_run, import_run, read_run_zip
    from fusion_core.runs import RunStore

    _, store, runs = regression_runs
    run = runs["blend"]
    data = export_run(store, run.run_id)
    members, again = read_run_zip(data)
    card = members[MODEL_CARD].decode()
    assert "**Task:** regression" in card and f"| R² | {run.metrics['r2']:.4f} |" in card
    assert "Confusion matrix" not in card and "macro F1" not in card
    mean, std = run.target_scale
    assert f"`logits * {std:.6g} + {mean:.6g}`" in card
    imported = RunStore(tmp_path / "other").load(import_run(RunStore(tmp_path / "other"), data))
    assert imported.task == "regression" and imported.metrics == run.metrics
    np.testing.assert_allclose(again.y_pred, run.y_pred)


def test_a_regression_run_exports_to_onnx_with_the_same_values(regression_runs, tmp_path):
    pytest.importorskip("onnxruntime", reason="install the [onnx] extra to test ONNX export")
    from fusion_core.onnx_export import export_onnx, parity_on_test_split

    _, _, runs = regression_runs
    run = runs["ogm-ge"]
    parity = parity_on_test_split(run, export_onnx(run, tmp_path / "model.onnx"))
    assert parity.rows == len(run.test_ids) and parity.max_abs_diff < 1e-4 and parity.same_predictions


def test_robustness_of_a_regression_run_is_scored_in_r2_with_its_error(regression_runs):
    from fusion_core import plots
    from fusion_core.analysis.robustness import robustness_run
    from fusion_core.cli.analysis_commands import robustness_text

    _, _, runs = regression_runs
    run = runs["blend"]
    report = robustness_run(run, adversarial=True)
    assert report["metric"] == "r2" and report["run"]["r2"] == pytest.approx(run.metrics["r2"], abs=1e-5)
    assert report["clean_score"] == pytest.approx(run.metrics["r2"], abs=1e-5)
    assert report["clean_rmse"] == pytest.approx(run.metrics["rmse"], rel=1e-4)
    missing = next(c for c in report["curves"] if (c["modality"], c["corruption"]) == ("B", "missing"))
    # hiding B from every sample leaves A, which alone says nothing about a product: R² falls, RMSE rises
    assert missing["score"][-1] < missing["score"][0] - 0.2 and missing["rmse"][-1] > missing["rmse"][0]
    assert {c["corruption"] for c in report["adversarial"]} == {"fgsm", "pgd"}
    figure = plots.robustness_figure(report, "missing")
    assert figure.layout.yaxis.title.text == "R²" and list(figure.data[1].y) == missing["score"]
    text = robustness_text(report)
    assert "clean R²" in text and "RMSE" in text and "macro-F1" not in text


def test_tuning_a_regression_method_scores_trials_by_validation_r2(tmp_path):
    from fusion_core.config import DataConfig, ExperimentConfig
    from fusion_core.data import load_dataset
    from fusion_core.modalities import prepare
    from fusion_core.plots import tuning_history_figure
    from fusion_core.tuning import tune_methods

    prepared = prepare(load_dataset(_product_bundle(tmp_path, n=200)), DataConfig(), cache=False)
    template = ExperimentConfig(model=ModelConfig(fusion="concat"), train=TrainConfig(epochs=2, device="cpu"))
    _, (study,) = tune_methods({"concat": template}, prepared, trials=2)
    assert study.metric == "r2" and study.to_dict()["metric"] == "r2" and len(study.values) == 2
    assert all(v is None or v <= 1.0 for v in study.values)
    assert tuning_history_figure([study]).layout.yaxis.title.text == "validation R²"


def test_training_evidential_fusion_on_a_number_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from fusion_core.cli import main

    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    bundle = _product_bundle(tmp_path, n=60)
    assert main(["train", "--data", str(bundle), "--fusion", "evidential", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fusion 'evidential' cannot predict a number" in err
    assert "Traceback" not in err and "pick another method" in err
