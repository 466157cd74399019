"""Where the runs of a comparison are trained: in this process, or spread over a Ray cluster.

Everything that trains several runs (``compare``, the app's jobs) hands each run
to an ``Executor`` as a ``RunTask`` and gets back a ``RunHandle``: ``result()``
waits for the ``RunResult`` (or ``RunProblem``), ``cancel()`` stops it. Progress
(``on_epoch``) and cancellation (``should_stop``) are given at submission and work
the same way on every executor.

``InProcessExecutor`` (the default) trains a run when its result is asked for, on
the calling thread, one after another. ``RayExecutor`` turns each run into a Ray
task that asks for CPUs (and a GPU where the cluster has one). The prepared data
of a fold is put into Ray's object store once (``share``), so each node fetches
it once, not once per run; the trained runs come back to the driver, which saves
them into its run store. Epoch logs travel back through a small actor that the
driver drains while it waits, and a cancelled run's task is cancelled with
``ray.cancel``.

Ray is an optional extra: ``pip install -e .[ray]``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fusion_core.errors import ConfigError

if TYPE_CHECKING:  # the CLI imports this module before it knows whether it will train
    from fusion_core.config import ExperimentConfig
    from fusion_core.data.types import Dataset, PreparedData
    from fusion_core.training import EpochLog

RAY_ADDRESS_ENV = "FUSION_EXPLORER_RAY_ADDRESS"
"""Set to a Ray cluster's address (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) to train on it."""
EXECUTORS = ("inprocess", "ray")
POLL_SECONDS = 0.25  # how often the driver drains progress and checks for a stop while a Ray run trains
RAY_MISSING = "the Ray executor needs Ray; install it with: pip install -e '.[ray]'"


@dataclass(frozen=True)
class RunTask:
    """One run of a comparison: its configuration (method, seed), fold and label."""

    config: ExperimentConfig
    fold: int | None = None
    label: str | None = None


class RunHandle:
    """A submitted run: ``result()`` waits for it, ``cancel()`` stops it."""

    def result(self) -> Any:  # RunResult | RunProblem
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError


class Executor:
    """Trains runs. ``share`` makes a fold's data available to the workers once; ``submit`` queues a run."""

    name: str = ""

    def share(self, prepared: PreparedData, dataset: Dataset | None = None) -> Any:
        """A token for the data every run of a fold trains on (passed to ``submit``)."""
        return (prepared, dataset)

    def submit(
        self,
        task: RunTask,
        shared: Any,
        *,
        on_epoch: Callable[[EpochLog], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunHandle:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of what the executor holds (the cluster connection stays for the next one)."""


def run_task(task: RunTask, prepared: PreparedData, dataset: Dataset | None, **callbacks: Any) -> Any:
    """Train one task here; what every executor runs in the end."""
    from fusion_core.experiment import run_one

    return run_one(task.config, prepared, fold=task.fold, label=task.label, dataset=dataset, **callbacks)


# -----------------------------------------------------------------------------
# in this process


class _LazyRun(RunHandle):
    def __init__(self, task, shared, on_epoch, should_stop) -> None:
        self.task, self.shared = task, shared
        self.on_epoch, self.should_stop = on_epoch, should_stop

    def result(self) -> Any:
        prepared, dataset = self.shared
        return run_task(self.task, prepared, dataset, on_epoch=self.on_epoch, should_stop=self.should_stop)

    def cancel(self) -> None:  # never started: nothing to stop
        pass


class InProcessExecutor(Executor):
    """Runs train one after another on the thread that asks for their results."""

    name = "inprocess"

    def submit(self, task, shared, *, on_epoch=None, should_stop=None) -> RunHandle:
        return _LazyRun(task, shared, on_epoch, should_stop)


# -----------------------------------------------------------------------------
# on a Ray cluster


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(RAY_MISSING) from exc
    return ray


class _RayRun(RunHandle):
    def __init__(self, executor: RayExecutor, ref: Any, key: str, on_epoch, should_stop) -> None:
        self.executor, self.ref, self.key = executor, ref, key
        self.on_epoch, self.should_stop = on_epoch, should_stop

    def result(self) -> Any:
        ray = self.executor.ray
        while True:
            done, _ = ray.wait([self.ref], timeout=POLL_SECONDS)
            self._forward_progress()
            if done:
                break
            if self.should_stop is not None and self.should_stop():
                self.cancel()
                return None
        outcome = ray.get(self.ref)
        self._forward_progress()
        return outcome

    def _forward_progress(self) -> None:
        if self.on_epoch is None:
            return
        for log in self.executor.ray.get(self.executor.progress.drain.remote(self.key)):
            self.on_epoch(log)

    def cancel(self) -> None:
        self.executor.ray.cancel(self.ref, force=True)


class RayExecutor(Executor):
    """Each run is a Ray task asking for ``cpus_per_run`` CPUs and, where the cluster has GPUs, one GPU.

    Connects to ``address`` (``auto`` finds a cluster started with ``ray start``), or uses the
    connection this process already has.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus_per_run: float = 1) -> None:
        ray = _ray()
        if not ray.is_initialized():
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"cannot reach a Ray cluster at {address or 'a new local cluster'} ({exc}); "
                    "start one with 'ray start --head' and pass its address"
                ) from exc
        self.ray = ray
        gpus = ray.cluster_resources().get("GPU", 0)
        self.options = {"num_cpus": cpus_per_run, "num_gpus": 1 if gpus else 0}
        self.progress = _progress_actor(ray)
        self._count = 0

    def share(self, prepared: PreparedData, dataset: Dataset | None = None) -> Any:
        # one copy per node, fetched by every run there; memory-mapped values go by their file's path
        return self.ray.put((*_leave_out_mapped(prepared), dataset))

    def submit(self, task, shared, *, on_epoch=None, should_stop=None) -> RunHandle:
        self._count += 1
        key = f"{os.getpid()}-{id(self)}-{self._count}"
        remote = _remote_run(self.ray).options(**self.options)
        ref = remote.remote(task, shared, self.progress if on_epoch is not None else None, key)
        return _RayRun(self, ref, key, on_epoch, should_stop)


