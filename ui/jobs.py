"""Training in the background while the page stays responsive.

A ``Job`` is a plain object that a worker thread fills in as training goes:
the epoch and batch it is at, the history of finished epochs, the runs that
are done, or the error that ended it. The thread makes no Streamlit calls; a
fragment on the Train page polls the job every second and draws it. Stopping
sets an ``Event`` that training checks at every batch; the best model so far
is kept and saved.

Only one training runs at a time on the machine (the models are small, but two
at once would each take twice as long and starve the app's server): a process
wide lock, created once with ``st.cache_resource``, is taken when a job starts
and released by the worker when it ends.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.errors import FusionExplorerError, TrainingError

BUSY_MESSAGE = (
    "another training is already running on this server; wait for it to finish or stop it on the Train page"
)


@st.cache_resource
def training_lock() -> threading.Lock:
    """One lock for the whole server process: at most one training at a time."""
    return threading.Lock()


@dataclass
class Job:
    """What one background training (one run, or a queue of runs) has done so far.

    Written only by the worker thread, read by the page; every field is a plain
    value or a list that only grows, so reading it mid-update is safe.
    """

    title: str
    planned_runs: int
    epochs: int  # the cap on epochs of each run
    patience: int = 0  # early stopping's patience (0: runs go to the cap)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    runs_done: int = 0
    epoch: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    current_label: str = ""
    history: list[Any] = field(default_factory=list)
    histories: dict[str, list[Any]] = field(default_factory=dict)
    results: list[Any] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)  # runs skipped or failed (RunProblem)
    studies: list[Any] = field(default_factory=list)  # tuning studies (StudySummary), once tuned
    tuning: str = ""  # what tuning is doing now, e.g. "concat: trial 2/3"
    trials: int = 0  # tuning trials per method (0: no tuning)
    error: str | None = None
    details: str | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def stopped_by_user(self) -> bool:
        return self.stop.is_set()

    def fraction(self) -> float:
        """Share of the planned work done, from 0 to 1."""
        if self.finished is not None and self.error is None:
            if self.stopped_by_user and self.planned_runs == 1 and self.results:
                return min(1.0, self.results[-1].epochs_run / max(1, self.epochs))
            if not self.stopped_by_user:
                return 1.0
        within = 0.0
        if self.epochs and self.epoch:
            batch_share = self.batch / self.batches_per_epoch if self.batches_per_epoch else 1.0
            within = min(1.0, (self.epoch - 1 + batch_share) / self.expected_epochs())
        return min(1.0, (self.runs_done + within) / max(1, self.planned_runs))

    def expected_epochs(self) -> int:
        """Epochs the current run will take if validation stops improving now: early stopping
        ends it ``patience`` epochs after its best so far, and the cap ends it at the latest."""
        if not self.patience:
            return max(1, self.epochs)
        history = list(self.history)
        best = max(history, key=lambda log: (log.val_macro_f1, -log.val_loss)).epoch if history else 0
        return max(1, min(self.epochs, max(self.epoch, best + self.patience)))

    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.started

    def eta(self) -> float | None:
        """Seconds left, extrapolated from the pace so far; None before any progress."""
        done = self.fraction()
        if done <= 0.0 or self.finished is not None:
            return None
        return self.elapsed() * (1.0 - done) / done

    def request_stop(self) -> None:
        self.stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker ends (tests, and the CLI-style synchronous path)."""
        if self.thread is not None:
            self.thread.join(timeout)

    # --- callbacks handed to fusion_core (run on the worker thread) ---------------------------------

    def on_batch(self, progress: Any) -> None:
        self.epoch = int(progress.epoch)
        self.batch = int(progress.batch)
        self.batches_per_epoch = int(progress.batches_per_epoch)
        self.epochs = int(progress.epochs)

    def on_epoch(self, log: Any) -> None:
        self.history.append(log)
        self.epoch = int(log.epoch)
        self.batch = self.batches_per_epoch

    def on_problem(self, problem: Any) -> None:
        self.problems.append(problem)

    def on_trial(self, method: str, number: int, value: float | None) -> None:
        self.tuning = f"tuning {method}: trial {number + 1}/{self.trials} done"
        self.history = []
        self.epoch = 0

    def on_run(self, result: Any, index: int | None = None, total: int | None = None) -> None:
        self.tuning = ""
        self.results.append(result)
        if result.run_id:
            self.run_ids.append(result.run_id)
        self.histories[result.label] = list(result.history)
        self.runs_done = len(self.results)
        self.history = []
        self.epoch = 0
        self.batch = 0


