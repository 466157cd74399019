"""A whole experiment in one call, and fair comparisons of fusion methods.

``run_experiment`` goes from an ``ExperimentConfig`` to a scored, trained model:
load the data, prepare it, build the model, train it, score it on the test
split. ``compare`` runs several methods on *identical* splits with the same
seeds, so that the differences between them come from the methods and not
from luck in the split; ``summarize`` turns the runs into one row per method,
with the mean and spread over seeds (and folds) and the gain over the best
single-modality baseline, which answers "did fusing help at all?".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import torch
from torch import nn

from fusion_core.baselines import (
    DEFAULT_BASELINES,
    NO_MODEL_MESSAGE,
    baseline_methods,
    is_baseline_method,
    parse_baseline,
    run_baseline,
)
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data.types import MAIN_METRIC, Dataset, InputSpec, PreparedData, Splits
from fusion_core.errors import ConfigError, FusionExplorerError
from fusion_core.executors import Executor, InProcessExecutor, RunTask
from fusion_core.metrics import compute_metrics, regression_metrics
from fusion_core.stats import BASELINE_PREFIX, PairedDifference, comparison_statistics, noise_verdict
from fusion_core.training import BatchProgress, EpochLog, budget_rule, fit, predict, seed_everything

__all__ = [
    "BASELINE_PREFIX",
    "Comparison",
    "RunProblem",
    "RunResult",
    "compare",
    "run_experiment",
    "run_one",
    "summarize",
]


@dataclass
class RunResult:
    """One trained and scored model: what ``run_experiment`` returns and ``RunStore`` saves and loads."""

    run_id: str | None  # set once saved
    label: str  # e.g. "concat · seed 0"; renamable
    method: str  # fusion name, or "only:<modality>"
    config: ExperimentConfig
    dataset_name: str
    seed: int
    fold: int | None
    metrics: dict  # compute_metrics(...) of the test split
    history: list[EpochLog]
    class_names: list[str]
    test_ids: list[str]
    y_true: np.ndarray  # (n_test,) int class indices
    y_pred: np.ndarray  # (n_test,)
    probabilities: np.ndarray  # (n_test, C)
    params: int
    train_seconds: float
    epochs_run: int
    stopped: str
    device: str
    created: str  # ISO timestamp
    model: nn.Module | None  # on CPU, eval mode; rebuilt from saved weights on load
    preprocessing_state: dict  # the fitted preprocessing, per modality (PreparedData.state)
    preprocessing: dict = field(default_factory=dict)  # the options it was fitted with, defaults filled in
    input_specs: dict[str, InputSpec] = field(default_factory=dict)  # what the model was built for
    task: str = "classification"  # for regression y_true/y_pred are values and metrics MAE, RMSE, R²
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression: the training targets' mean and std

    def predict(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and predicted class indices for every sample of ``dataset``."""
        return predict_dataset(self, dataset)


# -----------------------------------------------------------------------------
# one experiment


def run_experiment(
    config: ExperimentConfig,
    *,
    prepared: PreparedData | None = None,
    store: Any | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    label: str | None = None,
    fold: int | None = None,
    dataset: Dataset | None = None,
) -> RunResult:
    """Load and prepare the data (unless ``prepared`` is given), build, train and test one model.

    A classical ``sk:`` baseline is fitted on the same split instead (see
    ``fusion_core.baselines``; it reads ``dataset``, loaded when not given).
    With a ``store`` (a ``RunStore``) the run is registered as running when it starts, saved
    when it ends, and ``run_id`` set.
    """
    from fusion_core.model import build_model

    with registered(store, config, label) as run_id:
        if is_baseline_method(config.model.fusion):
            result = run_baseline(
                config,
                dataset=dataset,
                splits=None if prepared is None else prepared.splits,
                label=label,
                fold=fold,
            )
        else:
            if prepared is None:
                from fusion_core.data import load_dataset
                from fusion_core.modalities import prepare

                prepared = prepare(load_dataset(config.data.source), config.data)

            seed_everything(config.train.seed)  # the same seed gives the same initial weights
            model = build_model(
                prepared.input_specs(), prepared.num_classes, config.model, task=prepared.task
            )
            result = train_and_score(
                model,
                config,
                prepared,
                on_epoch=on_epoch,
                on_batch=on_batch,
                should_stop=should_stop,
                label=label,
                fold=fold,
            )
        if store is not None:
            store.save(result, run_id)
    return result


