"""Feature vectors per modality type and the classical sk: baselines built on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from app_helpers import new_app, open_page, plotly_spec, problems
from bundle_factory import write_bundle
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from fusion_core import plots
from fusion_core.analysis.report import analyze_run
from fusion_core.baselines import (
    BASELINE_CHOICES,
    baseline_methods,
    extract_features,
    parse_baseline,
    run_baseline,
)
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset, make_splits
from fusion_core.data.types import Dataset, ModalitySpec, Splits
from fusion_core.errors import ConfigError
from fusion_core.experiment import compare, predict_dataset, resolve_methods
from fusion_core.fusion import available_methods
from fusion_core.modalities import MODALITIES, prepare
from fusion_core.modalities.series import series_statistics
from fusion_core.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]


def variance_series_dataset(root: Path, n: int = 240, seed: int = 0) -> Dataset:
    """Two-channel series of 60-400 steps whose class lives only in the spread of channel 0.

    Every series has mean zero in expectation whatever its class, so per-channel
    means carry nothing; some files end in NaN padding.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 3
        steps = int(rng.integers(60, 400))
        values = np.stack(
            [rng.normal(0, (0.5, 1.5, 3.0)[label], steps), rng.normal(0, 1.0, steps)], axis=1
        ).astype(np.float32)
        if i % 4 == 0:
            values = np.concatenate([values, np.full((25, 2), np.nan, np.float32)])
        np.save(root / f"s{i}.npy", values)
        rows.append({"id": f"s{i}", "label": f"c{label}", "signal": f"s{i}.npy"})
    return Dataset(
        name="variance",
        root=root,
        table=pd.DataFrame(rows),
        id_column="id",
        target="label",
        modalities={"signal": ModalitySpec("signal", "series", ["signal"])},
        content_hash=f"variance-{seed}-{n}",
    )


def test_series_statistics_solve_a_class_that_lives_in_the_variance(tmp_path):
    dataset = variance_series_dataset(tmp_path)
    config = ExperimentConfig(
        data=DataConfig(source="unused"), model=ModelConfig(fusion="sk:logreg:only:signal")
    )
    result = run_baseline(config, dataset=dataset)
    assert result.metrics["macro_f1"] >= 0.95

    # the raw per-channel means, which is all a "mean of the signal" view sees, stay near chance (1/3)
    labels = dataset.label_indices().numpy()
    splits = make_splits(labels, seed=0)
    means = np.stack([np.nanmean(np.load(tmp_path / path), axis=0) for path in dataset.table["signal"]])
    train, test = splits.train.numpy(), splits.test.numpy()
    raw = LogisticRegression(max_iter=1000).fit(means[train], labels[train]).predict(means[test])
    assert f1_score(labels[test], raw, average="macro") < 0.6


def test_series_statistics_use_the_whole_series_and_skip_nan_padding():
    steps = np.arange(1000, dtype=np.float64)
    series = np.stack([np.sin(steps / 3.0), np.full(1000, 2.0)], axis=1)
    padded = np.concatenate([series, np.full((500, 2), np.nan)])
    assert np.allclose(series_statistics(padded), series_statistics(series))
    stats = series_statistics(series)
    per_channel = (stats.size - 1) // 3  # two channels and their magnitude
    constant = stats[per_channel : 2 * per_channel]
    assert constant[0] == pytest.approx(2.0) and constant[1] == pytest.approx(0.0)  # mean, std
    assert stats[-1] == pytest.approx(np.log(1000))


@pytest.fixture
def every_type(tmp_path):
    return load_dataset(str(write_bundle(tmp_path, n=45, absent=4)))


def test_every_registered_type_has_a_feature_vector(every_type):
    splits = make_splits(every_type.label_indices(), seed=0)
    features = extract_features(every_type, {}, splits)
    assert {spec.type for spec in every_type.modalities.values()} == set(MODALITIES.names())
    for name, matrix in features.matrices.items():
        assert matrix.values.shape[0] == len(every_type) and matrix.values.shape[1] == len(matrix.names)
        assert matrix.present.dtype == bool
        assert json.loads(json.dumps(features.state[name])) == features.state[name]  # plain JSON
    assert features.matrices["note"].sparse  # TF-IDF stays sparse
    assert not features.matrices["image"].present[-4:].any()
    dense = features.matrices["series"].values
    train = splits.train.numpy()
    present = features.matrices["series"].present[train]
    assert np.allclose(dense[train][present].mean(axis=0), 0.0, atol=1e-6)  # scaled with training statistics


