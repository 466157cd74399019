"""ONNX is an optional extra: without its packages everything else works and export says how to get them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


WITHOUT_EXTRA = """
import sys
for name in ("onnx", "onnxruntime", "onnxscript"):
    sys.modules[name] = None  # as if not installed
from fusion_core.cli import main
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.experiment import run_experiment
from fusion_core.runs import RunStore
store = RunStore(sys.argv[1])
config = ExperimentConfig(DataConfig(source="cancer-views"), ModelConfig(fusion="concat"), TrainConfig(epochs=1))
run_id = run_experiment(config, store=store).run_id
assert main(["export", "--run", run_id, "--out", sys.argv[1] + "/run.zip", "--runs-dir", sys.argv[1]]) == 0
raise SystemExit(main(["export", "--run", run_id, "--onnx", sys.argv[1] + "/m.onnx", "--runs-dir", sys.argv[1]]))
""".strip()


def test_without_the_onnx_extra_export_to_zip_works_and_onnx_says_how_to_install(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert (tmp_path / "run.zip").is_file() and not (tmp_path / "m.onnx").exists()
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: exporting to ONNX needs the package(s) onnx, onnxscript, onnxruntime")
    assert "fusion-explorer[onnx]" in error