def registered(store: Any | None, config: ExperimentConfig, label: str | None) -> AbstractContextManager[Any]:
    """``store.registered(...)`` (the run listed as running while the block runs), or nothing without a store."""
    return nullcontext() if store is None else store.registered(config, label)


def train_and_score(
    model: nn.Module,
    config: ExperimentConfig,
    prepared: PreparedData,
    *,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    label: str | None = None,
    fold: int | None = None,
) -> RunResult:
    """Train a built ``model`` on ``prepared`` and score it on the test split."""
    from fusion_core.model import count_parameters

    specs = prepared.input_specs()
    trained = fit(
        model, prepared, config.train, on_epoch=on_epoch, on_batch=on_batch, should_stop=should_stop
    )
    test_rows = prepared.splits.test
    # Scored where a saved run is loaded and used (the CPU), so predicting the test split again gives
    # exactly the stored probabilities, whichever device trained it.
    model.cpu().eval()
    probabilities, predictions = predict(model, prepared, test_rows)
    y_true = prepared.labels[test_rows].numpy()
    method = config.model.fusion
    return RunResult(
        run_id=None,
        label=label or default_label(method, config.train.seed, fold),
        method=method,
        # every option as used, defaults filled in, so the saved configuration repeats the run
        config=dataclasses.replace(
            config,
            model=model.config,
            data=dataclasses.replace(
                config.data, preprocessing=prepared.preprocessing or config.data.preprocessing
            ),
        ),
        dataset_name=prepared.dataset_name,
        seed=config.train.seed,
        fold=fold,
        metrics=regression_metrics(y_true, predictions)
        if prepared.task == "regression"
        else compute_metrics(y_true, predictions, probabilities, prepared.class_names),
        history=trained.history,
        class_names=list(prepared.class_names),
        test_ids=[prepared.ids[i] for i in test_rows.tolist()],
        y_true=y_true,
        y_pred=predictions,
        probabilities=probabilities,
        params=count_parameters(model),
        train_seconds=trained.train_seconds,
        epochs_run=trained.epochs_run,
        stopped=trained.stopped,
        device=trained.device,
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
        model=model,
        preprocessing_state=prepared.state,
        preprocessing=prepared.preprocessing,
        input_specs=specs,
        task=prepared.task,
        target_scale=prepared.target_scale(),
    )


def default_label(method: str, seed: int, fold: int | None = None) -> str:
    label = f"{method} · seed {seed}"
    return label if fold is None else f"{label} · fold {fold}"


