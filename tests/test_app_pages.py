"""The Streamlit pages, driven with AppTest: they render, read uploads, train, and show what the store holds."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
from app_helpers import PAGES, array, metric_value, new_app, open_page, plotly_spec, problems
from bundle_factory import write_bundle, write_paired_files, zip_folder
from PIL import Image

from fusion_core.runs import RunStore
from fusion_core.samples import DEFAULT_SAMPLE, list_samples
from ui import cache, state
from ui.jobs import Job, start_job
from ui.widgets import edit_from_table, schema_table, stop_text

SAMPLES = [info.name for info in list_samples()]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One preprocessing cache for the module, so each sample is prepared once."""
    return tmp_path_factory.mktemp("fusion-cache")


@pytest.fixture
def app_env(tmp_path, monkeypatch, shared_cache):
    runs = tmp_path / "runs"
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(runs))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(shared_cache))
    return runs


def test_navigation_lists_every_page_file():
    from pathlib import Path

    import app_helpers

    root = Path(app_helpers.APP).parent
    source = app_helpers.APP.read_text()
    for page in (*PAGES, "learn", "lab"):
        assert f'"pages/{page}.py"' in source
        assert (root / "pages" / f"{page}.py").is_file(), f"pages/{page}.py is missing"


def test_sidebar_shows_dataset_and_device(app_env):
    at = new_app()
    text = " ".join(md.value for md in at.sidebar.markdown)
    assert f"**Dataset:** {DEFAULT_SAMPLE}" in text
    assert "**Device (auto):** CPU" in text or "CUDA" in text or "MPS" in text


@pytest.mark.slow
@pytest.mark.parametrize("sample", SAMPLES)
def test_every_page_renders_on_every_sample(app_env, sample):
    at = open_page(new_app(), "data")
    assert problems(at) == []
    at.selectbox(key="data_sample").select(sample).run()
    assert at.session_state[state.DATASET] == state.sample_choice(sample)
    for page in PAGES:
        open_page(at, page)
        assert problems(at) == [], f"{page} on {sample}"
    open_page(at, "data")
    assert [t.value for t in at.title] == ["Data"]
    info = next(i for i in list_samples() if i.name == sample)
    assert metric_value(at, "Samples") == str(info.samples)
    assert metric_value(at, "Modalities") == str(len(info.modalities))
    open_page(at, "model")
    params = metric_value(at, "Trainable parameters")
    assert int(params.replace(",", "")) > 1000


def test_valid_upload_shows_its_report(app_env, tmp_path):
    bundle = zip_folder(write_bundle(tmp_path, n=30, modalities=("tabular", "image", "text"), name="pets"))
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(
        [("pets.zip", bundle.read_bytes(), "application/zip")]
    ).run()
    assert problems(at) == []
    assert metric_value(at, "Samples") == "30"
    assert metric_value(at, "Classes") == "3"
    assert metric_value(at, "Modalities") == "3"
    assert at.session_state[state.DATASET].kind == "upload"
    assert at.session_state[state.DATASET].label == "pets"
    # The dataset stays after leaving the page (the widget's own value does not).
    open_page(at, "home")
    open_page(at, "data")
    assert metric_value(at, "Samples") == "30"


def test_malformed_upload_shows_an_error_not_a_traceback(app_env, tmp_path):
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("notes.txt", "no manifest here")
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(
        [("broken.zip", broken.read_bytes(), "application/zip")]
    ).run()
    assert [e.value for e in at.exception] == []
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "manifest.csv" in errors[0]
    # The previous (default) dataset is still the one in use, but its report does not stand under the
    # error as if it were the upload's; dismissing the error brings it back.
    assert at.session_state[state.DATASET] == state.default_dataset()
    assert not at.metric and not [h for h in at.header if h.value.startswith("Report")]
    at.button(key="data_upload_dismiss").click().run()
    assert problems(at) == []
    assert metric_value(at, "Samples") and [h for h in at.header if h.value.startswith("Report")]