def test_features_are_fitted_on_the_training_rows_only(every_type):
    splits = make_splits(every_type.label_indices(), seed=0)
    outside = np.setdiff1d(np.arange(len(every_type)), splits.train.numpy())
    changed_table = every_type.table.copy()
    changed_table.loc[outside, "age"] = 1e9
    changed_table.loc[outside, "note"] = "zebra quantum zebra quantum"
    for row in outside:  # every held-out series becomes huge
        relative = every_type.table.loc[row, "series"]
        if isinstance(relative, str) and relative:
            path = every_type.root / relative
            np.save(path.with_name(f"big-{path.name}"), np.load(path) * 1e6)
            changed_table.loc[row, "series"] = f"series/big-{path.name}"
    changed = Dataset(
        name=every_type.name,
        root=every_type.root,
        table=changed_table,
        id_column=every_type.id_column,
        target=every_type.target,
        modalities=every_type.modalities,
        content_hash="changed",
    )
    base = extract_features(every_type, {}, splits)
    moved = extract_features(changed, {}, splits)
    for name in every_type.modalities:
        assert moved.state[name] == base.state[name], name
    assert not any("zebra" in gram for gram in moved.state["note"]["extractor"]["vocabulary"])
    train = splits.train.numpy()
    assert np.allclose(moved.matrices["series"].values[train], base.matrices["series"].values[train])


def test_features_form_feeds_an_mlp_and_reproduces_from_the_saved_state(every_type):
    options = {name: {"features": True} for name in ("image", "audio", "series", "note")}
    splits = make_splits(every_type.label_indices(), seed=0)
    prepared = prepare(every_type, DataConfig(preprocessing=options), splits=splits, cache=False)
    for name in options:
        assert prepared.modalities[name].form == "vector"
    assert prepared.modalities["note"].values.shape[1] <= 5000  # dense for a network: capped at max_vocab

    config = ExperimentConfig(
        data=DataConfig(source="unused", preprocessing=options),
        model=ModelConfig(fusion="concat"),
        train=TrainConfig(epochs=2),
    )
    from fusion_core.experiment import run_experiment

    result = run_experiment(config, prepared=prepared)
    assert {e.name for e in result.model.encoders.values()} == {"mlp"}
    probabilities, _ = predict_dataset(result, every_type)
    test = splits.test.numpy()
    assert np.allclose(probabilities[test], result.probabilities, atol=1e-5)


def test_baseline_names_and_choices():
    assert baseline_methods("none", ["a", "b"]) == []
    assert baseline_methods("logreg", ["a", "b"]) == [
        "sk:logreg:only:a",
        "sk:logreg:only:b",
        "sk:logreg:early",
        "sk:logreg:late",
    ]
    assert baseline_methods("all", ["a"]) == ["sk:logreg:only:a", "sk:gbdt:only:a"]
    assert set(BASELINE_CHOICES) == {"none", "logreg", "gbdt", "all"}
    assert parse_baseline("sk:gbdt:only:b", ["a", "b"]).modality == "b"
    with pytest.raises(
        ConfigError, match=r"unknown baseline 'sk:logreg:only:z'; choose one of: sk:logreg:only:a"
    ):
        parse_baseline("sk:logreg:only:z", ["a", "b"])
    with pytest.raises(ConfigError, match=r"unknown baselines 'svm'; choose one of: none, logreg, gbdt, all"):
        baseline_methods("svm", ["a"])


def test_methods_all_includes_the_logreg_baselines_by_default():
    neural = available_methods(["x", "y"])
    assert resolve_methods("all", ["x", "y"]) == [*neural, *baseline_methods("logreg", ["x", "y"])]
    assert resolve_methods("all", ["x", "y"], baselines="all")[-8:] == baseline_methods("all", ["x", "y"])
    assert resolve_methods("concat", ["x", "y"]) == ["concat"]  # a list adds none unless asked
    assert resolve_methods("concat,sk:gbdt:late", ["x", "y"], baselines="logreg") == [
        "concat",
        "sk:gbdt:late",
        *baseline_methods("logreg", ["x", "y"]),
    ]


