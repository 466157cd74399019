"""The run registry: every trained model saved as a folder of plain files, indexed in SQLite.

A run is one folder, ``<root>/<run_id>/``, that a person can open and read:

================================  ==================================================
``config.json``                   the ``ExperimentConfig`` that reproduces the run
``metrics.json``                  test-split metrics (``compute_metrics``)
``history.json``                  one record per epoch (losses, validation F1, …)
``predictions.csv``               id, true class, predicted class, one probability column per class
``preprocessing_state.json``      the fitted preprocessing and the options it used
``input_specs.json``              per modality: form, shape, vocabulary size
``run.json``                      label, method, seed, fold, timings, device, classes
``model.pt``                      the weights (a ``state_dict`` only, no pickled code)
================================  ==================================================

``<root>/index.sqlite`` holds one row per run for fast listing. The root is
the ``root`` argument, else ``$FUSION_EXPLORER_RUNS``, else ``./runs``.

Several processes may write one store at once (the app's workers, a CLI run). The
index is SQLite in WAL mode and every change is one transaction; a run's files are
written into a hidden staging folder that is renamed into place, and a file that is
changed later (a new label) is written beside it and renamed over it. A run is
registered as ``running`` when its training starts, with the process that trains
it; when that process dies before saving (a server killed mid-training), the next
``RunStore`` to open the store marks the run ``interrupted`` and removes its
staging folder, so the store never lists half a run.

Runs belong to a **workspace**. A store opened with a workspace saves there and
lists that workspace's runs plus the shared ``default`` one (where the CLI saves);
opened without one it saves to ``default`` and lists every run.
Weights are loaded with ``torch.load(..., weights_only=True)``, which cannot
run code hidden in a file, so a shared run folder is safe to open.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fusion_core.config import ExperimentConfig
from fusion_core.data.types import InputSpec
from fusion_core.errors import ConfigError, DataError, RunNotFoundError
from fusion_core.experiment import RunResult, predict_dataset
from fusion_core.training import EpochLog

RUNS_ENV = "FUSION_EXPLORER_RUNS"
DEFAULT_ROOT = "runs"
INDEX_FILE = "index.sqlite"
RUN_FORMAT = 1
WEIGHTS_FILE = "model.pt"
RUN_FILES = (
    "config.json",
    "metrics.json",
    "history.json",
    "preprocessing_state.json",
    "input_specs.json",
    "run.json",
    "predictions.csv",
)
"""Every run folder holds these; ``WEIGHTS_FILE`` too when the run has a network."""

INDEX_COLUMNS = (
    "run_id",
    "label",
    "dataset",
    "method",
    "seed",
    "fold",
    "macro_f1",
    "accuracy",
    "params",
    "train_seconds",
    "epochs_run",
    "device",
    "created",
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DEFAULT_WORKSPACE = "default"
WORKSPACE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
RUNNING, DONE, INTERRUPTED = "running", "done", "interrupted"
_STAGING_PREFIX = ".saving-"
_EXTRA_COLUMNS = {  # added to indexes written before workspaces and run states existed
    "workspace": f"TEXT DEFAULT '{DEFAULT_WORKSPACE}'",
    "status": f"TEXT DEFAULT '{DONE}'",
    "pid": "INTEGER",
    "host": "TEXT",
}

__all__ = ["RunStore", "predict_dataset"]


class RunStore:
    """Save, list, load, rename and delete runs under one root folder.

    >>> store = RunStore("runs")                      # doctest: +SKIP
    >>> run_id = store.save(result)                   # doctest: +SKIP
    >>> again = store.load(run_id)                    # doctest: +SKIP
    >>> predict_dataset(again, dataset)               # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, workspace: str | None = None) -> None:
        self.root = Path(root or os.environ.get(RUNS_ENV) or DEFAULT_ROOT).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"the runs folder {self.root} is a file; give the path of a folder for saved runs"
            )
        self.workspace = None if workspace is None else check_workspace(workspace)
        self._recovered = False

    # -- writing ------------------------------------------------------------------------

    @contextmanager
    def registered(self, config: ExperimentConfig, label: str | None = None) -> Iterator[str]:
        """Register a run as ``running`` for the duration of the block; yield its id for ``save``.

        Saved inside the block, the run is ``done``; a block left without saving (an error,
        a cancelled run) removes the entry. Only a process that dies inside the block leaves
        it ``running``, and the next store opened marks it ``interrupted``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        method = config.model.fusion
        source = Path(str(config.data.source)).name or str(config.data.source)
        while True:
            run_id = self._new_id(method)
            try:
                with closing(self._connect()) as db, db:
                    db.execute(
                        "INSERT INTO runs (run_id, label, dataset, method, seed, created, workspace, status, "
                        "pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            run_id,
                            label or method,
                            source,
                            method,
                            config.train.seed,
                            datetime.now().isoformat(timespec="seconds"),
                            self._write_workspace(),
                            RUNNING,
                            os.getpid(),
                            socket.gethostname(),
                        ),
                    )
                break
            except sqlite3.IntegrityError:  # another writer took this id a moment ago
                continue
        try:
            yield run_id
        finally:
            with closing(self._connect()) as db, db:
                db.execute("DELETE FROM runs WHERE run_id = ? AND status = ?", (run_id, RUNNING))

    def save(self, result: RunResult, run_id: str | None = None) -> str:
        """Write the run's folder and index row; set and return ``result.run_id``.

        ``run_id`` is the id ``registered`` handed out, when the run was registered.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        run_id = run_id or self._new_id(result.method)

        def write(staging: Path) -> None:
            _write_json(staging / "config.json", result.config.to_dict())
            _write_json(staging / "metrics.json", result.metrics)
            _write_json(staging / "history.json", [asdict(log) for log in result.history])
            _write_json(
                staging / "preprocessing_state.json",
                {"state": result.preprocessing_state, "options": result.preprocessing},
            )
            _write_json(
                staging / "input_specs.json", {name: _spec_to_dict(s) for name, s in _specs(result).items()}
            )
            _write_json(staging / "run.json", _run_record(result, run_id))
            _predictions_frame(result).to_csv(staging / "predictions.csv", index=False)
            if result.model is not None:
                state = {key: value.detach().cpu() for key, value in result.model.state_dict().items()}
                torch.save(state, staging / WEIGHTS_FILE)

        return self._publish(run_id, result, write)

    def add_files(self, files: dict[str, bytes], result: RunResult) -> str:
        """Save a run that arrives as checked files (an imported zip); return its id in this store.

        ``result`` is what ``parse_run`` read from ``files``. The run keeps its id unless this
        store already has one by that name or the id is not a safe folder name.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        wanted = str(result.run_id or "")
        if _SAFE_ID.match(wanted) and not (self.root / wanted).exists():
            run_id = wanted
        else:
            run_id = self._new_id(result.method)

        def write(staging: Path) -> None:
            for name, data in files.items():
                (staging / name).write_bytes(data)
            record = _read_json(staging / "run.json")
            record["run_id"] = run_id
            _write_json(staging / "run.json", record)

        return self._publish(run_id, result, write)

    def _publish(self, run_id: str, result: RunResult, write: Callable[[Path], None]) -> str:
        """Fill a hidden staging folder with ``write``, rename it to the run's folder, index it.

        The staging folder carries the writing process's id, so that a store opened after that
        process died can tell it is abandoned (``_recover``)."""
        staging = self.root / f"{_STAGING_PREFIX}{run_id}.{os.getpid()}"
        staging.mkdir()
        try:
            write(staging)
            staging.rename(self.root / run_id)  # the folder appears complete or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        result.run_id = run_id
        columns = (*INDEX_COLUMNS, "workspace", "status", "pid", "host")
        with closing(self._connect()) as db, db:
            db.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                (*_index_row(result), self._write_workspace(), DONE, None, None),
            )
        return run_id

    def _write_workspace(self) -> str:
        return self.workspace or DEFAULT_WORKSPACE

    def rename(self, run_id: str, label: str) -> None:
        """Give a run a new label (its id stays)."""
        folder = self._folder(run_id)
        record = _read_json(folder / "run.json")
        record["label"] = label
        _write_json(folder / "run.json", record)
        with closing(self._connect()) as db, db:
            db.execute("UPDATE runs SET label = ? WHERE run_id = ?", (label, run_id))

    def delete(self, run_id: str) -> None:
        """Remove a run's folder and its index row."""
        folder = self._folder(run_id)
        shutil.rmtree(folder)
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # -- reading ------------------------------------------------------------------------

    def list(self, dataset: str | None = None, status: str = DONE) -> list[dict[str, Any]]:
        """Index rows (dicts with ``INDEX_COLUMNS``), newest first: the saved runs this store sees
        (its workspace's and the default one's, or all without a workspace); only ``dataset``'s when
        given. ``status`` lists the runs ``running`` now or ``interrupted`` instead."""
        if not (self.root / INDEX_FILE).is_file():
            return []
        query = f"SELECT {', '.join(INDEX_COLUMNS)} FROM runs WHERE status = ?"
        args: list[Any] = [status]
        if self.workspace is not None:
            query += " AND workspace IN (?, ?)"
            args += [self.workspace, DEFAULT_WORKSPACE]
        if dataset is not None:
            query += " AND dataset = ?"
            args.append(dataset)
        with closing(self._connect()) as db:
            rows = db.execute(query + " ORDER BY rowid DESC", args).fetchall()
        return [dict(zip(INDEX_COLUMNS, row, strict=True)) for row in rows]

    def load(self, run_id: str) -> RunResult:
        """Read a run back, with its model rebuilt and its weights loaded (on the CPU, eval mode)."""
        folder = self._folder(run_id)

        def read(name: str) -> bytes | None:
            path = folder / name
            return path.read_bytes() if path.is_file() else None

        try:
            return parse_run(read, run_id)
        except RunFileError as exc:
            raise RunNotFoundError(
                f"run {run_id!r} has a damaged or missing file in {folder} ({exc}); "
                "delete the run and train it again"
            ) from None
        except WeightsMismatchError:
            raise RunNotFoundError(
                f"run {run_id!r} holds weights that no longer fit its model (it was saved by an "
                "earlier version with other defaults); train it again"
            ) from None

    def folder(self, run_id: str) -> Path:
        """The folder holding a run's files."""
        return self._folder(run_id)

    # -- internals ----------------------------------------------------------------------

    def _folder(self, run_id: str) -> Path:
        folder = self.root / str(run_id)
        if not _SAFE_ID.match(str(run_id)) or not (folder / "run.json").is_file():
            raise RunNotFoundError(f"no run {run_id!r}; see 'fusion-explorer runs' for the saved run ids")
        return folder

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.root / INDEX_FILE, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer, nor it for them
            db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a commit survives the process being killed
            with db:
                # One writer at a time from here to the commit: a store opening the same new folder
                # at once must see the columns this one adds, not add them a second time.
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, label TEXT, dataset TEXT, "
                    "method TEXT, seed INTEGER, fold INTEGER, macro_f1 REAL, accuracy REAL, params INTEGER, "
                    "train_seconds REAL, epochs_run INTEGER, device TEXT, created TEXT)"
                )
                present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
                for column, kind in _EXTRA_COLUMNS.items():
                    if column not in present:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise DataError(
                f"{self.root / INDEX_FILE} is not a usable run index ({exc}); move it aside or use another "
                "runs folder"
            ) from None
        if not self._recovered:
            self._recovered = True
            self._recover(db)
        return db

    def _recover(self, db: sqlite3.Connection) -> None:
        """Mark runs whose training process on this machine is gone ``interrupted``; remove their
        staging folders. Runs trained by live processes, or on other machines, are left alone."""
        host = socket.gethostname()
        with db:
            rows = db.execute("SELECT run_id, pid FROM runs WHERE status = ? AND host = ?", (RUNNING, host))
            dead = [(INTERRUPTED, run_id) for run_id, pid in rows.fetchall() if not _alive(pid)]
            db.executemany("UPDATE runs SET status = ? WHERE run_id = ?", dead)
        for staging in self.root.glob(f"{_STAGING_PREFIX}*"):
            pid = staging.name.rsplit(".", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(staging, ignore_errors=True)

    def _new_id(self, method: str) -> str:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", method).strip("-").lower() or "run"
        while True:
            run_id = f"{stamp}-{slug}-{secrets.token_hex(2)}"
            if not (self.root / run_id).exists():
                return run_id


def check_workspace(name: str) -> str:
    """A workspace name, checked: letters, digits, '-' and '_', at most 40 characters."""
    if not WORKSPACE_PATTERN.match(str(name)):
        raise ConfigError(
            "a workspace name takes 1 to 40 letters, digits, '-' or '_', starting with a letter or digit; "
            "choose a name like 'class-3b'"
        )
    return str(name)


def _alive(pid: Any) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError, OverflowError):
        return True  # someone else's process, or no id to check: do not declare it dead
    return True