def test_the_preview_shows_a_few_samples_of_every_class(app_env, tmp_path):
    classes = ("ant", "bee", "cow", "doe", "elk")
    bundle = write_bundle(tmp_path, n=40, modalities=("tabular", "image", "text"), classes=classes)
    at = new_app()
    at.session_state[state.DATASET] = state.DatasetChoice("upload", "five", str(bundle), "test-preview")
    open_page(at, "data")
    assert problems(at) == []
    at.session_state["data_preview_open"] = True  # the previews are built when their section is opened
    at.session_state["data_preview_tabs"] = "image (image)"
    at.run()
    captions = [t.value for t in at.text if t.value.startswith("class ") and "\n" not in t.value]
    assert captions == [f"class {name}" for name in classes]  # one row of images per class, in class order
    assert len(at.image) == len(classes)  # one strip of four thumbnails per class
    strip = Image.open(
        io.BytesIO(
            cache.thumbnail_strip(tuple(str(p) for p in sorted((bundle / "images").glob("*.png"))[:4]))
        )
    )
    assert strip.size == (4 * cache.THUMBNAIL_PX + 3 * 6, cache.THUMBNAIL_PX)
    at.session_state["data_preview_tabs"] = "note (text)"
    at.run()
    tables = [d.value for d in at.dataframe if list(d.value.columns) == ["id", "note", "label"]]
    assert sorted(tables[0]["label"]) == sorted(c for c in classes for _ in range(2))


def test_schema_correction_round_trip(app_env, tmp_path):
    from fusion_core.data import load_dataset

    dataset = load_dataset(str(write_bundle(tmp_path, n=30, modalities=("tabular", "text"))))
    table = schema_table(dataset)
    assert set(table["use as"]) == {"input", "label"}
    table.loc[table["column"] == "note", "use as"] = "not used"
    edit = edit_from_table(table)
    assert edit.target == "label"
    assert all("note" not in m["columns"] for m in edit.modalities.values())

    at = new_app()
    at.session_state[state.DATASET] = state.DatasetChoice("upload", "b", str(dataset.root), "test-schema")
    at.session_state[state.SCHEMA] = edit
    open_page(at, "data")
    assert problems(at) == []
    assert metric_value(at, "Modalities") == "1"


def test_a_failing_job_reports_its_error():
    from fusion_core.errors import ConfigError

    def fail(job):
        raise ConfigError("unknown fusion method 'x'; choose one of: concat")

    job = start_job(Job(title="bad", planned_runs=1, epochs=1), fail)
    job.wait(10)
    assert job.error == "unknown fusion method 'x'; choose one of: concat"
    assert job.details is None and job.finished is not None


@pytest.mark.slow
def wait_rerunning(at, job, seconds: float) -> None:
    """Wait for ``job`` to end without an error. The page polls the job with a fragment; AppTest
    does not tick it, so rerun while waiting, and every rerun must show no problem."""
    deadline = time.monotonic() + seconds
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert problems(at) == []
    assert not job.running and job.error is None


def test_training_shows_the_stored_run_on_results(app_env):
    at = open_page(new_app(), "train")
    assert at.session_state[state.DATASET].source == DEFAULT_SAMPLE
    at.number_input(key="train_epochs").set_value(2).run()
    at.button(key="train_start").click().run()
    assert problems(at) == []
    job = at.session_state[state.JOB]
    assert job is not None and job.planned_runs == 1
    wait_rerunning(at, job, 60)
    assert len(job.history) == 0 and len(job.results) == 1
    at.run()
    run_id = job.run_ids[-1]

    open_page(at, "results")
    assert problems(at) == []
    stored = RunStore(app_env).load(run_id)
    assert stored.epochs_run == 2 and len(stored.history) == 2
    figure = plotly_spec(at, "results_confusion")
    heat = figure["data"][0]
    assert array(heat["z"]).astype(int).tolist() == stored.metrics["confusion_matrix"]
    assert list(array(heat["x"])) == stored.class_names
    assert metric_value(at, "Macro-F1") == f"{stored.metrics['macro_f1']:.3f}"
    assert metric_value(at, "Accuracy") == f"{stored.metrics['accuracy']:.3f}"

    at.toggle(key="results_cm_normalize").set_value(True).run()
    rows = array(plotly_spec(at, "results_confusion")["data"][0]["z"]).astype(float)
    assert np.allclose(rows.sum(axis=1)[np.asarray(stored.metrics["confusion_matrix"]).sum(axis=1) > 0], 1.0)

    open_page(at, "compare")
    assert problems(at) == []
    scores = plotly_spec(at, "compare_scores")["data"][0]
    assert list(array(scores["x"])) == [stored.method]
    assert array(scores["y"])[0] == pytest.approx(stored.metrics["macro_f1"])

    # Rename, then delete with a confirmation step.
    at.text_input(key="compare_rename_label").set_value("my first concat").run()
    at.button(key="compare_rename").click().run()
    assert problems(at) == []
    assert RunStore(app_env).list()[0]["label"] == "my first concat"
    at.multiselect(key="compare_delete_runs").set_value([run_id]).run()
    at.button(key="compare_delete").click().run()
    assert RunStore(app_env).list() != []  # nothing happens before the confirmation
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="compare_delete_yes").click().run()
    assert problems(at) == []
    assert RunStore(app_env).list() == []
    assert any("No saved runs yet" in i.value for i in at.info)


