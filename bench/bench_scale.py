"""Scaling past one process: Ray against in-process, DDP against one process, memory-mapped data.

Prints, measured in one run:

1. a 12-run grid (4 methods x 3 seeds) trained in this process, then through the
   Ray executor on a local cluster of 2 workers: wall time of each, the ratio, and
   the overhead per run (busy worker time not spent training, divided by runs);
2. ``torchrun`` DDP with 2 processes against 1 on the same data: time per epoch, ratio;
3. peak resident memory of one training epoch over a generated image dataset of at
   least ``--gigabytes`` GB of preprocessed values, read through the memory-mapped path
   (target: under 1.5 GB), and time per sample against the in-memory path on a
   slice that fits in memory. The values are written straight into the array that
   preparing an image modality writes to the cache (decoding some 370,000 picture
   files first would measure the decoder, not the data path); the epoch runs in a
   fresh process, which maps it as a cached dataset is mapped, and reports its own
   peak (``VmHWM`` in ``/proc/self/status``: ``ru_maxrss`` would carry over the peak
   of the process it was started from).

On a 2-core machine expect the Ray ratio near 1x (two workers share two cores with
the driver) and DDP near 1x or slower (gloo's all-reduce per step costs about what
the halved batches save on models this small).

    .venv/bin/python bench/bench_scale.py
    .venv/bin/python bench/bench_scale.py --skip-memmap
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.config import DataConfig, ModelConfig, TrainConfig
from fusion_core.experiment import compare

METHODS = ["only:clinical", "only:genomics", "concat", "late"]
RSS_TARGET_GB = 1.5


def peak_gb() -> float:
    """This process's own peak resident memory (``VmHWM``), in GB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024**2


def write_tabular(folder: Path, n: int, columns: int = 16) -> str:
    """Two tabular views; the class needs both."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    table = pd.DataFrame({"id": [f"s{i:06d}" for i in range(n)], "label": [f"k{v}" for v in 2 * a + b]})
    for i in range(columns):
        table[f"c{i}"] = a * (i == 0) * 2.0 + rng.normal(size=n)
        table[f"g{i}"] = b * (i == 0) * 2.0 + rng.normal(size=n)
    table.to_csv(folder / "manifest.csv", index=False)
    views = {"clinical": [f"c{i}" for i in range(columns)], "genomics": [f"g{i}" for i in range(columns)]}
    schema = {"modalities": {name: {"type": "tabular", "columns": cols} for name, cols in views.items()}}
    (folder / "schema.json").write_text(json.dumps(schema))
    return str(folder)


def _warm_up() -> None:
    import fusion_core.experiment  # noqa: F401


def grid(source: str, epochs: int) -> None:
    import ray

    from fusion_core.executors import RayExecutor

    train = TrainConfig(epochs=epochs, patience=epochs, device="cpu")
    template = ModelConfig()
    started = time.perf_counter()
    here = compare(DataConfig(source=source), METHODS, seeds=3, train=train, model_template=template)
    in_process = time.perf_counter() - started

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    executor = RayExecutor()
    startup = time.perf_counter() - started
    started = time.perf_counter()
    warm = ray.remote(num_cpus=1)(_warm_up)
    ray.get([warm.remote() for _ in range(2)])  # each worker imports torch once
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    remote = compare(
        DataConfig(source=source), METHODS, seeds=3, train=train, model_template=template, executor=executor
    )
    on_ray = time.perf_counter() - started
    ray.shutdown()
    same = all(
        a.metrics["macro_f1"] == b.metrics["macro_f1"] for a, b in zip(here.runs, remote.runs, strict=True)
    )
    runs = len(here.runs)
    useful_here = sum(r.train_seconds for r in here.runs)
    useful_ray = sum(r.train_seconds for r in remote.runs)
    print(f"1. grid of {runs} runs ({len(METHODS)} methods x 3 seeds, {epochs} epochs each)")
    print(f"   in-process           {in_process:7.1f} s  (training {useful_here:.1f} s)")
    print(f"   Ray, 2 workers       {on_ray:7.1f} s  (training {useful_ray:.1f} s)")
    print(f"   once per cluster: start {startup:.1f} s, workers' first import of torch {warm_up:.1f} s")
    print(f"   ratio in-process/Ray {in_process / on_ray:7.2f}x")
    print(f"   overhead per run     in-process {(in_process - useful_here) / runs:.2f} s, "
          f"Ray {(on_ray * 2 - useful_ray) / runs:.2f} s of worker time")  # fmt: skip
    print(f"   same macro-F1 run by run: {same}")


def ddp(source: str, epochs: int) -> None:
    times = {}
    for processes in (1, 2):
        with tempfile.TemporaryDirectory() as runs:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
            command += ["--nproc_per_node", str(processes), "-m", "fusion_core", "train", "--data", source]
            command += ["--fusion", "concat", "--epochs", str(epochs), "--patience", str(epochs)]
            command += ["--device", "cpu", "--runs-dir", runs, "--json"]
            environment = {**os.environ, "OMP_NUM_THREADS": "1"}
            done = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
            report = json.loads(done.stdout)
            times[processes] = report["train_seconds"] / report["epochs_run"]
            f1 = report["metrics"]["macro_f1"]
            print(f"   {processes} process{'es' if processes > 1 else ''}: {times[processes]:.3f} s per epoch, "
                  f"test macro-F1 {f1:.3f}")  # fmt: skip
    print(f"   ratio 1 process / 2 processes: {times[1] / times[2]:.2f}x")


MEMMAP_CHILD = r"""
import sys, time, torch
from fusion_core.config import ModelConfig, TrainConfig
from fusion_core.data.mapped import open_mapped
from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.model import build_model
from fusion_core.training import fit
path, n, in_memory = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "memory"
values = open_mapped(path)[:n]
if in_memory:
    values = values.clone()