@pytest.mark.slow
def test_baselines_run_in_compare_on_the_same_splits_and_survive_the_run_store(tmp_path):
    source = str(write_bundle(tmp_path, n=60, modalities=("tabular", "series", "text")))
    store = RunStore(tmp_path / "runs")
    results = compare(
        DataConfig(source=source),
        "concat",
        seeds=2,
        train=TrainConfig(epochs=2),
        store=store,
        baselines="logreg",
    ).runs
    methods = [r.method for r in results]
    assert methods.count("concat") == 2 and methods.count("sk:logreg:late") == 2
    assert {r.method for r in results} == {
        "concat",
        *baseline_methods("logreg", ["tabular", "series", "note"]),
    }
    neural = next(r for r in results if r.method == "concat")
    for result in results:
        assert result.test_ids == neural.test_ids  # identical test rows
    assert sorted({r.seed for r in results if r.method == "sk:logreg:early"}) == [0, 1]

    late = next(r for r in results if r.method == "sk:logreg:late")
    listed = {row["run_id"]: row for row in store.list()}
    assert listed[late.run_id]["method"] == "sk:logreg:late"
    loaded = store.load(late.run_id)
    assert loaded.model is None and loaded.history == [] and loaded.stopped == "fitted"
    assert loaded.metrics == json.loads(json.dumps(late.metrics))
    np.testing.assert_allclose(loaded.probabilities, late.probabilities, atol=1e-6)
    assert loaded.test_ids == late.test_ids and (loaded.y_pred == late.y_pred).all()
    assert loaded.preprocessing_state["note"]["type"] == "text"
    assert not list((store.root / late.run_id).glob("*.pt")) and not list(
        (store.root / late.run_id).glob("*.pkl")
    )

    with pytest.raises(ConfigError, match=r"is a classical sk: baseline: it keeps its test predictions"):
        analyze_run(loaded)
    with pytest.raises(ConfigError, match=r"is a classical sk: baseline"):
        predict_dataset(loaded, load_dataset(source))


def test_late_fusion_multiplies_the_per_modality_probabilities(tmp_path):
    source = str(write_bundle(tmp_path, n=60, modalities=("tabular", "series")))
    dataset = load_dataset(source)
    rows = {}
    for method in ("sk:logreg:only:tabular", "sk:logreg:only:series", "sk:logreg:late"):
        config = ExperimentConfig(data=DataConfig(source=source), model=ModelConfig(fusion=method))
        rows[method] = run_baseline(config, dataset=dataset).probabilities.astype(np.float64)
    product = rows["sk:logreg:only:tabular"] * rows["sk:logreg:only:series"]
    np.testing.assert_allclose(
        rows["sk:logreg:late"], product / product.sum(axis=1, keepdims=True), atol=1e-5
    )


def test_an_explicit_split_is_used_as_given(tmp_path):
    dataset = variance_series_dataset(tmp_path, n=60)
    rows = torch.arange(60)
    splits = Splits(train=rows[:40], val=rows[40:45], test=rows[45:])
    config = ExperimentConfig(
        data=DataConfig(source="unused"), model=ModelConfig(fusion="sk:gbdt:only:signal")
    )
    result = run_baseline(config, dataset=dataset, splits=splits)
    assert result.test_ids == [f"s{i}" for i in range(45, 60)]