@pytest.mark.slow
def test_paired_files_with_a_correction_train_and_compare_from_one_bundle(app_env, tmp_path):
    from fusion_core.data import load_dataset

    paths = write_paired_files(tmp_path, n=40, media=("image",))
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(
        [(p.name, p.read_bytes(), "application/octet-stream") for p in paths]
    )
    at.run()
    assert problems(at) == []
    dataset = at.session_state[state.DATASET]
    assert isinstance(dataset.source, tuple) and metric_value(at, "Modalities") == "3"

    # Leave the notes out, as the Data page's editor would.
    at.session_state[state.SCHEMA] = state.SchemaEdit(
        modalities={
            "clinical": {"type": "tabular", "columns": ["age", "bmi", "smoker"]},
            "scans": {"type": "image", "columns": ["scans"]},
        },
        target="label",
    )
    open_page(at, "data")
    assert problems(at) == [] and metric_value(at, "Modalities") == "2"

    open_page(at, "train")
    at.number_input(key="train_epochs").set_value(2).run()
    queue = at.multiselect(key="train_compare_methods").value
    assert queue == ["only:clinical", "only:scans", "concat", "late"]
    at.button(key="train_compare").click().run()
    assert problems(at) == []
    job = at.session_state[state.JOB]
    job.wait(60)
    assert job.error is None and len(job.results) == 4

    saved = RunStore(app_env).list()
    assert sorted(row["method"] for row in saved) == sorted(queue)
    assert {row["dataset"] for row in saved} == {f"{dataset.label}-edited"}
    run = RunStore(app_env).load(saved[0]["run_id"])
    again = load_dataset(run.config.data.source)  # the saved source alone reproduces the corrected data
    assert set(again.modalities) == {"clinical", "scans"} and len(again) == 40


def test_a_tuned_comparison_runs_from_the_train_page_and_shows_its_study(app_env, tmp_path):
    bundle = zip_folder(write_bundle(tmp_path, n=60, modalities=("tabular", "text"), name="notes"))
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(
        [("notes.zip", bundle.read_bytes(), "application/zip")]
    ).run()
    assert problems(at) == []

    open_page(at, "train")
    assert any("Budget rule, the same for every method" in c.value for c in at.caption)
    at.number_input(key="train_epochs").set_value(2).run()
    at.multiselect(key="train_compare_methods").set_value(["only:tabular", "concat"]).run()
    at.toggle(key="train_tune").set_value(True).run()
    at.number_input(key="train_tune_trials").set_value(3).run()
    at.button(key="train_compare").click().run()
    assert problems(at) == []
    job = at.session_state[state.JOB]
    job.wait(120)
    assert job.error is None and job.trials == 3
    assert [s.method for s in job.studies] == ["only:tabular", "concat"]
    assert all(len(s.values) == 3 for s in job.studies)
    assert len(job.results) == 2 and all(r.label.endswith("tuned") for r in job.results)
    at.run()
    assert problems(at) == []
    history = plotly_spec(at, "train_monitor_tuning")
    assert [trace["name"] for trace in history["data"] if trace.get("showlegend", True) is not False] == [
        "only:tabular",
        "concat",
    ]
    finished = next(frame.value for frame in at.dataframe if "ended because" in frame.value.columns)
    assert list(finished["ended because"]) == [stop_text(r) for r in job.results]
    assert all(text.startswith("Ran all 2 epochs") for text in finished["ended because"])

    open_page(at, "compare")
    assert problems(at) == []
    tuning = plotly_spec(at, "compare_tuning")
    assert len(tuning["data"]) == 4  # best so far and each trial, per method
    assert any("best single modality" in i.value or "Within noise" in i.value for i in at.info)


