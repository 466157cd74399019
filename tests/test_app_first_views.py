"""What a page draws first: elements whose browser code is slow to load wait until the user asks for them.

A Plotly chart or a data grid (``st.dataframe``, ``st.data_editor``) makes the
browser fetch and start their code, Plotly's alone 4.7 MB; drawn on arrival, they
made Data the slowest page to switch to. Its first view holds metrics, static
tables and text; each heavy element is built when its expander is opened, and
then it is there. Likewise a job's start changes the sidebar's progress bar
rather than adding one (a new element stands as a grey box while its code loads).
"""

from __future__ import annotations

import re
import threading

import pytest
from app_helpers import metric_value, new_app, problems
from bundle_factory import ALL_MODALITIES, write_bundle

from fusion_core.samples import DEFAULT_SAMPLE, list_samples
from ui import state
from ui.jobs import Job, start_job
from ui.widgets import IDLE_JOB_TEXT

HEAVY = ("plotly_chart", "dataframe")
"""Element types whose browser code is loaded on first use (``st.data_editor`` is a ``dataframe`` too)."""


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))


def heavy_elements(at) -> dict[str, int]:
    return {kind: len(at.get(kind)) for kind in HEAVY if at.get(kind)}


def arrive_at_data(at):
    """Switch to Data through the navigation, as a click in the sidebar does (widget state is reset)."""
    at.switch_page("pages/home.py").run()
    return at.switch_page("pages/data.py").run()


def test_default_sample_arrives_light_and_every_section_opens(app_env):
    at = arrive_at_data(new_app())
    assert problems(at) == []
    assert heavy_elements(at) == {}
    info = next(i for i in list_samples() if i.name == DEFAULT_SAMPLE)
    assert metric_value(at, "Samples") == str(info.samples)
    assert any(c.value.startswith("Data path in training: in memory (about") for c in at.caption)
    # The report's facts are on the first view as plain text: the modalities, and samples per class.
    modalities, classes = (
        t.value.splitlines() for t in at.text if t.value.lstrip().startswith(("modality", "class"))
    )
    assert [line.split()[0] for line in modalities[1:]] == list(info.modalities)
    rows = [re.fullmatch(r"\s*(\S+)\s+(\d+)\s+([\d.]+)%\s+#+", line) for line in classes[1:]]
    assert all(rows), classes
    assert sum(int(row[2]) for row in rows) == info.samples
    assert sum(float(row[3]) for row in rows) == pytest.approx(100, abs=0.1 * len(rows))

    sections = {
        "data_report_balance_open": lambda at: at.get("plotly_chart"),
        "data_manifest_open": lambda at: at.get("dataframe"),
        # The first modality's preview: thumbnails, clips with spectrograms, charts or a table.
        "data_preview_open": lambda at: at.image or at.get("plotly_chart") or at.get("dataframe"),
        "data_schema_open": lambda at: at.get("dataframe"),
    }
    for key, drawn in sections.items():
        at = arrive_at_data(at)
        assert heavy_elements(at) == {}, f"{key}: heavy on arrival"
        at.session_state[key] = True
        at.run()
        assert problems(at) == [], key
        assert drawn(at), f"opening {key} drew nothing"


def test_an_upload_of_every_type_arrives_light_and_each_preview_opens(app_env, tmp_path):
    """Tables (tabular, text) and charts (audio, series) of the previews wait for a click."""
    bundle = write_bundle(tmp_path, n=20, modalities=ALL_MODALITIES, name="every-type")
    at = new_app()
    at.session_state[state.DATASET] = state.DatasetChoice("upload", bundle.name, str(bundle), bundle.name)
    at = arrive_at_data(at)
    assert problems(at) == []
    assert heavy_elements(at) == {}
    assert metric_value(at, "Samples") == "20"
    at.session_state["data_preview_open"] = True
    at.run()
    labels = [tab.label for tab in at.tabs if tab.label.endswith(")")]
    assert len(labels) == len(ALL_MODALITIES)
    drawn = {}
    for label in labels:
        at.session_state["data_preview_tabs"] = label
        at.run()
        assert problems(at) == [], label
        drawn[label.split("(")[-1].rstrip(")")] = heavy_elements(at)
    assert drawn["audio"].get("plotly_chart") and drawn["series"].get("plotly_chart")
    assert drawn["tabular"].get("dataframe") and drawn["text"].get("dataframe")


def test_the_sidebar_job_line_is_one_progress_bar_before_during_and_after_a_job(app_env):
    """Starting a job updates the sidebar's bar instead of adding an element the browser must load."""
    release = threading.Event()
    at = new_app()
    idle = at.sidebar.get("progress")
    assert [bar.proto.text for bar in idle] == [IDLE_JOB_TEXT]
    job = start_job(Job(title="one run", planned_runs=1, epochs=1), lambda job: release.wait(10))
    try:
        at.session_state[state.JOB] = job
        at.switch_page("pages/train.py").run()
        running = at.sidebar.get("progress")
        assert len(running) == 1 and running[0].proto.text.startswith("one run: ")
    finally:
        release.set()
        job.wait(10)
    at.run()
    done = at.sidebar.get("progress")
    assert [bar.proto.text for bar in done] == ["one run: done"]