def start_job(job: Job, work: Callable[[Job], None]) -> Job:
    """Run ``work(job)`` on a daemon thread holding the training lock; errors end up in ``job.error``."""
    lock = training_lock()
    if not lock.acquire(blocking=False):
        raise TrainingError(BUSY_MESSAGE)

    def target() -> None:
        try:
            work(job)
        except FusionExplorerError as exc:
            job.error = str(exc)
        except Exception as exc:  # a bug, not bad input: keep the trace for the details expander
            job.error = f"training failed unexpectedly ({type(exc).__name__}: {exc})"
            job.details = traceback.format_exc()
        finally:
            job.finished = time.monotonic()
            lock.release()

    job.thread = threading.Thread(target=target, name=f"fusion-train-{job.title}", daemon=True)
    try:
        job.thread.start()
    except BaseException:
        lock.release()
        raise
    return job


def start_single_run(config: ExperimentConfig, *, store_root: str | None = None) -> Job:
    """Train one model in the background and save it to the run store."""
    job = Job(
        title=default_title(config),
        planned_runs=1,
        epochs=config.train.epochs,
        patience=config.train.patience,
    )

    def work(job: Job) -> None:
        from fusion_core.experiment import run_experiment
        from fusion_core.runs import RunStore

        result = run_experiment(
            config,
            store=RunStore(store_root),
            on_epoch=job.on_epoch,
            on_batch=job.on_batch,
            should_stop=job.stop.is_set,
        )
        job.on_run(result)

    return start_job(job, work)


def default_title(config: ExperimentConfig) -> str:
    return f"{config.model.fusion} · seed {config.train.seed}"


def start_comparison(
    data_config: DataConfig,
    methods: list[str],
    *,
    seeds: int,
    train: TrainConfig,
    model_template: ModelConfig,
    tune: int = 0,
    store_root: str | None = None,
    title: str = "compare",
) -> Job:
    """Train every method × seed on identical splits, one after another, saving each run.

    With ``tune`` trials, each method is first tuned (``fusion_core.tuning``); the
    studies land in ``job.studies`` and beside the saved runs.
    """
    job = Job(
        title=title,
        planned_runs=len(methods) * seeds,
        epochs=train.epochs,
        patience=train.patience,
        trials=tune,
    )

    def work(job: Job) -> None:
        from fusion_core.experiment import compare
        from fusion_core.runs import RunStore

        comparison = compare(
            data_config,
            methods,
            seeds=seeds,
            train=train,
            model_template=model_template,
            tune=tune,
            store=RunStore(store_root),
            on_run=job.on_run,
            on_problem=job.on_problem,
            on_trial=job.on_trial,
            on_epoch=job.on_epoch,
            should_stop=job.stop.is_set,
        )
        job.studies = list(comparison.studies)

    return start_job(job, work)


QUICK_START_EPOCHS = 8
"""Epochs of the Home page's quick start: enough to beat chance clearly, short enough to wait for."""


def quick_start_methods(modality_names: list[str]) -> list[str]:
    """Each modality alone, then one method of each fusion family."""
    return [f"only:{name}" for name in modality_names] + ["early", "concat", "late"]


def start_quick_start(store_root: str | None = None) -> Job:
    """Train the quick start comparison on the default sample dataset."""
    from fusion_core.samples import DEFAULT_SAMPLE, list_samples

    info = next(info for info in list_samples() if info.name == DEFAULT_SAMPLE)
    return start_comparison(
        DataConfig(source=DEFAULT_SAMPLE),
        quick_start_methods(list(info.modalities)),
        seeds=1,
        train=TrainConfig(epochs=QUICK_START_EPOCHS),
        model_template=ModelConfig(),
        store_root=store_root,
        title="quick start",
    )