def predict_dataset(result: RunResult, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Score every sample of ``dataset`` with a trained run, preprocessing it exactly as in training.

    The saved preprocessing state (scaler statistics, vocabulary, …) is reused,
    never re-fitted, so a reloaded run predicts exactly as it did when trained.
    """
    data = prepare_for_run(result, dataset)
    return predict(result.model, data, data.splits.train)


def prepare_for_run(result: RunResult, dataset: Dataset, *, check_new: bool = False) -> PreparedData:
    """Every row of ``dataset`` preprocessed with the run's saved state, as a ``PreparedData``.

    All rows are in the ``train`` split (the others are empty) and the labels are zeros:
    the result is for predicting. ``check_new`` checks that data the model never saw can
    be read as the state was fitted (see ``transform_with_state``).
    """
    from fusion_core.modalities import transform_with_state

    if is_baseline_method(result.method):
        raise ConfigError(f"run {result.label!r} {NO_MODEL_MESSAGE}")
    if result.model is None:
        raise ConfigError("this run has no model to predict with; load it with RunStore.load(run_id)")
    modalities = transform_with_state(
        dataset,
        result.preprocessing_state,
        result.preprocessing or result.config.data.preprocessing,
        check_new=check_new,
    )
    n = len(dataset)
    everything = torch.arange(n)
    return PreparedData(
        dataset_name=dataset.name,
        modalities=modalities,
        labels=torch.zeros(n, dtype=torch.long),  # unused: predicting needs no labels
        class_names=list(result.class_names),
        ids=dataset.ids,
        splits=Splits(everything, everything[:0], everything[:0]),
        task=result.task,
        target_stats=tuple(result.target_scale),
    )


# -----------------------------------------------------------------------------
# comparing methods


@dataclass
class RunProblem:
    """A run of a comparison that gave no result: ``"skipped"`` (the method cannot be built for
    this data) or ``"failed"`` (it broke while training). ``reason`` says why, in words."""

    method: str
    status: str  # "skipped" | "failed"
    reason: str
    seed: int
    fold: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Comparison:
    """What ``compare`` returns: the finished runs, the runs that gave none, and any tuning studies."""

    runs: list[RunResult] = field(default_factory=list)
    problems: list[RunProblem] = field(default_factory=list)
    studies: list[Any] = field(default_factory=list)  # fusion_core.tuning.StudySummary, one per method
    budget: str = ""  # the training budget every method got, in words

    @property
    def skipped(self) -> list[RunProblem]:
        return [p for p in self.problems if p.status == "skipped"]

    @property
    def failed(self) -> list[RunProblem]:
        return [p for p in self.problems if p.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """Everything a script needs, as plain JSON-ready data."""
        statistics = comparison_statistics(self.runs)
        return {
            "dataset": self.runs[0].dataset_name if self.runs else None,
            "budget": self.budget,
            "methods": summarize(self.runs, statistics=statistics),
            "problems": [p.to_dict() for p in self.problems],
            "verdict": noise_verdict(statistics),
            "tuning": [study.to_dict() for study in self.studies],
        }


def run_one(
    config: ExperimentConfig,
    prepared: PreparedData,
    *,
    fold: int | None = None,
    label: str | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    dataset: Dataset | None = None,
) -> RunResult | RunProblem:
    """One (method, seed, fold) of a comparison: a ``RunResult``, or a ``RunProblem`` saying why not.

    A classical ``sk:`` baseline is fitted on the same split (it reads ``dataset``).
    A method that cannot be built for this data (a ``ConfigError`` from ``build_model``,
    such as tensor fusion of too many modalities) is skipped; one that breaks while
    training is reported as failed. Neither stops the rest of the comparison.
    """
    from fusion_core.model import build_model

    method, seed = config.model.fusion, config.train.seed
    seed_everything(seed)
    if is_baseline_method(method):
        try:
            return run_baseline(config, dataset=dataset, splits=prepared.splits, label=label, fold=fold)
        except ConfigError as exc:
            return RunProblem(method, "skipped", f"cannot be fitted on this data: {exc}", seed, fold)
        except FusionExplorerError as exc:
            return RunProblem(method, "failed", f"failed while fitting: {exc}", seed, fold)
    try:
        model = build_model(prepared.input_specs(), prepared.num_classes, config.model, task=prepared.task)
    except ConfigError as exc:
        return RunProblem(method, "skipped", f"cannot be built for this data: {exc}", seed, fold)
    try:
        return train_and_score(
            model, config, prepared, on_epoch=on_epoch, should_stop=should_stop, label=label, fold=fold
        )
    except FusionExplorerError as exc:
        return RunProblem(method, "failed", f"failed while training: {exc}", seed, fold)
    except (RuntimeError, ValueError, ArithmeticError, MemoryError) as exc:  # a bug or a resource limit
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        return RunProblem(
            method, "failed", f"failed while training ({type(exc).__name__}: {first_line})", seed, fold
        )


def method_config(
    method: str, data_config: DataConfig, train: TrainConfig, model_template: ModelConfig, seed: int
) -> ExperimentConfig:
    """The configuration of one method of a comparison: the template, with this method and seed."""
    return ExperimentConfig(
        data=data_config,
        model=replace(
            model_template,
            fusion=method,  # the template's fusion options belong to its own method only
            fusion_options=model_template.fusion_options if method == model_template.fusion else {},
        ),
        train=replace(train, seed=seed),
    )


def compare(
    data_config: DataConfig,
    methods: Sequence[str] | str,
    *,
    seeds: int = 1,
    folds: int | None = None,
    train: TrainConfig | None = None,
    model_template: ModelConfig | None = None,
    tune: int = 0,
    store: Any | None = None,
    on_run: Callable[[RunResult, int, int], None] | None = None,
    on_problem: Callable[[RunProblem], None] | None = None,
    on_trial: Callable[[str, int, float | None], None] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    baselines: str | None = None,
    executor: Executor | None = None,
) -> Comparison:
    """Train every method on identical splits with the same seeds; return the finished runs.

    ``methods`` is a list of names or ``"all"`` (every fusion method that fits the
    data, plus one ``only:<modality>`` baseline per modality). ``baselines``
    (``none``, ``logreg``, ``gbdt`` or ``all``) adds classical ``sk:`` rows on the
    same splits and seeds; by default ``logreg`` with ``"all"`` and none with a
    list (which may name ``sk:`` rows itself). Seeds are
    ``train.seed, train.seed + 1, …``. With ``folds=K`` the data is split into
    K stratified folds and every method runs on each. Every method gets the same
    training budget rule (``train``: early stopping, epoch cap, time budget).

    With ``tune=N`` each method's settings (``fusion_core.tuning.SEARCH_SPACE``)
    are first searched for N trials on the validation split of the first fold
    (``fusion_core.tuning``); the best setting is then trained on every seed and
    fold. The studies are kept in the store's folder when a ``store`` is given.

    A method that cannot be built for the data is skipped, and one that fails
    while training is reported; both land in ``Comparison.problems`` (and
    ``on_problem``) while the others run. ``on_run(result, index, total)`` is
    called as each run finishes; ``should_stop()`` cancels the rest of the queue
    (a run cut short is not returned or saved).

    ``executor`` says where the runs train (``fusion_core.executors``): in this
    process one after another (the default), or as tasks on a Ray cluster. The
    results, their order and the saved runs are the same either way.
    """
    from fusion_core.data import kfold_splits, load_dataset
    from fusion_core.data.splits import value_strata
    from fusion_core.modalities import prepare

    train = train or TrainConfig()
    model_template = model_template or ModelConfig()
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    if folds is not None and folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}")
    if tune < 0:
        raise ConfigError(f"the number of tuning trials must be 0 (no tuning) or more, got {tune}")

    dataset = load_dataset(data_config.source)
    method_names = resolve_methods(methods, list(dataset.modalities), baselines=baselines)
    if folds is None:
        fold_splits: list[Splits | None] = [None]
    else:
        fold_splits = list(
            kfold_splits(
                value_strata(dataset.label_indices())
                if dataset.task == "regression"
                else dataset.label_indices(),
                folds=folds,
                seed=data_config.split_seed,
                val_fraction=data_config.val_fraction,
            )
        )

    comparison = Comparison(budget=budget_rule(train, dataset.task))
    templates = {
        method: method_config(method, data_config, train, model_template, train.seed)
        for method in method_names
    }
    skipped: set[str] = set()  # a method that cannot be built on one fold cannot on any

    def report(problem: RunProblem) -> None:
        comparison.problems.append(problem)
        if problem.status == "skipped":
            skipped.add(problem.method)
        if on_problem is not None:
            on_problem(problem)

    total = len(fold_splits) * len(method_names) * seeds
    executor = executor or InProcessExecutor()
    for fold_index, splits in enumerate(fold_splits):
        prepared = prepare(dataset, data_config, splits=splits)  # once per fold, shared by every method
        if tune and fold_index == 0:
            from fusion_core.tuning import tune_methods

            tuned, studies = tune_methods(
                {m: t for m, t in templates.items() if not is_baseline_method(m)},  # classical: as they are
                prepared,
                trials=tune,
                store_root=None if store is None else store.root,
                workspace=None if store is None else store.workspace,
                on_trial=on_trial,
                should_stop=should_stop,
                on_ray=executor.name == "ray",
            )
            templates.update(tuned)
            comparison.studies.extend(studies)
        if should_stop is not None and should_stop():
            return comparison
        shared = executor.share(prepared, dataset)  # the workers get the fold's data once
        fold = None if folds is None else fold_index
        handles = []
        for method in method_names:
            for seed in range(train.seed, train.seed + seeds):
                config = replace(templates[method], train=replace(templates[method].train, seed=seed))
                tuned = tune and not is_baseline_method(method)
                label = default_label(method, seed, fold) + (" · tuned" if tuned else "")
                task = RunTask(config, fold=fold, label=label)
                handle = executor.submit(task, shared, on_epoch=on_epoch, should_stop=should_stop)
                handles.append((method, task, handle))
        for position, (method, task, handle) in enumerate(handles):
            if method in skipped:
                handle.cancel()
                continue
            if should_stop is not None and should_stop():
                for _, _, rest in handles[position:]:
                    rest.cancel()
                return comparison
            # Listed as running while this run is awaited: in-process, while it trains; on Ray,
            # while the driver waits for it (tasks further down the grid may already be training).
            with registered(store, task.config, task.label) as run_id:
                outcome = handle.result()
                if isinstance(outcome, RunProblem):
                    report(outcome)
                    continue
                if outcome is None or outcome.stopped == "cancelled":  # stopped while it trained
                    for _, _, rest in handles[position + 1 :]:
                        rest.cancel()
                    return comparison
                if store is not None:
                    store.save(outcome, run_id)
            comparison.runs.append(outcome)
            if on_run is not None:
                on_run(outcome, len(comparison.runs), total)
    return comparison


def resolve_methods(
    methods: Sequence[str] | str, modality_names: list[str], *, baselines: str | None = None
) -> list[str]:
    """``"all"`` or a list (or comma-separated string) of method names, checked against the data.

    ``baselines`` adds the classical ``sk:`` rows it names (see ``compare``).
    """
    from fusion_core.fusion import available_methods

    valid = available_methods(modality_names)
    everything = methods.strip() == "all" if isinstance(methods, str) else False
    extra = baseline_methods(
        baselines if baselines is not None else (DEFAULT_BASELINES if everything else "none"), modality_names
    )
    if everything:
        return list(dict.fromkeys([*valid, *extra]))
    if isinstance(methods, str):
        methods = [name.strip() for name in methods.split(",") if name.strip()]
    if not methods and not extra:
        raise ConfigError(f"no fusion method given; choose 'all' or some of: {', '.join(valid)}")
    for name in methods:
        if is_baseline_method(name):
            parse_baseline(name, modality_names)
        elif name not in valid:
            raise ConfigError(f"unknown fusion method {name!r}; choose 'all' or some of: {', '.join(valid)}")
    return list(dict.fromkeys([*methods, *extra]))


def summarize(
    results: Sequence[RunResult], *, statistics: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One row per method: mean and spread of the task's main score over its runs (``metric``:
    ``macro_f1``, or ``r2`` for regression, so ``macro_f1_mean`` or ``r2_mean``), cost, gain over
    unimodal, and paired differences with 95 % intervals. Rows are sorted by that score.

    ``macro_f1_std`` is the sample standard deviation over seeds and folds (0 for a
    single run). ``gain_over_best_unimodal`` is the method's mean macro-F1 minus the
    best ``only:<modality>`` baseline's; positive means fusing helped. It is None
    when no baseline was run. ``vs_best_unimodal`` and ``vs_best`` are the paired
    differences to the best single-modality baseline and to the best method
    (``fusion_core.stats``: mean, low, high, excludes_zero), None for the reference itself.
    """
    by_method: dict[str, list[RunResult]] = {}
    for result in results:
        by_method.setdefault(result.method, []).append(result)
    if statistics is None:
        statistics = comparison_statistics(results)

    def as_dict(difference: PairedDifference | None) -> dict[str, Any] | None:
        return None if difference is None else difference.to_dict()

    task = results[0].task if results else "classification"
    metric = MAIN_METRIC[task]
    rows = []
    for method, runs in by_method.items():
        scores = np.array([r.metrics[metric] for r in runs], dtype=float)
        row: dict[str, Any] = {"method": method, "runs": len(runs), "metric": metric}
        row[f"{metric}_mean"] = float(scores.mean())
        row[f"{metric}_std"] = float(scores.std(ddof=1)) if len(runs) > 1 else 0.0
        for other in ("accuracy",) if task == "classification" else ("mae", "rmse"):
            row[f"{other}_mean"] = float(np.mean([r.metrics[other] for r in runs]))
        rows.append(
            {
                **row,
                "params": int(runs[0].params),
                "train_seconds_mean": float(np.mean([r.train_seconds for r in runs])),
                "epochs_mean": float(np.mean([r.epochs_run for r in runs])),
                "stopped": sorted({r.stopped for r in runs}),
                "run_ids": [r.run_id for r in runs if r.run_id is not None],
                "vs_best_unimodal": as_dict(statistics[method]["vs_best_unimodal"]),
                "vs_best": as_dict(statistics[method]["vs_best"]),
            }
        )
    key = f"{metric}_mean"
    baselines = [row[key] for row in rows if row["method"].startswith(BASELINE_PREFIX)]
    best_baseline = max(baselines) if baselines else None
    for row in rows:
        gain = None if best_baseline is None else row[key] - best_baseline
        row["gain_over_best_unimodal"] = gain if gain is None or math.isfinite(gain) else None
    return sorted(rows, key=lambda row: row[key], reverse=True)
