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


@pytest.mark.parametrize(
    "method", sorted(n for n in FUSIONS.names() if not FUSIONS.get(n).per_modality_baseline)
)
def test_every_fusion_method_predicts_one_number(method):
    data = product_data(n=64)
    model = build_model(data.input_specs(), 0, ModelConfig(fusion=method), task="regression")
    inputs = {name: m.values[:8] for name, m in data.modalities.items()}
    masks = {name: m.present[:8].clone() for name, m in data.modalities.items()}
    masks["B"][:4] = False
    out = model(inputs, masks)
    assert out.shape == (8, 1) and torch.isfinite(out).all()


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
