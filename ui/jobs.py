"""Training in the background while the page stays responsive, for many sessions at once.

A ``Job`` is a plain object that a worker thread fills in as training goes:
the epoch and batch it is at, the history of finished epochs, the runs that
are done, or the error that ended it. The thread makes no Streamlit calls; a
fragment on the Train page polls the job every second and draws it. Stopping
sets an ``Event`` that training checks at every batch; the best model so far
is kept and saved. A job still waiting in the queue is cancelled by the same
Stop: it never starts.

Jobs go into one queue for the whole server (``job_queue``), served by a pool of
worker threads whose size ``worker_count`` sets, in one place: by default one
worker per core but one, left to the app's server, and at least one. More workers
than cores would only make every training slower and the pages sluggish. Each
session keeps its own jobs in its session state, so it sees its jobs, their
place in the queue and their progress, and never another session's.

The queue runs any ``work(job)`` callable; the ones here call the same
``fusion_core`` functions as the CLI (``run_experiment``, ``compare``). A comparison
hands its runs to an executor (``fusion_core.executors``): in the worker's thread, or
as tasks on a Ray cluster when ``$FUSION_EXPLORER_RAY_ADDRESS`` names one, where Stop
cancels them.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.errors import ConfigError, FusionExplorerError
from fusion_core.executors import make_executor

WORKERS_ENV = "FUSION_EXPLORER_WORKERS"


def worker_count() -> int:
    """How many trainings run at once on this server: ``$FUSION_EXPLORER_WORKERS``, else one per
    core but one (the app's server keeps a core), and at least one."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"{WORKERS_ENV} must be a whole number of 1 or more, such as 2; it is {raw!r}")
        return int(raw)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True)
class JobView:
    """One reading of a ``Job``, taken under its lock: everything the page draws, consistent in itself.

    The worker's last update and the job's end are written in one critical section, so a view
    that says the job is over always holds every finished run.
    """

    title: str
    planned_runs: int
    epochs: int
    running: bool  # queued or training: not over yet
    queued: int | None  # jobs ahead of this one in the queue (0: next), or None once it trains
    stopping: bool
    stopped_by_user: bool
    error: str | None
    details: str | None
    runs_done: int
    epoch: int
    history: tuple[Any, ...]
    results: tuple[Any, ...]
    run_ids: tuple[str, ...]
    problems: tuple[Any, ...]  # runs skipped or failed (RunProblem)
    studies: tuple[Any, ...]  # tuning studies (StudySummary), once tuned
    tuning: str  # what tuning is doing now
    fraction: float
    elapsed: float
    eta: float | None

    @property
    def finished(self) -> bool:
        return not self.running


