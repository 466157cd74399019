"""Suite-wide settings: one torch thread, runs saved outside the working tree, and AppTest on app.py's routing.

Small models on a busy 2-core machine train several times faster on one thread
than on two, so every test runs with one (tests that measure threads set their own).
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
from streamlit.runtime.pages_manager import PagesManager

os.environ.setdefault("FUSION_EXPLORER_RUNS", tempfile.mkdtemp(prefix="fusion-explorer-test-runs-"))


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (two CPUs, no dashboard, no network) for every test that needs one.

    Ray takes seconds to start and its workers seconds to import torch, so the whole session shares it.
    """
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _route_through_app_py(monkeypatch):
    """Keep Streamlit's old ``pages/`` folder routing off, as it is in a server once app.py has run.

    A served app turns that routing off for good the first time ``st.navigation`` runs. AppTest
    turns it back on before every run (a ``pages/`` folder sits beside app.py), so each page
    switched to would run alone, without app.py's frame, sidebar and error handling.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
