"""The Predict page and the Results page's download, repeat and import, driven through app.py with AppTest."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
from app_helpers import new_app, open_page, problems

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset
from fusion_core.experiment import run_experiment
from fusion_core.runs import RunStore


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One saved run on a two-view tabular sample, and its test split as a new manifest."""
    runs = tmp_path_factory.mktemp("runs")
    config = ExperimentConfig(
        data=DataConfig(source="cancer-views"),
        model=ModelConfig(fusion="concat"),
        train=TrainConfig(epochs=1),
    )
    run = run_experiment(config, store=RunStore(runs))
    dataset = load_dataset("cancer-views")
    position = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
    table = dataset.table.iloc[[position[s] for s in run.test_ids]].reset_index(drop=True)
    return runs, run, table


@pytest.fixture
def app_env(trained, monkeypatch, tmp_path):
    runs, run, table = trained
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(runs))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    return runs, run, table


def as_zip(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.csv", table.to_csv(index=False))
    return buffer.getvalue()


def predictions_table(at) -> pd.DataFrame:
    tables = [frame.value for frame in at.dataframe if "predicted" in frame.value.columns]
    assert len(tables) == 1, f"{len(tables)} prediction tables on the page"
    return tables[0]


def upload(at, table: pd.DataFrame, name: str = "new.zip"):
    at.file_uploader(key="predict_upload").set_value([(name, as_zip(table), "application/zip")]).run()
    return at


def test_predict_page_shows_predictions_probabilities_and_scores(app_env):
    _, run, table = app_env
    at = open_page(new_app(), "predict")
    assert problems(at) == []
    assert [t.value for t in at.title] == ["Predict"]
    upload(at, table)
    assert problems(at) == []
    shown = predictions_table(at)
    assert shown["id"].tolist() == run.test_ids
    assert shown["predicted"].tolist() == [run.class_names[i] for i in run.y_pred]
    downloads = [d for d in at.get("download_button") if d.proto.id.endswith("predict_download")]
    assert len(downloads) == 1
    assert "Accuracy" in [m.label for m in at.metric]
    # the probabilities of the chosen sample
    at.selectbox(key="predict_sample").select(run.test_ids[3]).run()
    assert problems(at) == []
    # the upload stays after leaving the page
    open_page(at, "home")
    open_page(at, "predict")
    assert predictions_table(at)["id"].tolist() == run.test_ids


def test_predict_page_marks_rows_with_a_missing_modality(app_env):
    _, run, table = app_env
    columns = run.preprocessing_state["extreme_cells"]["columns"]
    patchy = table.copy()
    patchy.loc[patchy.index % 2 == 0, columns] = None
    at = upload(open_page(new_app(), "predict"), patchy)
    assert problems(at) == []
    shown = predictions_table(at)
    assert (shown["missing"] == ["extreme_cells" if i % 2 == 0 else "" for i in range(len(shown))]).all()
    assert any("had a modality missing" in t.value for t in at.text)


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ("drop_modality", "lacks modality 'extreme_cells'"),
        ("wrong_type", "trained on numbers"),
    ],
)
def test_mismatched_new_data_shows_one_error(app_env, change, phrase):
    _, run, table = app_env
    columns = run.preprocessing_state["extreme_cells"]["columns"]
    bad = table.drop(columns=columns) if change == "drop_modality" else table.astype({columns[0]: object})
    if change == "wrong_type":
        bad.loc[2, columns[0]] = "plenty"
    at = upload(open_page(new_app(), "predict"), bad)
    assert [e.value for e in at.exception] == []
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and phrase in errors[0]


def test_results_page_offers_the_zip_and_the_repeat_command(app_env):
    _, run, _ = app_env
    at = open_page(new_app(), "results")
    assert problems(at) == []
    codes = " ".join(c.value for c in at.code)
    assert f"fusion-explorer runs show {run.run_id}" in codes and "train --config run-config.json" in codes
    ids = [d.proto.id for d in at.get("download_button")]
    assert any(i.endswith("results_export") for i in ids) and any(
        i.endswith("results_config_download") for i in ids
    )


def test_results_page_imports_a_run_zip_and_refuses_a_tampered_one(app_env, tmp_path, monkeypatch):
    runs, run, _ = app_env
    from fusion_core.portable import export_run

    good = export_run(RunStore(runs), run.run_id)
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(elsewhere))
    at = open_page(new_app(), "results")
    assert [i.value for i in at.info][0].startswith("No saved runs yet")
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as archive:
        archive.writestr("../escape.json", "{}")
    at.file_uploader(key="results_import_file").set_value(
        [("evil.zip", tampered.getvalue(), "application/zip")]
    ).run()
    at.button(key="results_import").click().run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "path outside" in errors[0]
    assert RunStore(elsewhere).list() == []
    at.file_uploader(key="results_import_file").set_value([("run.zip", good, "application/zip")]).run()
    at.button(key="results_import").click().run()
    assert problems(at) == []
    assert [row["run_id"] for row in RunStore(elsewhere).list()] == [run.run_id]
    at.run()
    assert at.selectbox(key="results_run").value == run.run_id
    open_page(at, "compare")
    assert problems(at) == []