@dataclass
class Job:
    """What one background training (one run, or a queue of runs) has done so far.

    Written only by the worker thread, under ``lock``; the page reads it through
    ``view()``, one consistent snapshot per drawing.
    """

    title: str
    planned_runs: int
    epochs: int  # the cap on epochs of each run
    patience: int = 0  # early stopping's patience (0: runs go to the cap)
    stop: threading.Event = field(default_factory=threading.Event)
    submitted: bool = False  # handed to a queue
    queued: int | None = None  # jobs ahead of it while it waits (set by the queue), None once it trains
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
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
    epoch_seconds: list[float] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)  # wall time of each finished run, set-up included
    run_finishing: list[float] = field(default_factory=list)  # last epoch to saved run: test, save
    run_started: float = field(default_factory=time.monotonic)
    last_epoch_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    shown: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def running(self) -> bool:
        """Submitted and not yet over (queued or training); the end is marked by the worker, under the
        lock, with its last update."""
        return self.submitted and self.finished is None

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
        best = max(history, key=lambda log: (log.val_score, -log.val_loss)).epoch if history else 0
        return max(1, min(self.epochs, max(self.epoch, best + self.patience)))

    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.started

    def eta(self) -> float | None:
        """Seconds left, from measured times; None until an epoch has been timed.

        The current run's remaining epochs count at the median time of its own epochs so far,
        plus the evaluation and saving measured after earlier runs. Each run still to start
        counts at the median wall time of the finished runs (the first one's data preparation
        left out: it does not recur), or, before any run has finished, at its epochs times the
        epoch time measured now. Runs that stop early make the true rest shorter; slower methods
        later in a queue make it longer.
        """
        if self.finished is not None or not self.epoch_seconds:
            return None
        here = self.epoch_seconds[-len(self.history) :] if self.history else self.epoch_seconds
        epoch_time = statistics.median(here)
        done_here = len(self.history) + (
            self.batch / self.batches_per_epoch if self.batches_per_epoch else 0.0
        )
        finishing = statistics.median(self.run_finishing) if self.run_finishing else 0.0
        expected = self.expected_epochs()  # early stopping: the cap is an upper bound, not the plan
        left_here = max(0.0, expected - done_here) * epoch_time + finishing
        runs_after = max(0, self.planned_runs - self.runs_done - 1)
        per_run = (
            statistics.median(self.run_seconds) if self.run_seconds else expected * epoch_time + finishing
        )
        return left_here + runs_after * per_run

    def view(self) -> JobView:
        """A consistent snapshot for drawing (see ``JobView``)."""
        with self.lock:
            return JobView(
                title=self.title,
                planned_runs=self.planned_runs,
                epochs=self.epochs,
                running=self.running,
                queued=self.queued if self.running else None,
                stopping=self.running and self.stop.is_set(),
                stopped_by_user=self.stopped_by_user,
                error=self.error,
                details=self.details,
                runs_done=self.runs_done,
                epoch=self.epoch,
                history=tuple(self.history),
                results=tuple(self.results),
                run_ids=tuple(self.run_ids),
                problems=tuple(self.problems),
                studies=tuple(self.studies),
                tuning=self.tuning,
                fraction=self.fraction(),
                elapsed=self.elapsed(),
                eta=self.eta(),
            )

    def request_stop(self) -> None:
        self.stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the job is over (tests, and the CLI-style synchronous path)."""
        if self.submitted:
            self.done.wait(timeout)

    # --- callbacks handed to fusion_core (run on the worker thread) ---------------------------------

    def on_batch(self, progress: Any) -> None:
        with self.lock:
            self.epoch = int(progress.epoch)
            self.batch = int(progress.batch)
            self.batches_per_epoch = int(progress.batches_per_epoch)
            self.epochs = int(progress.epochs)

    def on_epoch(self, log: Any) -> None:
        now = time.monotonic()
        with self.lock:
            previous = self.history[-1].seconds if self.history else 0.0
            self.epoch_seconds.append(max(0.0, float(log.seconds) - float(previous)))
            if not self.history and not self.results:
                # The first run's clock starts when its training does, after the one-off data preparation.
                self.run_started = now - float(log.seconds)
            self.last_epoch_at = now
            self.history.append(log)
            self.epoch = int(log.epoch)
            self.batch = 0
            self.batches_per_epoch = 0

    def on_problem(self, problem: Any) -> None:
        with self.lock:
            self.problems.append(problem)

    def on_trial(self, method: str, number: int, value: float | None) -> None:
        with self.lock:
            self.tuning = f"tuning {method}: trial {number + 1}/{self.trials} done"
            self.history = []
            self.epoch = 0

    def on_run(self, result: Any, index: int | None = None, total: int | None = None) -> None:
        now = time.monotonic()
        with self.lock:
            self.tuning = ""
            self.run_seconds.append(max(0.0, now - self.run_started))
            if self.last_epoch_at is not None:
                self.run_finishing.append(max(0.0, now - self.last_epoch_at))
            self.run_started = now
            self.last_epoch_at = None
            self.results.append(result)
            if result.run_id:
                self.run_ids.append(result.run_id)
            self.histories[result.label] = list(result.history)
            self.runs_done = len(self.results)
            self.history = []
            self.epoch = 0
            self.batch = 0

    def end(self, *, error: str | None = None, details: str | None = None) -> None:
        """Mark the job over (worker thread, after its last update)."""
        with self.lock:
            self.error = error
            self.details = details
            self.queued = None
            self.finished = time.monotonic()
        self.done.set()


START_GRACE_SECONDS = 1.0
"""At most this long a new job waits for the page to draw it (``Job.shown``) before it starts."""


class JobQueue:
    """Jobs waiting in order, and at most ``size`` of them running at once, each on its own thread.

    A job given to ``submit`` starts at once while a worker is free, else waits its turn; when a
    job ends, its worker takes the next one. ``slot()`` holds a worker for a short piece of work
    run by the caller itself (the Interaction lab), so it counts against the same limit.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self._waiting: deque[tuple[Job, Callable[[Job], None]]] = deque()
        self._busy = 0
        self._lock = threading.Condition()

    def submit(self, job: Job, work: Callable[[Job], None]) -> Job:
        """Run ``work(job)`` as soon as a worker is free; errors end up in ``job.error``."""
        with self._lock:
            job.submitted = True
            if self._busy < self.size:
                self._busy += 1
                self._start(job, work)
            else:
                self._waiting.append((job, work))
                self._renumber()
        return job

    def cancel(self, job: Job) -> None:
        """Stop a job: a waiting one leaves the queue and ends at once, a running one after this batch."""
        job.request_stop()
        with self._lock:
            waiting = [entry for entry in self._waiting if entry[0] is job]
            for entry in waiting:
                self._waiting.remove(entry)
            self._renumber()
        if waiting:
            job.end()

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a worker while the block runs, waiting for one to be free (and for the queue ahead)."""
        with self._lock:
            self._lock.wait_for(lambda: self._busy < self.size and not self._waiting)
            self._busy += 1
        try:
            yield
        finally:
            self._next()

    def _start(self, job: Job, work: Callable[[Job], None]) -> None:
        with job.lock:
            job.queued = None
            job.started = time.monotonic()
            job.run_started = job.started
        thread = threading.Thread(
            target=self._serve, args=(job, work), name=f"fusion-train-{job.title}", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            self._busy -= 1
            raise

    def _serve(self, job: Job, work: Callable[[Job], None]) -> None:
        error = details = None
        # Let the page draw the new job before training takes the CPU: until then the browser shows
        # grey placeholders where the progress will be.
        job.shown.wait(START_GRACE_SECONDS)
        try:
            if not job.stop.is_set():
                work(job)
        except FusionExplorerError as exc:
            error = str(exc)
        except Exception as exc:  # a bug, not bad input: keep the trace for the details expander
            error = f"training failed unexpectedly ({type(exc).__name__}: {exc})"
            details = traceback.format_exc()
        finally:
            job.end(error=error, details=details)
            self._next()

    def _next(self) -> None:
        """A worker is free: start the next waiting job on it, or count it idle."""
        with self._lock:
            if self._waiting:
                self._start(*self._waiting.popleft())
                self._renumber()
            else:
                self._busy -= 1
            self._lock.notify_all()

    def _renumber(self) -> None:
        for ahead, (job, _) in enumerate(self._waiting):
            with job.lock:
                job.queued = ahead


@st.cache_resource
def job_queue() -> JobQueue:
    """The one queue of the server process, with ``worker_count()`` workers."""
    return JobQueue(worker_count())


def start_job(job: Job, work: Callable[[Job], None]) -> Job:
    """Queue ``work(job)`` on the server's job queue; it runs when a worker is free."""
    return job_queue().submit(job, work)


def cancel_job(job: Job) -> None:
    """Stop a job, or take it out of the queue before it starts."""
    job_queue().cancel(job)


def start_single_run(
    config: ExperimentConfig, *, store_root: str | None = None, workspace: str | None = None
) -> Job:
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
            store=RunStore(store_root, workspace=workspace),
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
    workspace: str | None = None,
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
            store=RunStore(store_root, workspace=workspace),
            on_run=job.on_run,
            on_problem=job.on_problem,
            on_trial=job.on_trial,
            on_epoch=job.on_epoch,
            should_stop=job.stop.is_set,
            executor=make_executor(),  # on a Ray cluster when $FUSION_EXPLORER_RAY_ADDRESS names one
        )
        with job.lock:
            job.studies = list(comparison.studies)

    return start_job(job, work)


QUICK_START_EPOCHS = 8
"""Epochs of the Home page's quick start: enough to beat chance clearly, short enough to wait for."""


def quick_start_methods(modality_names: list[str]) -> list[str]:
    """Each modality alone, then one method of each fusion family."""
    return [f"only:{name}" for name in modality_names] + ["early", "concat", "late"]


def start_quick_start(store_root: str | None = None, workspace: str | None = None) -> Job:
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
        workspace=workspace,
        title="quick start",
    )
