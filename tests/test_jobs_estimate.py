"""The time left comes from measured epoch and run times, not from the share of work done so far."""

from __future__ import annotations

import pytest

from fusion_core.training import EpochLog
from ui import jobs


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Result:
    """What ``Job.on_run`` reads of a finished run."""

    def __init__(self, label: str, history: list[EpochLog]) -> None:
        self.label, self.history, self.run_id = label, history, None


def log(epoch: int, seconds: float) -> EpochLog:
    return EpochLog(epoch, 1.0, 1.0, 0.5, 0.5, {}, seconds)


def test_time_left_follows_measured_epochs_and_runs(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(jobs.time, "monotonic", clock)
    # Three runs of four 1-second epochs; 10 s of data preparation first, then 0.5 s to set up each
    # later run and 0.5 s to test and save each one.
    job = jobs.Job(title="t", planned_runs=3, epochs=4)
    truth_end = 10 + 3 * 4 + 3 * 0.5 + 2 * 0.5
    seen = []
    clock.now = 10.0
    for run in range(3):
        if run:
            clock.now += 0.5
        start, history = clock.now, []
        for epoch in range(1, 5):
            clock.now = start + epoch
            history.append(log(epoch, float(epoch)))
            job.on_epoch(history[-1])
            seen.append((clock.now, job.eta()))
        clock.now += 0.5
        job.on_run(Result(f"run {run}", history))
    assert clock.now == truth_end
    # Before any run has finished, the estimate is epochs × measured epoch time: the 10 s of
    # preparation, which the old pace-based estimate spread over the whole job, do not count.
    now, eta = seen[1]
    assert eta == pytest.approx(2 + 2 * 4)
    # From the second run on, finished runs' wall times are known and the estimate is close.
    for now, eta in seen[5:]:
        assert eta == pytest.approx(truth_end - now, abs=1.0), (now, eta)
    assert job.eta() is not None
    job.end()
    assert job.eta() is None and job.view().finished
