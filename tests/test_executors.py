"""Runs spread over a Ray cluster give the same results as in this process, and stop when asked.

Every test here shares the session's local cluster (``ray_cluster`` in conftest.py).
"""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest
from app_helpers import new_app, open_page, problems
from bundle_factory import write_bundle, zip_folder

from fusion_core.config import DataConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset
from fusion_core.data.mapped import is_mapped
from fusion_core.errors import ConfigError
from fusion_core.executors import RAY_ADDRESS_ENV, InProcessExecutor, RayExecutor, make_executor
from fusion_core.experiment import compare
from fusion_core.modalities import prepare
from fusion_core.modalities.pipeline import MAPPED_BYTES_ENV, clear_memory_cache
from fusion_core.runs import RunStore
from fusion_core.tuning import list_studies, storage_url
from ui import state

pytestmark = pytest.mark.slow
METHODS = ["concat", "late"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return str(write_bundle(tmp_path_factory.mktemp("ray-data"), n=40, modalities=("tabular", "text")))


def test_executor_is_chosen_by_name_or_by_the_cluster_address(monkeypatch):
    monkeypatch.delenv(RAY_ADDRESS_ENV, raising=False)
    assert isinstance(make_executor(), InProcessExecutor)
    with pytest.raises(ConfigError, match="choose one of: inprocess, ray"):
        make_executor("threads")


def test_a_compare_on_ray_gives_the_same_runs_as_in_process(ray_cluster, bundle, tmp_path):
    """2 methods x 3 seeds: every run's metrics equal the in-process run with the same method and seed."""
    train = TrainConfig(epochs=3, batch_size=16, device="cpu")
    template = ModelConfig(embedding_dim=8)
    here = compare(DataConfig(source=bundle), METHODS, seeds=3, train=train, model_template=template)
    store = RunStore(tmp_path / "runs", workspace="lab")
    epochs_seen = []
    remote = compare(
        DataConfig(source=bundle),
        METHODS,
        seeds=3,
        train=train,
        model_template=template,
        store=store,
        on_epoch=epochs_seen.append,
        executor=RayExecutor(),
    )
    assert [(r.method, r.seed) for r in remote.runs] == [(r.method, r.seed) for r in here.runs]
    assert len(remote.runs) == 6
    for mine, theirs in zip(here.runs, remote.runs, strict=True):
        for name in ("macro_f1", "accuracy", "weighted_f1", "roc_auc"):
            assert theirs.metrics[name] == pytest.approx(mine.metrics[name], abs=1e-6), (theirs.label, name)
        assert theirs.y_pred.tolist() == mine.y_pred.tolist()
        assert np.allclose(theirs.probabilities, mine.probabilities, atol=1e-5)
    # the driver saved every run in its store's workspace, and the epochs came back live as they were trained
    assert sorted(row["run_id"] for row in store.list()) == sorted(r.run_id for r in remote.runs)
    assert RunStore(tmp_path / "runs", workspace="other").list() == []
    assert store.list(status="running") == []
    assert len(epochs_seen) == sum(r.epochs_run for r in remote.runs)


def _cpus_free(ray) -> float:
    return ray.available_resources().get("CPU", 0.0)


def test_stopping_a_comparison_the_app_sent_to_ray_cancels_its_tasks(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv(RAY_ADDRESS_ENV, "auto")  # the app trains on the cluster this process is connected to
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    bundle = zip_folder(write_bundle(tmp_path, n=40, modalities=("tabular", "text"), name="notes"))
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(
        [("notes.zip", bundle.read_bytes(), "application/zip")]
    ).run()
    open_page(at, "train")
    for key, value in {
        "train_epochs": 1000,
        "train_patience": 500,
        "train_batch_size": 4,
        "train_seeds": 3,
    }.items():
        at.number_input(key=key).set_value(value).run()
    at.multiselect(key="train_compare_methods").set_value(METHODS).run()
    at.button(key="train_compare").click().run()
    assert problems(at) == []
    job = at.session_state[state.JOB]
    deadline = time.monotonic() + 60
    while not job.view().history and time.monotonic() < deadline:  # live curves arrive from the workers
        time.sleep(0.2)
    assert job.view().history, "no epoch reached the app from the Ray task"
    assert _cpus_free(ray_cluster) < 2  # the cluster is busy with the job's tasks
    store = RunStore(tmp_path / "runs", workspace=at.session_state[state.WORKSPACE])
    assert len(store.list(status="running")) == 1  # the run the app waits for is listed as running
    at.run()
    stop = [b for b in at.button if b.label == "Stop"]
    assert stop, "the running job shows a Stop button"
    stop[0].click().run()
    job.wait(30)
    view = job.view()
    assert not view.running and view.stopped_by_user and view.error is None
    assert view.runs_done < 6
    deadline = time.monotonic() + 30
    while _cpus_free(ray_cluster) < 2 and time.monotonic() < deadline:  # the remote tasks were cancelled
        time.sleep(0.2)
    assert _cpus_free(ray_cluster) == 2
    assert store.list(status="running") == [] and store.list(status="interrupted") == []
    at.run()
    assert problems(at) == []


def test_tuning_on_ray_uses_ray_tune_with_the_optuna_searcher(ray_cluster, bundle, tmp_path):
    trials = []
    comparison = compare(
        DataConfig(source=bundle),
        ["concat"],
        train=TrainConfig(epochs=2, batch_size=16, device="cpu"),
        model_template=ModelConfig(embedding_dim=8),
        tune=2,
        store=RunStore(tmp_path / "runs"),
        on_trial=lambda method, number, value: trials.append((method, number)),
        executor=RayExecutor(),
    )
    [study] = comparison.studies
    assert len(study.values) == 2 and all(v is not None for v in study.values)
    # the same search space as in-process tuning; the first trial is the untuned setting
    assert set(study.best_params) == {
        "lr",
        "weight_decay",
        "width",
        "dropout",
        "layers",
        "schedule",
        "patience",
    }
    [first, *_] = optuna.load_study(
        study_name=study.study_name, storage=storage_url(tmp_path / "runs")
    ).trials
    assert first.params["lr"] == pytest.approx(TrainConfig().lr) and first.params["schedule"] == "plateau"
    assert trials == [("concat", 0), ("concat", 1)]
    [run] = comparison.runs
    assert run.label.endswith("tuned") and run.config.train.lr == pytest.approx(study.best_params["lr"])
    # the study is kept beside the runs, as in-process tuning keeps it
    assert [s.study_name for s in list_studies(tmp_path / "runs")] == [study.study_name]


def test_memory_mapped_data_reaches_ray_workers_by_path_and_trains_the_same(
    ray_cluster, bundle, tmp_path, monkeypatch
):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(MAPPED_BYTES_ENV, "1000")  # everything counts as large
    config = DataConfig(source=bundle)
    clear_memory_cache()  # earlier tests left this data in memory
    prepared = prepare(load_dataset(bundle), config)
    assert all(is_mapped(m.values) for m in prepared.modalities.values())
    executor = RayExecutor()
    sent, paths, _ = ray_cluster.get(executor.share(prepared))
    assert set(paths) == set(prepared.modalities)  # the object store holds paths, not the values
    assert all(m.values.numel() == 0 for m in sent.modalities.values())

    train = TrainConfig(epochs=2, batch_size=16, device="cpu")
    template = ModelConfig(embedding_dim=8)
    here = compare(config, ["concat"], train=train, model_template=template)
    remote = compare(config, ["concat"], train=train, model_template=template, executor=executor)
    assert remote.runs[0].y_pred.tolist() == here.runs[0].y_pred.tolist()
    assert remote.runs[0].metrics["macro_f1"] == pytest.approx(here.runs[0].metrics["macro_f1"], abs=1e-6)