def test_job_progress_expects_early_stopping_not_the_epoch_cap():
    from fusion_core.training import EpochLog

    job = Job(title="one", planned_runs=1, epochs=60, patience=4)
    for epoch, f1 in enumerate([0.5, 0.6, 0.7, 0.7, 0.65], 1):
        job.on_epoch(EpochLog(epoch, 1.0, 1.0 - f1, f1, f1, {}, float(epoch)))
    # best at epoch 3 (ties go to the lower loss): without a gain, training ends at epoch 3 + 4
    assert job.expected_epochs() == 7
    assert job.fraction() == pytest.approx(5 / 7)
    assert Job(title="capped", planned_runs=1, epochs=10).expected_epochs() == 10


def test_imbalance_remedies_are_gathered_on_the_train_page(app_env):
    at = open_page(new_app(), "train")
    (expander,) = [e for e in at.expander if e.label == "Modality imbalance remedies"]
    assert [box.key for box in expander.selectbox] == ["train_imbalance"]
    assert at.selectbox(key="train_imbalance").options == ["none", "ogm-ge", "blend"]
    at.selectbox(key="train_imbalance").set_value("blend").run()
    at.number_input(key="train_modality_dropout").set_value(0.2).run()
    assert problems(at) == []
    chosen = at.session_state[state.TRAIN].train
    assert (chosen.imbalance, chosen.modality_dropout, chosen.ogm_alpha) == ("blend", 0.2, 0.5)


@pytest.mark.slow
def test_a_regression_sample_trains_and_shows_its_results_compare_and_predict_pages(app_env):
    at = open_page(new_app(), "home")
    assert any("a number to predict (regression)" in m.value for m in at.markdown)
    open_page(at, "data")
    at.selectbox(key="data_sample").select("greenhouse-yield").run()
    assert metric_value(at, "Task") == "regression"
    open_page(at, "train")
    at.number_input(key="train_epochs").set_value(2).run()
    at.button(key="train_start").click().run()
    assert problems(at) == []
    job = at.session_state[state.JOB]
    wait_rerunning(at, job, 90)
    at.run()
    stored = RunStore(app_env).load(job.run_ids[-1])
    assert stored.task == "regression"
    for page in ("results", "compare", "predict"):
        open_page(at, page)
        assert problems(at) == [], page
    open_page(at, "results")
    assert metric_value(at, "R²") == f"{stored.metrics['r2']:.3f}"
    scatter = plotly_spec(at, "results_scatter")
    assert len(array(scatter["data"][0]["x"])) == len(stored.y_true)
    at.toggle(key="results_robustness_measure").set_value(True).run(timeout=60)
    assert problems(at) == []
    missing = plotly_spec(at, "results_robustness_missing")
    assert missing["layout"]["yaxis"]["title"]["text"] == "R²"
    assert {trace["name"].split(" (")[0] for trace in missing["data"]} == {"soil", "climate"}

    # Predict: the test samples again, with their targets: values, scores and predicted against true.
    from fusion_core.data import load_dataset

    dataset = load_dataset(stored.config.data.source)
    position = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
    table = dataset.table.iloc[[position[s] for s in stored.test_ids]]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.csv", table.to_csv(index=False))
    open_page(at, "predict")
    at.file_uploader(key="predict_upload").set_value([("new.zip", buffer.getvalue(), "application/zip")])
    at.run()
    assert problems(at) == []
    assert metric_value(at, "R²") == f"{stored.metrics['r2']:.3f}"
    assert array(plotly_spec(at, "predict_scatter")["data"][0]["y"]) == pytest.approx(stored.y_pred, abs=1e-3)

    # A comparison from the Train page: the finished runs in R²; a classes-only method is not offered.
    open_page(at, "train")
    assert any("Train until validation R² has not improved" in c.value for c in at.caption)
    picker = at.multiselect(key="train_compare_methods")
    assert "concat" in picker.options and "evidential" not in picker.options
    picker.set_value(["only:soil", "concat"]).run()
    at.button(key="train_compare").click().run()
    assert problems(at) == []
    job = at.session_state[state.JOB]
    job.wait(90)
    assert job.error is None and len(job.results) == 2
    at.run()
    assert problems(at) == []
    (finished,) = (frame.value for frame in at.dataframe)
    assert list(finished.columns[:3]) == ["run", "R²", "RMSE"] and len(finished) == 2
    open_page(at, "model")
    (fusion,) = [box for box in at.selectbox if str(box.key).endswith(":fusion")]
    offered = [option.split(" · ")[0] for option in fusion.options]
    assert "concat" in offered and "evidential" not in offered