def cli(*args: str, env_runs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fusion_core", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"FUSION_EXPLORER_RUNS": str(env_runs), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


@pytest.mark.slow
def test_cli_baselines_flag_and_methods_listing(tmp_path):
    source = str(write_bundle(tmp_path, n=40, modalities=("tabular", "text")))
    runs = tmp_path / "runs"
    done = cli(
        "compare",
        "--data",
        source,
        "--methods",
        "concat",
        "--baselines",
        "logreg",
        "--epochs",
        "1",
        "--json",
        env_runs=runs,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["method"]: row for row in json.loads(done.stdout)["methods"]}
    assert set(rows) == {
        "concat",
        "sk:logreg:only:tabular",
        "sk:logreg:only:note",
        "sk:logreg:early",
        "sk:logreg:late",
    }
    assert len(RunStore(runs).list()) == 5

    bad = cli("compare", "--data", source, "--baselines", "svm", env_runs=runs)
    assert bad.returncode == 2 and "invalid choice: 'svm'" in bad.stderr and "Traceback" not in bad.stderr

    listing = cli("methods", "--json", env_runs=runs)
    names = [row["name"] for row in json.loads(listing.stdout)["baselines"]]
    assert "sk:logreg:late" in names and "sk:gbdt:only:<modality>" in names
    assert "sk:logreg:late" in cli("methods", env_runs=runs).stdout

    trained = cli("train", "--data", source, "--fusion", "sk:logreg:late", env_runs=runs)
    assert trained.returncode == 0, trained.stderr
    assert "sk:logreg:late on" in trained.stdout and "analyse it" not in trained.stdout


def test_scores_figure_draws_baselines_apart():
    rows = [
        {"method": "concat", "macro_f1": 0.9},
        {"method": "only:a", "macro_f1": 0.6},
        {"method": "sk:logreg:late", "macro_f1": 0.8},
        {"method": "sk:logreg:only:a", "macro_f1": 0.5},
    ]
    fig = plots.method_scores_figure(rows)
    neural, classical = fig.data
    assert list(neural.x) == ["concat", "only:a"] and list(classical.x) == [
        "sk:logreg:late",
        "sk:logreg:only:a",
    ]
    assert neural.legendgroup != classical.legendgroup and fig.layout.showlegend
    assert set(classical.marker.color) == {plots.SK_COLOR} and plots.SK_COLOR not in neural.marker.color
    assert fig.layout.shapes[0].y0 == pytest.approx(0.8)  # the best sk: row, as a dashed line
    markers = {t.name: t for t in plots.efficiency_figure([{**r, "params": 10} for r in rows]).data}
    assert markers["sk:logreg:late"].marker.symbol == "square"
    assert markers["sk:logreg:late"].legendgroup == plots.SK_GROUP != markers["concat"].legendgroup


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(runs))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    return runs


@pytest.mark.slow
def test_compare_and_results_pages_show_a_baseline_run(app_env, tmp_path):
    source = str(write_bundle(tmp_path, n=40, modalities=("tabular", "series")))
    results = compare(
        DataConfig(source=source),
        "concat",
        train=TrainConfig(epochs=1),
        store=RunStore(app_env),
        baselines="logreg",
    ).runs
    at = open_page(new_app(), "compare")
    at.selectbox(key="compare_dataset").set_value(results[0].dataset_name).run()
    assert problems(at) == []
    spec = plotly_spec(at, "compare_scores")
    groups = {trace["name"]: trace for trace in spec["data"]}
    assert set(groups) == {plots.NEURAL_GROUP, plots.SK_GROUP}
    assert "sk:logreg:late" in groups[plots.SK_GROUP]["x"] and "concat" in groups[plots.NEURAL_GROUP]["x"]
    assert any("classical baselines" in caption.value for caption in at.caption)

    late = next(r for r in results if r.method == "sk:logreg:late")
    open_page(at, "results")
    at.selectbox(key="results_run").set_value(late.run_id).run()
    assert problems(at) == []
    assert any("classical sk: baseline" in info.value for info in at.info)


def test_baselines_follow_the_folds_of_a_cross_validated_comparison(tmp_path):
    source = str(write_bundle(tmp_path, n=40, modalities=("tabular",)))
    results = compare(
        DataConfig(source=source), "only:tabular", folds=2, train=TrainConfig(epochs=1), baselines="logreg"
    ).runs
    for fold in (0, 1):
        neural = next(r for r in results if r.method == "only:tabular" and r.fold == fold)
        classical = next(r for r in results if r.method == "sk:logreg:only:tabular" and r.fold == fold)
        assert classical.test_ids == neural.test_ids
    assert {r.fold for r in results} == {0, 1}


def test_model_page_says_which_preprocessing_won(app_env):
    at = open_page(new_app(), "model")  # the default sample: an image and an audio modality
    assert problems(at) == []
    captions = " ".join(caption.value for caption in at.caption)
    for type_name in ("image", "audio"):
        assert MODALITIES.get(type_name).features_measured in captions
    assert "0.746 on the grid against 0.658" in captions
