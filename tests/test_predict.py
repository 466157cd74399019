"""Predicting new data with a saved run: exact reproduction, missing modalities, mismatched data, the CLI.

Runs of three fusion families on five modality types (image, audio, text, series,
tabular) are trained once for the module; their own test split, written out as a new
bundle, must be predicted exactly as stored when the run was trained.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_factory import write_paired_files

from fusion_core.cli import main
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset, save_bundle
from fusion_core.errors import ConfigError
from fusion_core.experiment import RunResult, run_experiment
from fusion_core.modalities import prepare
from fusion_core.predict import check_predictable, predict_source
from fusion_core.runs import RunStore

pytestmark = pytest.mark.slow

# (sample, fusion method): late (decision level), attention (feature level), early (data level)
CASES = {
    "late": ("digits-audio", "late"),  # image + audio
    "attention": ("support-tickets", "attention"),  # text + tabular
    "early": ("activity-sensors", "early"),  # series + tabular
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def runs(store) -> dict[str, str]:
    ids = {}
    for key, (sample, method) in CASES.items():
        config = ExperimentConfig(
            data=DataConfig(source=sample), model=ModelConfig(fusion=method), train=TrainConfig(epochs=1)
        )
        ids[key] = run_experiment(config, store=store).run_id
    return ids


def test_split_bundle(run: RunResult, folder: Path, *, schema: bool = True) -> Path:
    """The run's test samples, in its order, written as a new bundle (labels included)."""
    dataset = load_dataset(run.config.data.source)
    position = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
    rows = [position[sample_id] for sample_id in run.test_ids]
    subset = dataclasses.replace(dataset, table=dataset.table.iloc[rows].reset_index(drop=True))
    save_bundle(subset, folder)
    if not schema:
        (folder / "schema.json").unlink()
    return folder


test_split_bundle.__test__ = False  # a helper, not a test


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", list(CASES))
def test_predict_on_the_test_split_reproduces_the_stored_predictions_exactly(
    case, store, runs, tmp_path, capsys
):
    run = store.load(runs[case])
    bundle = test_split_bundle(run, tmp_path / "new")
    out = tmp_path / "preds.csv"
    code, stdout, err = run_cli(
        capsys,
        "predict",
        "--run",
        run.run_id,
        "--data",
        str(bundle),
        "--out",
        str(out),
        "--runs-dir",
        str(store.root),
    )
    assert code == 0, err
    assert f"{len(run.test_ids)} samples predicted" in stdout
    written = pd.read_csv(out, dtype={"id": str, "predicted": str, "true": str})
    stored = pd.read_csv(store.folder(run.run_id) / "predictions.csv", dtype={"id": str, "predicted": str})
    assert written["id"].tolist() == stored["id"].tolist() == run.test_ids
    assert written["predicted"].tolist() == stored["predicted"].tolist()
    columns = [f"prob_{name}" for name in run.class_names]
    assert np.array_equal(written[columns].to_numpy(np.float32), stored[columns].to_numpy(np.float32))
    # in memory too, with the labels: the same metrics as when the run was trained
    result = predict_source(run, str(bundle))
    assert np.array_equal(result.probabilities, run.probabilities)
    assert result.metrics["macro_f1"] == run.metrics["macro_f1"]
    assert result.metrics["confusion_matrix"] == run.metrics["confusion_matrix"]
    assert result.incomplete_rows == int((result.table["missing"] != "").sum())


