"""A comparison that never dies of one method, tuned comparisons, and the adaptive training budget."""

from __future__ import annotations

import json

import pytest
from bundle_factory import ALL_MODALITIES, write_bundle

from fusion_core.cli import main
from fusion_core.config import DataConfig, ModelConfig, TrainConfig
from fusion_core.errors import ConfigError
from fusion_core.experiment import RunProblem, compare, resolve_methods, run_one
from fusion_core.training import budget_rule, stop_explanation
from fusion_core.tuning import SEARCH_SPACE, list_studies

SIX_MODALITIES = {
    "demographics": {"type": "tabular", "columns": ["age"]},
    "measures": {"type": "tabular", "columns": ["size", "color"]},
    "photo": {"type": "image", "column": "image"},
    "note": {"type": "text", "column": "note"},
    "voice": {"type": "audio", "column": "audio"},
    "motion": {"type": "series", "column": "series"},
}


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    folder = write_bundle(
        tmp_path_factory.mktemp("six"), n=36, modalities=ALL_MODALITIES, schema={"modalities": SIX_MODALITIES}
    )
    return str(folder)


@pytest.mark.slow
def test_methods_all_on_six_modalities_completes_and_names_the_skipped(six, tmp_path, capsys):
    code = main(
        ["compare", "--data", six, "--methods", "all", "--epochs", "1", "--runs-dir", str(tmp_path), "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    ran = {row["method"] for row in report["methods"]}
    problems = {p["method"]: p for p in report["problems"]}
    assert problems["tensor"]["status"] == "skipped"
    assert "cannot be built for this data" in problems["tensor"]["reason"]
    assert "lowrank" in problems["tensor"]["reason"]  # the reason says what to use instead
    assert ran | set(problems) == set(resolve_methods("all", list(SIX_MODALITIES)))
    assert {"concat", "late", "early", "only:motion", "sk:logreg:late"} <= ran


def test_a_method_that_fails_while_training_is_reported_and_the_rest_run(six, monkeypatch):
    from fusion_core import experiment

    real = experiment.train_and_score

    def breaks_for_late(model, config, prepared, **kwargs):
        if config.model.fusion == "late":
            raise RuntimeError("out of memory while allocating a tensor")
        return real(model, config, prepared, **kwargs)

    monkeypatch.setattr(experiment, "train_and_score", breaks_for_late)
    seen = []
    comparison = compare(
        DataConfig(source=six),
        ["late", "only:demographics"],
        train=TrainConfig(epochs=1),
        on_problem=seen.append,
    )
    assert [r.method for r in comparison.runs] == ["only:demographics"]
    assert (
        [(p.method, p.status) for p in comparison.problems]
        == [("late", "failed")]
        == [(p.method, p.status) for p in seen]
    )
    assert "RuntimeError: out of memory" in comparison.failed[0].reason


def test_run_one_skips_a_method_that_cannot_be_built(six):
    from fusion_core.config import ExperimentConfig
    from fusion_core.data import load_dataset
    from fusion_core.modalities import prepare

    prepared = prepare(load_dataset(six), DataConfig(source=six))
    config = ExperimentConfig(data=DataConfig(source=six), model=ModelConfig(fusion="tensor"))
    outcome = run_one(config, prepared)
    assert isinstance(outcome, RunProblem) and outcome.status == "skipped"


def test_tuned_comparison_from_the_cli_stores_and_reports_its_studies(tmp_path, capsys):
    bundle = write_bundle(tmp_path, n=60, modalities=("tabular", "text"))
    args = ["compare", "--data", str(bundle), "--methods", "concat,only:tabular", "--tune", "3"]
    args += ["--epochs", "2", "--seeds", "2", "--runs-dir", str(tmp_path / "runs")]
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    studies = {study["method"]: study for study in report["tuning"]}
    assert set(studies) == {"concat", "only:tabular"}
    for study in studies.values():
        assert study["trials"] == 3 and len(study["best_so_far"]) == 3
        assert study["best_so_far"][-1] == study["best_val_macro_f1"] == max(study["val_macro_f1_by_trial"])
        assert set(study["best_params"]) == set(SEARCH_SPACE)
    assert all(row["runs"] == 2 for row in report["methods"])
    # the tuned setting is what the runs were trained with
    concat = studies["concat"]["best_params"]
    saved = list_studies(tmp_path / "runs")
    assert {s.method for s in saved} == {"concat", "only:tabular"}
    # the CLI tunes in the shared default workspace: every session sees it, as with its runs
    assert len(list_studies(tmp_path / "runs", workspace="class-a")) == 2

    from fusion_core.runs import RunStore

    store = RunStore(tmp_path / "runs")
    run = store.load(next(row for row in report["methods"] if row["method"] == "concat")["run_ids"][0])
    assert run.config.train.lr == pytest.approx(concat["lr"])
    assert run.config.model.embedding_dim == concat["width"]
    assert (run.config.train.schedule, run.config.train.patience) == (concat["schedule"], concat["patience"])
    assert run.label.endswith("tuned")

    code = main(args)  # the readable report
    out = capsys.readouterr().out
    assert code == 0 and "tuning (best validation macro-F1 so far, by trial)" in out


def test_budget_rule_and_stop_reasons_in_words():
    train = TrainConfig(epochs=50, patience=6, time_budget=30)
    rule = budget_rule(train)
    assert "has not improved for 6 epochs" in rule and "at most 50 epochs" in rule and "30 s" in rule
    assert "halved after 2 epochs without gain" in rule
    with pytest.raises(ConfigError, match="time budget must be a positive number of seconds"):
        TrainConfig(time_budget=0)
    with pytest.raises(ConfigError, match="choose one of: plateau, cosine, constant"):
        TrainConfig(schedule="step")
    with pytest.raises(ConfigError, match="half-life must be 0 \\(off\\) or a positive number of epochs"):
        TrainConfig(average_weights=-1)
    assert "a running average of the weights (half-life 0.5 epochs) is scored" in budget_rule(TrainConfig())
    assert "the best epoch's weights are kept" in budget_rule(TrainConfig(average_weights=0))
    from fusion_core.training import EpochLog

    history = [EpochLog(e, 1.0, 1.0, f1, 0.5, {}, e * 1.0) for e, f1 in enumerate([0.5, 0.7, 0.6, 0.6], 1)]
    assert stop_explanation("early_stopping", history, train) == (
        "Stopped after 4 epochs: validation macro-F1 had not improved for 2 epochs since its best, at epoch 2."
    )
    assert "time budget of 30 s ran out" in stop_explanation("time_budget", history, train)
    assert "Ran all 4 epochs" in stop_explanation("completed", history, train)


def test_configs_saved_before_the_budget_settings_load_as_they_were_trained():
    from fusion_core.config import ExperimentConfig

    old = {"train": {"epochs": 8, "patience": 4, "lr": 0.004}, "model": {"fusion": "concat"}}
    config = ExperimentConfig.from_dict(old)
    assert config.train.epochs == 8 and config.train.time_budget is None
    assert config.train.schedule == "constant"  # they trained with a fixed learning rate
    assert config.train.average_weights == 0  # and scored the weights as trained
    again = ExperimentConfig.from_dict(ExperimentConfig().to_dict())
    assert again.train.schedule == TrainConfig().schedule == "plateau"


def test_a_workspace_sees_only_its_own_tuning_studies_and_the_shared_ones(tmp_path):
    from fusion_core.runs import RunStore

    bundle = write_bundle(tmp_path, n=40, modalities=("tabular", "text"))
    for workspace in ("student-a", "student-b"):
        compare(
            DataConfig(source=str(bundle)),
            ["concat"],
            train=TrainConfig(epochs=1, device="cpu"),
            tune=1,
            store=RunStore(tmp_path / "runs", workspace=workspace),
        )
    root = tmp_path / "runs"
    assert len(list_studies(root)) == 2
    assert len(list_studies(root, workspace="student-a")) == 1
    assert len(list_studies(root, workspace="student-b")) == 1
    assert list_studies(root, workspace="someone-else") == []