_REMOTE: dict[str, Any] = {}  # the remote function, and the progress actor of each Ray job
_MAPPED_HERE: dict[str, Any] = {}  # in a worker: path -> the memory-mapped tensor read from that file


def _remote_run(ray):
    if "run" not in _REMOTE:

        def remote_run(task: RunTask, shared: tuple, progress: Any, key: str) -> Any:
            prepared, paths, dataset = shared  # Ray resolves the object reference before the call
            prepared = _map_again(prepared, paths)
            on_epoch = None if progress is None else (lambda log: progress.push.remote(key, log))
            return run_task(task, prepared, dataset, on_epoch=on_epoch)

        _REMOTE["run"] = ray.remote(max_retries=0)(remote_run)
    return _REMOTE["run"]


def _leave_out_mapped(prepared: PreparedData) -> tuple[PreparedData, dict[str, str]]:
    """``prepared`` without its memory-mapped values, and the files that hold them.

    Data larger than memory is not copied into the object store: the workers map the same
    files, which they reach on this machine or through a path shared by the cluster's nodes.
    """
    from fusion_core.data.mapped import is_mapped, mapped_path  # on use: it imports torch

    paths = {
        name: str(mapped_path(m.values)) for name, m in prepared.modalities.items() if is_mapped(m.values)
    }
    if not paths:
        return prepared, paths
    kept = {
        name: replace(m, values=m.values.new_empty(0)) if name in paths else m
        for name, m in prepared.modalities.items()
    }
    return replace(prepared, modalities=kept), paths


def _map_again(prepared: PreparedData, paths: dict[str, str]) -> PreparedData:
    """The data ``_leave_out_mapped`` sent, with its memory-mapped values mapped from their files here."""
    if not paths:
        return prepared
    from fusion_core.data.mapped import open_mapped

    for path in paths.values():
        if path not in _MAPPED_HERE:  # once per worker process: its runs share the mapping
            _MAPPED_HERE[path] = open_mapped(path)
    modalities = {
        name: replace(m, values=_MAPPED_HERE[paths[name]]) if name in paths else m
        for name, m in prepared.modalities.items()
    }
    return replace(prepared, modalities=modalities)


def _progress_actor(ray):
    key = f"actor-{ray.get_runtime_context().get_job_id()}"
    if key not in _REMOTE:

        class Progress:
            """Epoch logs of running tasks, by task key, until the driver drains them."""

            def __init__(self) -> None:
                self.logs: dict[str, list[EpochLog]] = {}

            def push(self, key: str, log: EpochLog) -> None:
                self.logs.setdefault(key, []).append(log)

            def drain(self, key: str) -> list[EpochLog]:
                return self.logs.pop(key, [])

        _REMOTE[key] = ray.remote(num_cpus=0)(Progress).remote()
    return _REMOTE[key]


# -----------------------------------------------------------------------------
# choosing one


def make_executor(name: str | None = None, address: str | None = None) -> Executor:
    """The executor called ``name``; by default Ray when ``$FUSION_EXPLORER_RAY_ADDRESS`` is set, else in-process."""
    address = address or os.environ.get(RAY_ADDRESS_ENV) or None
    name = name or ("ray" if address else "inprocess")
    if name == "inprocess":
        return InProcessExecutor()
    if name == "ray":
        return RayExecutor(address)
    raise ConfigError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