def test_export_import_into_an_empty_store_then_predict_gives_identical_outputs(
    store, runs, tmp_path, capsys
):
    run = store.load(runs["attention"])
    zipped, elsewhere = tmp_path / "run.zip", tmp_path / "elsewhere"
    code, _, err = run_cli(
        capsys, "export", "--run", run.run_id, "--out", str(zipped), "--runs-dir", str(store.root)
    )
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "import", str(zipped), "--runs-dir", str(elsewhere))
    assert code == 0, err
    imported = RunStore(elsewhere).list()
    assert [row["run_id"] for row in imported] == [run.run_id] and run.run_id in stdout
    bundle = test_split_bundle(run, tmp_path / "new")
    outputs = []
    for root in (store.root, elsewhere):
        code, stdout, err = run_cli(
            capsys, "predict", "--run", run.run_id, "--data", str(bundle), "--json", "--runs-dir", str(root)
        )
        assert code == 0, err
        outputs.append(json.loads(stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0]["rows"] == len(run.test_ids) and outputs[0]["metrics"] == run.metrics


def test_a_modality_missing_for_half_the_rows_is_predicted_and_marked(store, runs, tmp_path, capsys):
    run = store.load(runs["late"])  # image + audio
    bundle = test_split_bundle(run, tmp_path / "new", schema=False)
    manifest = pd.read_csv(bundle / "manifest.csv", dtype=str)
    half = np.arange(len(manifest)) % 2 == 1
    audio_column = [c for c in manifest.columns if c.startswith("audio")][0]
    manifest.loc[half, audio_column] = ""
    manifest.to_csv(bundle / "manifest.csv", index=False)
    code, stdout, err = run_cli(
        capsys, "predict", "--run", run.run_id, "--data", str(bundle), "--json", "--runs-dir", str(store.root)
    )
    assert code == 0, err
    document = json.loads(stdout)
    assert document["incomplete_rows"] == int(half.sum())
    rows = document["predictions"]
    assert [row["missing"] for row in rows] == ["audio" if h else "" for h in half]
    assert [row["present_audio"] for row in rows] == list(~half)
    assert all(row["present_image"] for row in rows)
    assert any("had a modality missing" in note for note in document["notes"])
    # the complete rows are predicted as before
    full = predict_source(run, str(test_split_bundle(run, tmp_path / "full")))
    kept = np.flatnonzero(~half)
    assert np.array_equal(
        full.probabilities[kept],
        np.array([[row[f"prob_{c}"] for c in run.class_names] for row in rows], dtype=np.float32)[kept],
    )


def test_unlabelled_new_data_is_predicted_without_metrics(store, runs, tmp_path):
    run = store.load(runs["attention"])
    bundle = test_split_bundle(run, tmp_path / "new", schema=False)
    manifest = pd.read_csv(bundle / "manifest.csv", dtype=str).drop(columns=["label"])
    manifest.head(7).to_csv(bundle / "manifest.csv", index=False)
    result = predict_source(run, str(bundle))
    assert len(result.table) == 7 and result.metrics is None and "true" not in result.table
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)


def one_error_line(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def test_data_missing_a_whole_modality_fails_with_one_line_naming_it(store, runs, tmp_path, capsys):
    run = store.load(runs["attention"])  # message (text) + account (tabular)
    bundle = test_split_bundle(run, tmp_path / "new", schema=False)
    manifest = pd.read_csv(bundle / "manifest.csv", dtype=str)
    text_columns = run.preprocessing_state["message"]["columns"]
    manifest.drop(columns=text_columns).to_csv(bundle / "manifest.csv", index=False)
    line = one_error_line(
        capsys, "predict", "--run", run.run_id, "--data", str(bundle), "--runs-dir", str(store.root)
    )
    assert "lacks modality 'message'" in line and "it expects" in line and "(text)" in line


def test_a_column_of_the_wrong_type_fails_with_one_line_naming_it(store, runs, tmp_path, capsys):
    run = store.load(runs["attention"])
    numeric = run.preprocessing_state["account"]["numeric"][0]["column"]
    bundle = test_split_bundle(run, tmp_path / "new", schema=False)
    manifest = pd.read_csv(bundle / "manifest.csv", dtype=str)
    manifest.loc[3, numeric] = "lots"
    manifest.to_csv(bundle / "manifest.csv", index=False)
    line = one_error_line(
        capsys, "predict", "--run", run.run_id, "--data", str(bundle), "--runs-dir", str(store.root)
    )
    assert f"column {numeric!r}" in line and "'lots'" in line and "trained on numbers" in line


def test_predicting_with_an_unknown_run_fails_with_one_line(store, tmp_path, capsys):
    line = one_error_line(
        capsys, "predict", "--run", "nope", "--data", str(tmp_path), "--runs-dir", str(store.root)
    )
    assert "no run 'nope'" in line


def test_a_classical_baseline_run_says_it_cannot_predict(store, runs):
    run = dataclasses.replace(store.load(runs["attention"]), method="sk:logistic", model=None)
    with pytest.raises(ConfigError, match="classical baseline"):
        check_predictable(run)


def test_per_modality_files_are_predicted_like_the_files_the_run_was_trained_on(tmp_path):
    train_files = [str(p) for p in write_paired_files(tmp_path / "train", n=48, seed=0)]
    config = ExperimentConfig(
        data=DataConfig(source="unused"), model=ModelConfig(fusion="concat"), train=TrainConfig(epochs=1)
    )
    prepared = prepare(load_dataset(train_files), config.data)
    run = run_experiment(config, prepared=prepared)
    new_files = [str(p) for p in write_paired_files(tmp_path / "new", n=12, seed=1)]
    unlabelled = Path(new_files[0])
    table = pd.read_csv(unlabelled).drop(columns=["label"])
    table.to_csv(unlabelled, index=False)
    result = predict_source(run, new_files)
    assert len(result.table) == 12 and result.metrics is None
    assert set(result.modalities) == set(run.preprocessing_state)
    assert (result.table["missing"] == "").all()
