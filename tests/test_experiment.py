"""Experiments and fair comparisons: identical splits and seeds for every method, and the summary."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from bundle_factory import write_views_bundle

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.errors import ConfigError
from fusion_core.experiment import compare, resolve_methods, run_experiment, summarize
from fusion_core.fusion import available_methods
from fusion_core.runs import RunStore


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """Two tabular views of 200 samples; the class needs both (2 * bit_a + bit_b)."""
    return write_views_bundle(tmp_path_factory.mktemp("data") / "views", 200, seed=1)


FAST = TrainConfig(epochs=3, lr=3e-3)


def fake_run(
    method: str, f1: float, accuracy: float = 0.5, params: int = 10, seconds: float = 1.0, seed: int = 0
):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        task="classification",
        method=method,
        metrics={"macro_f1": f1, "accuracy": accuracy},
        params=params,
        train_seconds=seconds,
        run_id=f"id-{method}-{f1}",
        seed=seed,
        fold=None,
        epochs_run=5,
        stopped="early_stopping",
        class_names=["a", "b"],
        test_ids=[str(i) for i in range(20)],
        y_true=np.arange(20) % 2,
        y_pred=rng.integers(0, 2, 20),
    )


def test_summarize_means_spread_and_gain_over_the_best_baseline():
    rows = summarize(
        [
            fake_run("concat", 0.8, accuracy=0.9, seconds=2.0),
            fake_run("concat", 0.6, accuracy=0.7, seconds=4.0, seed=1),
            fake_run("only:a", 0.5),
            fake_run("only:b", 0.55),
            fake_run("late", 0.9, params=99),
        ]
    )
    assert [row["method"] for row in rows] == ["late", "concat", "only:b", "only:a"]
    concat = rows[1]
    assert concat["runs"] == 2
    assert concat["macro_f1_mean"] == pytest.approx(0.7)
    assert concat["macro_f1_std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert concat["accuracy_mean"] == pytest.approx(0.8)
    assert concat["train_seconds_mean"] == pytest.approx(3.0)
    assert concat["gain_over_best_unimodal"] == pytest.approx(0.7 - 0.55)
    assert rows[0]["gain_over_best_unimodal"] == pytest.approx(0.9 - 0.55) and rows[0]["params"] == 99
    assert rows[0]["macro_f1_std"] == 0.0  # one run has no spread
    assert concat["run_ids"] == ["id-concat-0.8", "id-concat-0.6"]


def test_summarize_without_a_baseline_gives_no_gain():
    assert summarize([fake_run("concat", 0.8)])[0]["gain_over_best_unimodal"] is None


def test_methods_are_checked_against_the_data():
    assert resolve_methods("all", ["x", "y"], baselines="none") == available_methods(["x", "y"])
    assert resolve_methods("concat, only:x", ["x", "y"]) == ["concat", "only:x"]
    valid = ", ".join(available_methods(["x", "y"]))
    with pytest.raises(ConfigError) as caught:
        resolve_methods(["concat", "magic"], ["x", "y"])
    assert str(caught.value) == f"unknown fusion method 'magic'; choose 'all' or some of: {valid}"


def test_run_experiment_saves_when_given_a_store(bundle, tmp_path):
    store = RunStore(tmp_path / "runs")
    config = ExperimentConfig(data=DataConfig(source=bundle), model=ModelConfig(fusion="late"), train=FAST)
    result = run_experiment(config, store=store, label="first try")
    assert result.run_id is not None and result.label == "first try"
    assert store.list()[0]["run_id"] == result.run_id
    assert len(result.history) == result.epochs_run == 3


def test_compare_gives_every_method_the_same_split_and_seeds(bundle, tmp_path):
    store = RunStore(tmp_path / "runs")
    announced = []
    results = compare(
        DataConfig(source=bundle),
        ["concat", "only:clinical"],
        seeds=2,
        train=TrainConfig(epochs=3, lr=3e-3, seed=5),
        store=store,
        on_run=lambda result, index, total: announced.append((result.label, index, total)),
    ).runs
    assert [(r.method, r.seed) for r in results] == [
        ("concat", 5),
        ("concat", 6),
        ("only:clinical", 5),
        ("only:clinical", 6),
    ]
    assert all(r.test_ids == results[0].test_ids for r in results)
    assert [index for _, index, _ in announced] == [1, 2, 3, 4] and {t for *_, t in announced} == {4}
    assert announced[0][0] == "concat · seed 5"
    assert len(store.list()) == 4 and all(r.run_id for r in results)
    # two seeds of one method differ; a seed is shared across methods
    assert results[0].history[0].train_loss != results[1].history[0].train_loss

    rows = summarize(results)
    assert {row["method"] for row in rows} == {"concat", "only:clinical"}
    assert all(row["runs"] == 2 for row in rows)


def test_compare_with_folds_tests_every_sample_once(bundle):
    results = compare(DataConfig(source=bundle), ["concat", "only:genomics"], folds=3, train=FAST).runs
    assert [r.fold for r in results] == [0, 0, 1, 1, 2, 2]
    by_fold = {fold: [r.test_ids for r in results if r.fold == fold] for fold in range(3)}
    assert all(ids[0] == ids[1] for ids in by_fold.values())  # methods share each fold's split
    tested = [i for fold in range(3) for i in by_fold[fold][0]]
    assert sorted(tested) == [f"s{i:03d}" for i in range(200)]  # every sample tested exactly once
    assert results[0].label == "concat · seed 0 · fold 0"


def test_should_stop_cancels_the_queue(bundle):
    finished = []
    results = compare(
        DataConfig(source=bundle),
        ["concat", "late", "only:clinical"],
        train=FAST,
        on_run=lambda result, index, total: finished.append(result.method),
        should_stop=lambda: len(finished) >= 1,
    ).runs
    assert [r.method for r in results] == ["concat"] == finished
