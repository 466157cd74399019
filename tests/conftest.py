"""Suite-wide settings: one torch thread, and runs saved outside the working tree.

Small models on a busy 2-core machine train several times faster on one thread
than on two, so every test runs with one (tests that measure threads set their own).
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

os.environ.setdefault("FUSION_EXPLORER_RUNS", tempfile.mkdtemp(prefix="fusion-explorer-test-runs-"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