# -----------------------------------------------------------------------------
# reading a run from its files (a folder or a checked zip)


class RunFileError(Exception):
    """A run file is missing, cut short or not in the expected format (the message says which)."""


class WeightsMismatchError(Exception):
    """The saved weights do not fit the network the saved configuration builds."""


def parse_run(read: Callable[[str], bytes | None], run_id: str) -> RunResult:
    """Build a ``RunResult`` from a run's files; ``read(name)`` gives a file's bytes or None.

    The weights are read with ``torch.load(..., weights_only=True)``, which refuses
    anything but tensors and plain containers, and must fit the network the saved
    configuration builds exactly (``load_state_dict(strict=True)``).

    Raises:
        RunFileError: a file missing, damaged or of the wrong shape (the message names it).
        WeightsMismatchError: weights for another network.
        ConfigError: a configuration that builds no model (e.g. an unknown fusion method).
    """
    from fusion_core.model import build_model

    def text(name: str) -> str:
        raw = read(name)
        if raw is None:
            raise RunFileError(f"{name} is missing")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RunFileError(f"{name} is not UTF-8 text") from None

    def data(name: str) -> Any:
        try:
            return json.loads(text(name))
        except ValueError as exc:
            raise RunFileError(f"{name} is not valid JSON: {exc}") from None

    try:
        record = data("run.json")
        config = ExperimentConfig.from_dict(data("config.json"))
        specs = {name: _spec_from_dict(raw) for name, raw in data("input_specs.json").items()}
        preprocessing = data("preprocessing_state.json")
        metrics = data("metrics.json")
        history = [EpochLog(**log) for log in data("history.json")]
        class_names = [str(name) for name in record["class_names"]]
        task = str(record.get("task", "classification"))  # runs saved before regression existed
        if task == "regression":
            predictions = pd.read_csv(io.StringIO(text("predictions.csv")), dtype={"id": str})
            y_true = predictions["true"].astype(float)
            y_pred = predictions["predicted"].astype(float)
            probabilities = y_pred.to_numpy(dtype=np.float64)[:, None]
        else:
            predictions = pd.read_csv(
                io.StringIO(text("predictions.csv")), dtype={"id": str, "true": str, "predicted": str}
            )
            index_of = {name: i for i, name in enumerate(class_names)}
            y_true = predictions["true"].map(index_of)
            y_pred = predictions["predicted"].map(index_of)
            if y_true.isna().any() or y_pred.isna().any():
                raise RunFileError("predictions.csv names classes that run.json does not list")
            probabilities = predictions[[_probability_column(c) for c in class_names]].to_numpy(
                dtype=np.float32
            )
        preprocessing_state, preprocessing_options = preprocessing["state"], preprocessing["options"]
        if not isinstance(preprocessing_state, dict) or not isinstance(metrics, dict):
            raise RunFileError("preprocessing_state.json or metrics.json is not a JSON object")
        fields = {
            key: record[key]
            for key in (
                "label",
                "method",
                "dataset_name",
                "seed",
                "fold",
                "params",
                "train_seconds",
                "epochs_run",
                "stopped",
                "device",
                "created",
            )
        }
    except RunFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a file edited or cut short
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunFileError(f"{type(exc).__name__}: {reason}") from None

    model = None
    weights_bytes = read(WEIGHTS_FILE)
    if weights_bytes is not None:
        model = build_model(specs, len(class_names), config.model, task=task)
        try:
            weights = torch.load(io.BytesIO(weights_bytes), map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses pickled code; a damaged file fails too
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise RunFileError(
                f"{WEIGHTS_FILE} is not a plain state dict of tensors (it would need pickled code or is "
                f"damaged: {reason})"
            ) from None
        if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise RunFileError(f"{WEIGHTS_FILE} is not a state dict of named tensors")
        try:
            model.load_state_dict(weights)
        except RuntimeError:
            raise WeightsMismatchError from None
        model.eval()
    return RunResult(
        run_id=run_id,
        config=config,
        metrics=metrics,
        history=history,
        class_names=class_names,
        test_ids=predictions["id"].tolist(),
        y_true=y_true.to_numpy(dtype=np.float64 if task == "regression" else np.int64),
        y_pred=y_pred.to_numpy(dtype=np.float64 if task == "regression" else np.int64),
        probabilities=probabilities,
        model=model,
        preprocessing_state=preprocessing_state,
        preprocessing=preprocessing_options,
        input_specs=specs,
        task=task,
        target_scale=tuple(float(v) for v in record.get("target_scale", (0.0, 1.0))),
        **fields,
    )


# -----------------------------------------------------------------------------
# file formats


def _write_json(path: Path, payload: Any) -> None:
    """Write beside the file and rename over it: a reader sees the old file or the new one, whole."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    os.replace(partial, path)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot save {type(value).__name__} as JSON")


def _specs(result: RunResult) -> dict[str, InputSpec]:
    if result.input_specs:
        return result.input_specs
    encoders = getattr(result.model, "encoders", {})
    return {name: encoder.spec for name, encoder in encoders.items()}


def _spec_to_dict(spec: InputSpec) -> dict[str, Any]:
    return {"form": spec.form, "shape": list(spec.shape), "vocab_size": spec.vocab_size}


def _spec_from_dict(raw: dict[str, Any]) -> InputSpec:
    return InputSpec(raw["form"], tuple(raw["shape"]), raw.get("vocab_size"))


def _probability_column(class_name: str) -> str:
    return f"prob_{class_name}"


def _predictions_frame(result: RunResult) -> pd.DataFrame:
    if result.task == "regression":  # values in the target's units, no probabilities
        return pd.DataFrame({"id": result.test_ids, "true": result.y_true, "predicted": result.y_pred})
    names = np.asarray(result.class_names, dtype=object)
    frame = pd.DataFrame(
        {"id": result.test_ids, "true": names[result.y_true], "predicted": names[result.y_pred]}
    )
    for i, name in enumerate(result.class_names):
        frame[_probability_column(name)] = result.probabilities[:, i]
    return frame


def _run_record(result: RunResult, run_id: str) -> dict[str, Any]:
    return {
        "format": RUN_FORMAT,
        "run_id": run_id,
        "label": result.label,
        "method": result.method,
        "dataset_name": result.dataset_name,
        "seed": result.seed,
        "fold": result.fold,
        "class_names": list(result.class_names),
        "task": result.task,
        "target_scale": list(result.target_scale),
        "params": result.params,
        "train_seconds": result.train_seconds,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "device": result.device,
        "created": result.created,
    }


def _index_row(result: RunResult) -> tuple[Any, ...]:
    return (
        result.run_id,
        result.label,
        result.dataset_name,
        result.method,
        result.seed,
        result.fold,
        # a regression run has no macro-F1 or accuracy; its R² is in metrics.json
        None if result.task == "regression" else float(result.metrics["macro_f1"]),
        None if result.task == "regression" else float(result.metrics["accuracy"]),
        int(result.params),
        float(result.train_seconds),
        int(result.epochs_run),
        result.device,
        result.created,
    )
