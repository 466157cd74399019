"""Many users on one server: jobs wait in one queue for a pool of workers, each session sees its
own jobs and their place in the queue, and a waiting job can be cancelled before it starts."""

from __future__ import annotations

import threading
import time

import pytest
from app_helpers import new_app, open_page, problems
from bundle_factory import write_views_bundle

from fusion_core.errors import ConfigError
from fusion_core.runs import RunStore
from ui import state
from ui.jobs import WORKERS_ENV, Job, JobQueue, job_queue, start_job, worker_count


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_the_pool_runs_at_most_its_size_at_once_in_order():
    queue = JobQueue(2)
    lock = threading.Lock()
    running, most, order = [0], [0], []

    def work(job: Job) -> None:
        job.shown.set()
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            order.append(job.title)
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    jobs = [Job(title=str(i), planned_runs=1, epochs=1) for i in range(6)]
    for job in jobs:
        job.shown.set()
        queue.submit(job, work)
    assert [job.view().queued for job in jobs] == [None, None, 0, 1, 2, 3]
    for job in jobs:
        job.wait(10)
    assert most[0] == 2 and order == [str(i) for i in range(6)]
    assert all(job.finished is not None and job.error is None for job in jobs)
    assert queue.waiting() == 0


def test_the_worker_count_is_set_in_one_place(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert worker_count() == 3
    monkeypatch.setenv(WORKERS_ENV, "many")
    with pytest.raises(ConfigError, match="FUSION_EXPLORER_WORKERS must be a whole number"):
        worker_count()
    monkeypatch.delenv(WORKERS_ENV)
    assert worker_count() >= 1


def test_a_queued_job_shows_its_place_and_is_cancelled_before_it_starts(app_env):
    queue = job_queue()
    release = threading.Event()
    others = [
        start_job(Job(title=f"another session {i}", planned_runs=1, epochs=1), lambda job: release.wait(30))
        for i in range(queue.size)
    ]
    ahead = start_job(Job(title="another session, waiting", planned_runs=1, epochs=1), lambda job: None)
    try:
        at = open_page(new_app(), "train")
        at.number_input(key="train_epochs").set_value(1).run()
        at.button(key="train_start").click().run()
        assert problems(at) == []
        job = at.session_state[state.JOB]
        assert job.view().queued == 1
        status = [p.proto.text for p in at.get("progress") if "·" in p.proto.text]
        assert status[0].startswith("**Queued**") and "1 job ahead" in status[0]
        # The page shows this session's job only: nothing of the others' titles.
        shown = " ".join(p.proto.text for p in at.get("progress")) + " ".join(m.value for m in at.markdown)
        assert "another session" not in shown

        queue.cancel(ahead)  # the job ahead leaves the queue: this one moves up
        at.run()
        status = [p.proto.text for p in at.get("progress") if "·" in p.proto.text]
        assert "next to start" in status[0]

        at.button(key="train_monitor_cancel").click().run()
        assert problems(at) == []
        assert job.finished is not None and job.stopped_by_user and not job.results
        assert queue.waiting() == 0
        at.run()
        status = [p.proto.text for p in at.get("progress") if "·" in p.proto.text]
        assert status[0].startswith("**Stopped**")
        assert not at.button(key="train_start").disabled
    finally:
        release.set()
        for other in others:
            other.wait(10)
    assert all(other.error is None for other in others) and ahead.stopped_by_user
    assert RunStore(app_env).list() == [] and RunStore(app_env).list(status="running") == []


def test_a_workspace_in_the_address_lists_its_runs_and_no_one_elses(app_env, tmp_path):
    from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
    from fusion_core.experiment import run_experiment

    bundle = write_views_bundle(tmp_path / "views", 80)
    config = ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="concat", embedding_dim=8),
        train=TrainConfig(epochs=1, device="cpu"),
    )
    ours = run_experiment(config, store=RunStore(app_env, workspace="class-3b"), label="ours").run_id
    run_experiment(config, store=RunStore(app_env, workspace="session-someone"), label="theirs")

    def results_options(at) -> list[str]:
        open_page(at, "results")
        assert problems(at) == []
        boxes = [box for box in at.selectbox if box.key == "results_run"]
        return list(boxes[0].options) if boxes else []

    at = new_app()
    at.query_params[state.WORKSPACE_PARAM] = "class-3b"
    at.run()
    assert "`class-3b`" in " ".join(md.value for md in at.sidebar.markdown)
    options = results_options(at)
    assert len(options) == 1 and options[0].startswith("ours")
    assert at.session_state[state.SELECTED_RUN] == ours

    assert results_options(new_app()) == []  # a new session has a private workspace of its own

    at = new_app()
    at.query_params[state.WORKSPACE_PARAM] = "<b>bad</b>"
    at.run()
    assert any("workspace name takes 1 to 40 letters" in e.value for e in at.sidebar.error)
    assert at.session_state[state.WORKSPACE].startswith("session-")
