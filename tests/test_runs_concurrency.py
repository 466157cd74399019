"""The run store shared by many writers: workspaces, runs registered while they train, and a
training process killed mid-run that leaves the store whole and its run marked interrupted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bundle_factory import write_views_bundle

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.errors import ConfigError
from fusion_core.experiment import run_experiment
from fusion_core.runs import INDEX_FILE, RunStore, check_workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return write_views_bundle(tmp_path_factory.mktemp("data") / "views", 120)


def tiny(bundle, seed: int = 0, epochs: int = 2) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="concat", embedding_dim=8),
        train=TrainConfig(epochs=epochs, seed=seed, device="cpu"),
    )


def index_rows(root: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(root / INDEX_FILE) as db:
        try:
            return db.execute("SELECT run_id, status FROM runs ORDER BY rowid").fetchall()
        except sqlite3.OperationalError as error:  # the file exists before its table does
            if "no such table" in str(error):
                return []
            raise


def test_workspaces_see_their_runs_and_the_shared_ones(bundle, tmp_path):
    root = tmp_path / "runs"
    ours = run_experiment(tiny(bundle, 0), store=RunStore(root, workspace="class-3b")).run_id
    theirs = run_experiment(tiny(bundle, 1), store=RunStore(root, workspace="session-other")).run_id
    shared = run_experiment(tiny(bundle, 2), store=RunStore(root)).run_id  # the CLI's default workspace
    assert {r["run_id"] for r in RunStore(root, workspace="class-3b").list()} == {ours, shared}
    assert {r["run_id"] for r in RunStore(root, workspace="session-other").list()} == {theirs, shared}
    assert {r["run_id"] for r in RunStore(root).list()} == {ours, theirs, shared}
    with pytest.raises(ConfigError, match="letters, digits"):
        check_workspace("../etc")
    with pytest.raises(ConfigError, match="workspace name"):
        RunStore(root, workspace="<b>x</b>")


def test_a_run_is_listed_as_running_while_it_trains_and_done_after(bundle, tmp_path):
    root = tmp_path / "runs"
    seen: list[list[tuple[str, str]]] = []
    config = tiny(bundle, epochs=3)
    result = run_experiment(config, store=RunStore(root), on_epoch=lambda log: seen.append(index_rows(root)))
    assert seen and all(rows == [(result.run_id, "running")] for rows in seen)
    assert index_rows(root) == [(result.run_id, "done")]
    assert RunStore(root).list(status="running") == []


def test_a_failed_run_leaves_no_entry(bundle, tmp_path):
    root = tmp_path / "runs"

    def fail(log):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_experiment(tiny(bundle), store=RunStore(root), on_epoch=fail)
    assert index_rows(root) == []


def test_concurrent_writers_keep_the_index_whole(bundle, tmp_path):
    root = tmp_path / "runs"
    errors: list[BaseException] = []

    def train(seed: int) -> None:
        try:
            run_experiment(tiny(bundle, seed, epochs=1), store=RunStore(root, workspace=f"w{seed % 2}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=train, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    rows = RunStore(root).list()
    assert len(rows) == 4 and len({r["run_id"] for r in rows}) == 4
    assert all((root / r["run_id"] / "run.json").is_file() for r in rows)
    with sqlite3.connect(root / INDEX_FILE) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_a_training_killed_mid_run_is_marked_interrupted_and_the_next_run_works(bundle, tmp_path):
    root = tmp_path / "runs"
    command = [sys.executable, "-m", "fusion_core", "train", "--data", str(bundle), "--fusion", "concat"]
    command += ["--runs-dir", str(root), "--device", "cpu"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [*command, "--epochs", "500", "--patience", "500"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not ((root / INDEX_FILE).is_file() and index_rows(root)):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the training never registered its run"
            time.sleep(0.1)
        time.sleep(0.5)  # well into training
        [(run_id, status)] = index_rows(root)
        assert status == "running"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert process.returncode == -signal.SIGKILL

    store = RunStore(root)  # the next start
    assert store.list() == []
    assert [r["run_id"] for r in store.list(status="interrupted")] == [run_id]
    assert not (root / run_id).exists() and not list(root.glob(".saving-*"))
    with sqlite3.connect(root / INDEX_FILE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    following = run_experiment(tiny(bundle, epochs=1), store=RunStore(root))
    assert [r["run_id"] for r in store.list()] == [following.run_id]
    assert store.load(following.run_id).metrics["macro_f1"] > 0
    assert [r["run_id"] for r in store.list(status="interrupted")] == [run_id]
