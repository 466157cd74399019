"""One model over two processes: ``torchrun --nproc_per_node 2 -m fusion_core train`` on the CPU (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from bundle_factory import write_views_bundle

from fusion_core.cli import main
from fusion_core.runs import RunStore

pytestmark = pytest.mark.slow
TRAIN = ["--fusion", "concat", "--epochs", "6", "--patience", "6", "--batch-size", "16", "--seed", "0"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return write_views_bundle(tmp_path_factory.mktemp("ddp") / "views", 1600, seed=3)


def test_torchrun_with_two_processes_trains_one_run_as_good_as_one_process(bundle, tmp_path, capsys):
    runs = tmp_path / "ddp-runs"
    environment = {**os.environ, "FUSION_EXPLORER_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "fusion_core", "train", "--data", bundle, *TRAIN, "--device", "cpu"]
    command += ["--runs-dir", str(runs), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    listed = RunStore(runs).list()
    assert len(listed) == 1, "only rank 0 saves the run"
    distributed = RunStore(runs).load(listed[0]["run_id"])
    assert distributed.epochs_run >= 1

    assert (
        main(["train", "--data", bundle, *TRAIN, "--device", "cpu", "--runs-dir", str(tmp_path / "one")]) == 0
    )
    capsys.readouterr()
    single = RunStore(tmp_path / "one")
    alone = single.load(single.list()[0]["run_id"])
    print(
        f"test macro-F1: 2 processes {distributed.metrics['macro_f1']:.3f}, one {alone.metrics['macro_f1']:.3f}"
    )
    assert abs(distributed.metrics["macro_f1"] - alone.metrics["macro_f1"]) <= 0.03, (
        distributed.metrics["macro_f1"],
        alone.metrics["macro_f1"],
    )
