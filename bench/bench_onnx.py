"""ONNX export: how closely onnxruntime reproduces PyTorch, and how fast each scores the test split.

For each fusion method on each sample dataset: train one epoch, export the
network with PyTorch's own exporter, then run the test split through both. It
prints the largest absolute difference of the logits (the goal is under 1e-4)
and the ratio of onnxruntime's time to PyTorch's for scoring the whole test split
in one batch (medians of several interleaved rounds, one thread each).

    .venv/bin/python bench/bench_onnx.py
    .venv/bin/python bench/bench_onnx.py --methods concat,late --samples cancer-views --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from fusion_core.analysis.report import data_for_run
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.experiment import run_experiment
from fusion_core.onnx_export import PRESENT_SUFFIX, check_parity, export_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="concat,late,attention,gated")
    parser.add_argument("--samples", default="cancer-views,support-tickets")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import onnxruntime

    torch.set_num_threads(1)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    print(f"{'method':>10}  {'data':<16} {'rows':>5}  {'max |Δ logits|':>14}  {'ORT / PyTorch time':>18}")
    with tempfile.TemporaryDirectory() as folder:
        for sample in args.samples.split(","):
            for method in args.methods.split(","):
                config = ExperimentConfig(
                    data=DataConfig(source=sample),
                    model=ModelConfig(fusion=method),
                    train=TrainConfig(epochs=1),
                )
                run = run_experiment(config)
                path = export_onnx(run, Path(folder) / f"{sample}-{method}.onnx")
                data, rows = data_for_run(run)
                names = run.model.modality_names
                inputs = {n: data.modalities[n].values[rows] for n in names}
                masks = {n: data.modalities[n].present[rows] for n in names}
                parity = check_parity(run, path, inputs, masks)
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                feed = {n: inputs[n].numpy() for n in names} | {
                    f"{n}{PRESENT_SUFFIX}": masks[n].numpy() for n in names
                }
                torch_times, ort_times = [], []
                for _ in range(args.rounds):  # interleaved, so a busy machine slows both alike
                    start = time.perf_counter()
                    with torch.inference_mode():
                        run.model(inputs, masks)
                    torch_times.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    session.run(["logits"], feed)
                    ort_times.append(time.perf_counter() - start)
                ratio = statistics.median(ort_times) / statistics.median(torch_times)
                print(
                    f"{method:>10}  {sample:<16} {parity.rows:>5}  {parity.max_abs_diff:>14.2e}  {ratio:>17.2f}x"
                )


if __name__ == "__main__":
    main()
