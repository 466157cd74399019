"""The run registry: save, list, load, rename, delete, and predict again after loading."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bundle_factory import write_views_bundle

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset
from fusion_core.errors import ConfigError, DataError, RunNotFoundError
from fusion_core.experiment import run_experiment
from fusion_core.runs import INDEX_COLUMNS, RUNS_ENV, RunStore, predict_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    bundle = Path(write_views_bundle(tmp_path_factory.mktemp("data") / "views", 240))
    config = ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="concat"),
        train=TrainConfig(epochs=15, lr=3e-3, seed=3),
    )
    return bundle, run_experiment(config)


def test_run_result_holds_a_cpu_model_in_eval_mode_and_test_metrics(trained):
    _, result = trained
    assert result.run_id is None
    assert result.label == "concat · seed 3" and result.method == "concat" and result.seed == 3
    assert not result.model.training
    assert all(p.device.type == "cpu" for p in result.model.parameters())
    assert len(result.test_ids) == len(result.y_true) == len(result.y_pred) == result.probabilities.shape[0]
    assert result.probabilities.shape[1] == 4 and result.class_names == ["k0", "k1", "k2", "k3"]
    assert result.metrics["accuracy"] == pytest.approx(float(np.mean(result.y_true == result.y_pred)))
    assert result.metrics["macro_f1"] > 0.5  # chance is 0.25
    assert result.params == sum(p.numel() for p in result.model.parameters())


def test_save_then_load_predicts_exactly_as_before(trained, tmp_path):
    bundle, result = trained
    store = RunStore(tmp_path / "runs")
    run_id = store.save(result)
    assert result.run_id == run_id

    folder = tmp_path / "runs" / run_id
    for name in (
        "config.json",
        "metrics.json",
        "history.json",
        "predictions.csv",
        "preprocessing_state.json",
        "model.pt",
    ):
        assert (folder / name).is_file(), name
    predictions = pd.read_csv(folder / "predictions.csv")
    assert list(predictions.columns) == [
        "id",
        "true",
        "predicted",
        "prob_k0",
        "prob_k1",
        "prob_k2",
        "prob_k3",
    ]

    loaded = store.load(run_id)
    assert loaded.run_id == run_id and loaded.label == result.label
    assert loaded.config == result.config
    assert loaded.metrics == result.metrics
    assert loaded.history == result.history
    assert loaded.test_ids == result.test_ids
    np.testing.assert_array_equal(loaded.y_true, result.y_true)
    np.testing.assert_array_equal(loaded.y_pred, result.y_pred)
    np.testing.assert_array_equal(loaded.probabilities, result.probabilities)
    for key, value in result.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value, rtol=0, atol=0)

    # the reloaded model, fed freshly loaded raw data through the saved preprocessing,
    # gives the same test predictions as the model that was trained
    dataset = load_dataset(str(bundle))
    probabilities, predicted = predict_dataset(loaded, dataset)
    rows = [dataset.ids.index(i) for i in result.test_ids]
    np.testing.assert_array_equal(predicted[rows], result.y_pred)
    np.testing.assert_allclose(probabilities[rows], result.probabilities, rtol=1e-6, atol=1e-7)


def test_index_lists_newest_first_and_filters_by_dataset(trained, tmp_path):
    _, result = trained
    store = RunStore(tmp_path / "runs")
    assert store.list() == []
    first = store.save(result)
    second = store.save(result)
    rows = store.list()
    assert [row["run_id"] for row in rows] == [second, first]
    assert set(rows[0]) == set(INDEX_COLUMNS)
    assert rows[0]["macro_f1"] == pytest.approx(result.metrics["macro_f1"])
    assert rows[0]["method"] == "concat" and rows[0]["seed"] == 3 and rows[0]["fold"] is None
    assert store.list(dataset=result.dataset_name) == rows
    assert store.list(dataset="something else") == []
    with sqlite3.connect(tmp_path / "runs" / "index.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)


def test_rename_and_delete(trained, tmp_path):
    _, result = trained
    store = RunStore(tmp_path / "runs")
    run_id = store.save(result)
    store.rename(run_id, "my best model")
    assert store.list()[0]["label"] == "my best model"
    assert store.load(run_id).label == "my best model"
    store.delete(run_id)
    assert store.list() == []
    assert not (tmp_path / "runs" / run_id).exists()


@pytest.mark.parametrize("run_id", ["nope", "../etc", ""])
def test_unknown_run_ids_say_where_to_find_the_real_ones(tmp_path, run_id):
    store = RunStore(tmp_path / "runs")
    expected = f"no run {run_id!r}; see 'fusion-explorer runs' for the saved run ids"
    for action in (store.load, store.delete, lambda r: store.rename(r, "x")):
        with pytest.raises(RunNotFoundError) as caught:
            action(run_id)
        assert str(caught.value) == expected


def test_root_comes_from_argument_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "from-env"))
    assert RunStore().root == tmp_path / "from-env"
    assert RunStore(tmp_path / "given").root == tmp_path / "given"
    monkeypatch.delenv(RUNS_ENV)
    assert str(RunStore().root) == "runs"


def test_saved_config_records_every_option_with_its_default(trained, tmp_path):
    run_id = RunStore(tmp_path).save(trained[1])
    saved = json.loads((tmp_path / run_id / "config.json").read_text())["model"]

    for name, encoder in saved["encoders"].items():
        assert "out_dim" in encoder["options"], name
    assert saved["fusion_options"] == {"absent": "zeros", "hidden": 64, "dropout": 0.1}


def test_weights_that_no_longer_fit_the_model_give_a_clear_error(trained, tmp_path):
    store = RunStore(tmp_path)
    run_id = store.save(trained[1])
    config_path = tmp_path / run_id / "config.json"
    config = json.loads(config_path.read_text())
    for encoder in config["model"]["encoders"].values():
        encoder["options"]["out_dim"] = 8  # as if a default had changed since the run was saved
    config_path.write_text(json.dumps(config))

    with pytest.raises(RunNotFoundError, match="no longer fit its model"):
        store.load(run_id)


def test_a_runs_folder_that_is_a_file_is_refused_before_anything_is_saved(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(ConfigError) as caught:
        RunStore(tmp_path / "runs")
    assert str(caught.value) == (
        f"the runs folder {tmp_path / 'runs'} is a file; give the path of a folder for saved runs"
    )


def test_a_damaged_index_or_run_file_gives_a_clear_error(trained, tmp_path):
    _, result = trained
    store = RunStore(tmp_path / "runs")
    run_id = store.save(result)
    folder = store.folder(run_id)

    (folder / "history.json").write_text("[{")
    with pytest.raises(RunNotFoundError, match=rf"^run '{run_id}' has a damaged or missing file in "):
        store.load(run_id)
    (folder / "predictions.csv").unlink()
    with pytest.raises(RunNotFoundError, match="delete the run and train it again$"):
        store.load(run_id)

    (tmp_path / "runs" / "index.sqlite").write_text("garbage, not SQLite")
    with pytest.raises(DataError) as caught:
        store.list()
    assert str(caught.value) == (
        f"{tmp_path / 'runs' / 'index.sqlite'} is not a usable run index (file is not a database); "
        "move it aside or use another runs folder"
    )
