"""Tuned comparisons: search each method's settings with Optuna before comparing.

A fair comparison gives every method the same chance. ``tune_methods`` runs one
Optuna study per method, with the same number of trials, the same sampler (TPE,
seeded) and the same training budget rule for each. A trial trains the method on
the training split with suggested settings and is scored by its best validation
score, the task's main metric (macro-F1, or R² for a regression target); the test split is never looked at. The best setting of each method is
then what ``compare`` trains on every seed and fold and scores on the test split.

What is searched (``SEARCH_SPACE``): the learning rate and weight decay (log
scale), the width (the embedding size of the encoders and the hidden units of
the fusion method's network), the dropout and depth of the fusion method, the
learning-rate schedule and the patience of early stopping. The epoch cap and the
time budget stay as the comparison sets them, the same for every method. The
first trial of every study is the untuned setting, so tuning never ends below it
on the validation split.

Why schedule and patience are searched: on the two-view table of
``bench/bench_quality.py`` (5,000 rows, 4 classes) early fusion 1024 wide (two
layers, learning rate 1e-3) reached 0.950 test macro-F1 with dropout 0.5 and a
cosine schedule run to the 60-epoch cap, and 0.947 with dropout 0.3 and cosine
with a patience of 16, against 0.938 with dropout 0.3 under the plateau rule with
a patience of 8: wide, regularised networks need a long, slowly decaying run that
the default budget (chosen for speed on every method) does not give them. With
this space, ``--tune 20`` of early and concat reached 0.949 (concat), against
0.943 with the former space (learning rate, weight decay, width, dropout), and
0.953 (concat; early 0.946) once training scored a running average of the
weights (``TrainConfig.average_weights``).

Studies are kept in Optuna's SQLite storage, ``studies.sqlite`` in the run
store's folder, one study per method and tuning session, so their history can be
shown later (``list_studies``) next to the runs they produced.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from fusion_core.config import ExperimentConfig
from fusion_core.data.types import PreparedData
from fusion_core.fusion import FUSIONS, split_method
from fusion_core.options import describe_options
from fusion_core.runs import DEFAULT_WORKSPACE

STUDIES_FILE = "studies.sqlite"
WIDTHS = (32, 64, 128, 256, 512, 1024)
DEPTHS = (1, 2, 3)
PATIENCES = (4, 8, 16, 32)
TUNED_SCHEDULES = ("plateau", "cosine")
SEARCH_SPACE = {
    "lr": "learning rate, log-uniform 1e-4 to 3e-2",
    "weight_decay": "weight decay, log-uniform 1e-6 to 1e-1",
    "width": f"embedding size and hidden units, one of {', '.join(map(str, WIDTHS))}",
    "dropout": "dropout of the fusion method's network, uniform 0 to 0.6",
    "layers": f"hidden layers of the fusion method's network (where it has that option), "
    f"one of {', '.join(map(str, DEPTHS))}",
    "schedule": f"learning-rate schedule, one of {', '.join(TUNED_SCHEDULES)}",
    "patience": f"epochs without gain before early stopping, one of {', '.join(map(str, PATIENCES))}",
}


@dataclass
class StudySummary:
    """One method's study: its best setting and the best-so-far validation score by trial (macro-F1,
    or R² when ``metric`` is ``"r2"``; the ``*_macro_f1`` keys of ``to_dict`` then hold R²)."""

    method: str
    study_name: str
    dataset: str
    session: str
    best_value: float | None
    best_params: dict[str, Any]
    values: list[float | None] = field(default_factory=list)  # per trial; None: the trial failed
    metric: str = "macro_f1"  # what the trials were scored by: the task's main metric

    @property
    def best_so_far(self) -> list[float | None]:
        best, out = -math.inf, []
        for value in self.values:
            if value is not None:
                best = max(best, value)
            out.append(None if best == -math.inf else best)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "study": self.study_name,
            "dataset": self.dataset,
            "session": self.session,
            "trials": len(self.values),
            "best_val_macro_f1": self.best_value,
            "best_params": self.best_params,
            "val_macro_f1_by_trial": self.values,
            "best_so_far": self.best_so_far,
            "metric": self.metric,
        }


def storage_url(root: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(root) / STUDIES_FILE}"


def apply_params(config: ExperimentConfig, params: Mapping[str, Any]) -> ExperimentConfig:
    """``config`` with a trial's settings: lr and weight decay, width, and the fusion's dropout."""
    fusion_cls = FUSIONS.get(split_method(config.model.fusion)[0])
    known = {info.name for info in describe_options(fusion_cls)}
    options = dict(config.model.fusion_options)
    if "width" in params and "hidden" in known:
        options["hidden"] = int(params["width"])
    if "dropout" in params and "dropout" in known:
        options["dropout"] = float(params["dropout"])
    if "layers" in params and "layers" in known:
        options["layers"] = int(params["layers"])
    model = replace(config.model, fusion_options=options)
    if "width" in params:
        model = replace(model, embedding_dim=int(params["width"]))
    train = replace(
        config.train,
        lr=float(params.get("lr", config.train.lr)),
        weight_decay=float(params.get("weight_decay", config.train.weight_decay)),
        schedule=str(params.get("schedule", config.train.schedule)),
        patience=int(params.get("patience", config.train.patience)),
    )
    return replace(config, model=model, train=train)


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        "width": trial.suggest_categorical("width", list(WIDTHS)),
        "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        "layers": trial.suggest_categorical("layers", list(DEPTHS)),
        "schedule": trial.suggest_categorical("schedule", list(TUNED_SCHEDULES)),
        "patience": trial.suggest_categorical("patience", list(PATIENCES)),
    }


def untuned_params(config: ExperimentConfig) -> dict[str, Any]:
    """``config``'s own setting as a point of the search space: the first trial of every study.

    A value outside the space (a width of 48, say) is moved to the nearest choice.
    """
    fusion_cls = FUSIONS.get(split_method(config.model.fusion)[0])
    defaults = {info.name: info.default for info in describe_options(fusion_cls)}
    options = {**defaults, **config.model.fusion_options}

    def nearest(value: float, choices: tuple) -> Any:
        return min(choices, key=lambda choice: abs(choice - value))

    return {
        "lr": min(max(config.train.lr, 1e-4), 3e-2),
        "weight_decay": min(max(config.train.weight_decay, 1e-6), 1e-1),
        "width": nearest(options.get("hidden", config.model.embedding_dim), WIDTHS),
        "dropout": min(max(float(options.get("dropout", 0.1)), 0.0), 0.6),
        "layers": nearest(int(options.get("layers", 1)), DEPTHS),
        "schedule": config.train.schedule if config.train.schedule in TUNED_SCHEDULES else "plateau",
        "patience": nearest(config.train.patience, PATIENCES),
    }


def tune_methods(
    templates: Mapping[str, ExperimentConfig],
    prepared: PreparedData,
    *,
    trials: int,
    store_root: str | os.PathLike[str] | None = None,
    workspace: str | None = None,
    on_trial: Callable[[str, int, float | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_ray: bool = False,
) -> tuple[dict[str, ExperimentConfig], list[StudySummary]]:
    """Search every method's settings for ``trials`` trials; return the tuned configs and the studies.

    ``templates`` maps each method to its untuned configuration (its seed is the
    study's seed). A method whose every trial fails keeps its template. With a
    ``store_root`` the studies are saved in ``studies.sqlite`` there, in ``workspace``
    (the shared default one when None), like the runs they lead to. ``on_ray``
    runs each study's trials as Ray Tune trials on the connected cluster, with the
    same Optuna sampler and search space as searcher (``tune_on_ray``).
    """
    from fusion_core.experiment import RunProblem, run_one

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = None
    if store_root is not None:
        Path(store_root).mkdir(parents=True, exist_ok=True)
        storage = storage_url(store_root)
    if on_ray:  # Ray Tune's Optuna searcher writes the trials into the same storage, as an object
        storage = (
            optuna.storages.InMemoryStorage() if storage is None else optuna.storages.get_storage(storage)
        )
    session = datetime.now().astimezone().isoformat(timespec="seconds")
    tuned: dict[str, ExperimentConfig] = {}
    studies: list[StudySummary] = []
    for method, template in templates.items():
        if should_stop is not None and should_stop():
            break
        study = optuna.create_study(
            storage=storage,
            study_name=f"{prepared.dataset_name} · {method} · {session} · {uuid.uuid4().hex[:8]}",  # unique: sessions may start in the same second
            direction="maximize",
            sampler=optuna.samplers.TPESampler(
                seed=template.train.seed, n_startup_trials=max(1, min(10, trials // 3))
            ),
        )
        study.set_user_attr("dataset", prepared.dataset_name)
        study.set_user_attr("method", method)
        study.set_user_attr("session", session)
        study.set_user_attr("metric", prepared.main_metric)
        study.set_user_attr("workspace", workspace or DEFAULT_WORKSPACE)
        if on_ray:
            summary = tune_on_ray(study, storage, template, prepared, trials=trials)
            studies.append(summary)
            if on_trial is not None:
                for number, value in enumerate(summary.values):
                    on_trial(method, number, value)
            tuned[method] = apply_params(template, summary.best_params) if summary.best_params else template
            continue
        study.enqueue_trial(untuned_params(template))  # the first trial is the untuned setting

        def objective(
            trial: optuna.Trial, template: ExperimentConfig = template, method: str = method
        ) -> float:
            config = apply_params(template, suggest(trial))
            outcome = run_one(config, prepared, should_stop=should_stop)
            if isinstance(outcome, RunProblem):
                trial.set_user_attr("problem", outcome.reason)
                if on_trial is not None:
                    on_trial(method, trial.number, None)
                raise optuna.TrialPruned(outcome.reason)
            value = max(log.val_score for log in outcome.history)
            if on_trial is not None:
                on_trial(method, trial.number, value)
            return value

        def stop_when_asked(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            if should_stop is not None and should_stop():
                study.stop()

        study.optimize(objective, n_trials=trials, callbacks=[stop_when_asked])
        summary = summarize_study(study)
        studies.append(summary)
        tuned[method] = apply_params(template, summary.best_params) if summary.best_params else template
    return tuned, studies


def tune_on_ray(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    template: ExperimentConfig,
    prepared: PreparedData,
    *,
    trials: int,
) -> StudySummary:
    """Run ``study``'s trials with Ray Tune on the connected cluster, Optuna's sampler choosing the settings.

    The prepared data goes into Ray's object store once (``tune.with_parameters``); each trial
    is a Ray Tune trial asking for one CPU. The trials land in ``study`` as if run here.
    """
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    search = OptunaSearch(
        space=_define_by_run,
        metric="val_score",
        mode="max",
        points_to_evaluate=[untuned_params(template)],  # the first trial is the untuned setting, as here
        sampler=study.sampler,
        study_name=study.study_name,
        storage=storage,
    )
    trainable = tune.with_resources(
        tune.with_parameters(_ray_trial, template=template, prepared=prepared), {"cpu": 1}
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=search, num_samples=trials),
        run_config=tune.RunConfig(
            verbose=0, storage_path=str(Path(tempfile.gettempdir()) / "fusion-explorer-tune")
        ),
    )
    tuner.fit()
    return summarize_study(optuna.load_study(study_name=study.study_name, storage=storage))


def _define_by_run(trial: optuna.Trial) -> None:
    suggest(trial)


def _ray_trial(
    params: dict[str, Any], template: ExperimentConfig, prepared: PreparedData
) -> dict[str, float]:
    from ray import tune

    from fusion_core.experiment import RunProblem, run_one

    outcome = run_one(apply_params(template, params), prepared)
    if isinstance(outcome, RunProblem):
        raise RuntimeError(outcome.reason)
    tune.report(
        {"val_score": max(log.val_score for log in outcome.history)}
    )  # macro-F1, or R² for regression


def summarize_study(study: optuna.Study) -> StudySummary:
    complete = optuna.trial.TrialState.COMPLETE
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    values = [t.value if t.state == complete else None for t in trials]
    done = [t for t in trials if t.state == complete]
    best = max(done, key=lambda t: t.value) if done else None
    attrs = study.user_attrs
    return StudySummary(
        method=attrs.get("method", study.study_name),
        study_name=study.study_name,
        dataset=attrs.get("dataset", ""),
        session=attrs.get("session", ""),
        best_value=None if best is None else float(best.value),
        best_params={} if best is None else dict(best.params),
        values=values,
        metric=attrs.get("metric", "macro_f1"),  # studies saved before regression were all macro-F1
    )


def list_studies(
    root: str | os.PathLike[str], dataset: str | None = None, workspace: str | None = None
) -> list[StudySummary]:
    """The studies saved under a run store's folder, newest session first; only ``dataset``'s when given.

    With a ``workspace``, only that workspace's studies and the shared default one's, as
    ``RunStore.list`` shows runs: one session never sees another's tuning.
    """
    visible = None if workspace is None else {workspace, DEFAULT_WORKSPACE}
    if not (Path(root) / STUDIES_FILE).is_file():
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = storage_url(root)
    found = []
    for info in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if dataset is not None and info.user_attrs.get("dataset") != dataset:
            continue
        if visible is not None and info.user_attrs.get("workspace", DEFAULT_WORKSPACE) not in visible:
            continue
        found.append(summarize_study(optuna.load_study(study_name=info.study_name, storage=storage)))
    return sorted(found, key=lambda s: s.session, reverse=True)
