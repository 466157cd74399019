"""A job's end always reaches the page whole: every run, the links, and no Stop button.

The worker thread and the page's polling fragment race at the end of every job.
Here fifty jobs end at random moments relative to the page's runs: each replays
four real, saved runs through the same callbacks that training calls, with
random pauses, while the Train page is drawn again and again. Whatever the
timing, a view that says "Finished" must show all four runs in its table and
the links to Results and Compare, and no Stop button; and every job's last view
must be that one.
"""

from __future__ import annotations

import random
import time

import pytest
from app_helpers import new_app, open_page, problems
from bundle_factory import write_bundle

from fusion_core.config import DataConfig, ModelConfig, TrainConfig
from fusion_core.experiment import compare
from fusion_core.runs import RunStore
from ui import state
from ui.jobs import Job, start_job

JOBS = 50
METHODS = ["only:tabular", "only:note", "concat", "late"]


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory):
    """Four real runs, trained and saved once."""
    folder = tmp_path_factory.mktemp("job-race")
    bundle = write_bundle(folder, n=30, modalities=("tabular", "text"))
    store = RunStore(folder / "runs")
    results = compare(
        DataConfig(source=str(bundle)),
        METHODS,
        train=TrainConfig(epochs=2, batch_size=16, device="cpu"),
        model_template=ModelConfig(embedding_dim=8),
        store=store,
    ).runs
    assert [r.method for r in results] == METHODS
    return folder / "runs", results


def replay(results, rng: random.Random):
    """The worker: each run's epochs, then the run itself, with the pauses of a (very fast) training."""

    def work(job: Job) -> None:
        for index, result in enumerate(results):
            for log in result.history:
                time.sleep(rng.uniform(0.0, 0.01))
                job.on_epoch(log)
            time.sleep(rng.uniform(0.0, 0.02))
            job.on_run(result, index, len(results))

    return work


def what_the_page_shows(at) -> dict:
    progress = [p.proto.text for p in at.get("progress")]
    main_progress = [text for text in progress if "·" in text]
    tables = [d.value for d in at.dataframe if "run" in d.value.columns]
    return {
        "status": main_progress[0] if main_progress else "",
        "runs": list(tables[0]["run"]) if tables else [],
        "links": sorted(link.proto.label for link in at.get("page_link")),
        "stop": any(b.label == "Stop" for b in at.button),
    }


def test_fifty_job_endings_all_reach_the_page_whole(saved_runs, monkeypatch):
    runs_dir, results = saved_runs
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(runs_dir))
    labels = [r.label for r in results]
    rng = random.Random(8)
    at = open_page(new_app(), "train")
    assert problems(at) == []
    endings = []
    for number in range(JOBS):
        job = start_job(
            Job(title=f"race {number}", planned_runs=len(results), epochs=2), replay(results, rng)
        )
        at.session_state[state.JOB] = job
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.0, 0.03))
            at.run()
            assert problems(at) == []
            shown = what_the_page_shows(at)
            seen.append(shown)
            if "Finished" in shown["status"]:
                assert shown["runs"] == labels, (number, shown)
                assert shown["links"] == ["Compare runs", "Open the results"], (number, shown)
                assert not shown["stop"], (number, shown)
                break
            assert shown["status"].startswith("**Training**"), (number, shown)
        else:
            raise AssertionError(f"job {number} never showed as finished: {seen[-3:]}")
        job.wait(10)
        endings.append(len(seen))
        assert at.session_state[state.SELECTED_RUN] == results[-1].run_id
    # The endings really fell at different moments: some jobs ended before the first look.
    assert len(set(endings)) > 1, endings