labels = torch.arange(n) % 4
everything = torch.arange(n)
image = PreparedModality("image", "image", "grid", values, torch.ones(n, dtype=torch.bool))
data = PreparedData("big", {"image": image}, labels, ["a", "b", "c", "d"], [str(i) for i in range(n)],
                    Splits(everything[: n - 64], everything[n - 64 :], everything[:0]))
model = build_model(data.input_specs(), 4, ModelConfig(fusion="only:image"))
started = time.perf_counter()
fit(model, data, TrainConfig(epochs=1, batch_size=128, device="cpu"))
seconds = time.perf_counter() - started
# VmHWM: this process's own peak (ru_maxrss would carry over the parent's from before exec)
peak_kb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
print(seconds / n, peak_kb / 1024**2)
"""


def memmap(gigabytes: float, side: int, slice_samples: int) -> None:
    from fusion_core.data.mapped import write_mapped

    shape = (3, side, side)
    per_sample = 4 * 3 * side * side
    n = int(np.ceil(gigabytes * 1024**3 / per_sample))
    folder = Path(tempfile.mkdtemp(prefix="fusion-memmap-"))
    free = shutil.disk_usage(folder).free
    if free < (gigabytes + 2) * 1024**3:
        print(f"3. skipped: {free / 1024**3:.1f} GB free in {folder.parent}, need {gigabytes + 2:.0f} GB")
        return
    try:
        path = folder / "image.npy"
        started = time.perf_counter()
        target = write_mapped(path, (n, *shape))
        rng = np.random.default_rng(0)
        chunk = 2048
        noise = rng.standard_normal((chunk, *shape), dtype=np.float32)
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            target[start : start + rows] = noise[:rows] + np.float32(start % 7)
        target.flush()
        del target
        print(f"3. {n} images of {shape} = {path.stat().st_size / 1024**3:.2f} GB written in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip

        def child(samples: int, mode: str) -> tuple[float, float]:
            done = subprocess.run(
                [sys.executable, "-c", MEMMAP_CHILD, str(path), str(samples), mode],
                capture_output=True, text=True, check=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )  # fmt: skip
            per_sample, peak = done.stdout.split()
            return float(per_sample), float(peak)

        per_sample_all, peak = child(n, "mapped")
        verdict = "meets" if peak < RSS_TARGET_GB else "misses"
        print(f"   one epoch over all of it, memory-mapped: peak resident {peak:.2f} GB ({verdict} the "
              f"{RSS_TARGET_GB} GB target), {per_sample_all * 1e3:.3f} ms per sample")  # fmt: skip
        mapped_time, mapped_peak = child(slice_samples, "mapped")
        memory_time, memory_peak = child(slice_samples, "memory")
        print(f"   slice of {slice_samples}: memory-mapped {mapped_time * 1e3:.3f} ms per sample "
              f"(peak {mapped_peak:.2f} GB), in memory {memory_time * 1e3:.3f} ms per sample "
              f"(peak {memory_peak:.2f} GB), ratio {mapped_time / memory_time:.2f}x")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid-samples", type=int, default=600)
    parser.add_argument("--grid-epochs", type=int, default=8)
    parser.add_argument("--ddp-samples", type=int, default=20000)
    parser.add_argument("--ddp-epochs", type=int, default=3)
    parser.add_argument("--gigabytes", type=float, default=4.2, help="size of the generated image data")
    parser.add_argument("--side", type=int, default=32, help="image side in pixels")
    parser.add_argument("--slice", type=int, default=8000, help="samples in the slice that fits in memory")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-ddp", action="store_true")
    parser.add_argument("--skip-memmap", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_grid:
            grid(write_tabular(Path(folder) / "grid", args.grid_samples), args.grid_epochs)
        if not args.skip_ddp:
            print(f"2. DDP on {args.ddp_samples} samples, concat, {args.ddp_epochs} epochs")
            ddp(write_tabular(Path(folder) / "ddp", args.ddp_samples), args.ddp_epochs)
    if not args.skip_memmap:
        memmap(args.gigabytes, args.side, args.slice)
    # Writing the generated array maps its pages into this process; training ran in the children.
    print(f"(this process, which generated the data: peak resident memory {peak_gb():.2f} GB)")


if __name__ == "__main__":
    main()
