"""How fast preprocessing turns each sample dataset into tensors, cold and cached.

For every sample dataset (and a generated series dataset, since the series
type is otherwise only covered when a sample has one) it prints, per
modality, how many samples per second a cold fit + transform handles, then
the time of a whole ``prepare`` cold (cache off), from the disk cache, and
from the in-memory cache.

    python bench/bench_preprocessing.py            # every sample dataset
    python bench/bench_preprocessing.py --only digits-audio
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.config import DataConfig  # noqa: E402
from fusion_core.data import Dataset, ModalitySpec, load_dataset, make_splits  # noqa: E402
from fusion_core.modalities import MODALITIES, prepare  # noqa: E402
from fusion_core.modalities.base import column_values  # noqa: E402
from fusion_core.modalities.pipeline import clear_memory_cache  # noqa: E402

UNITS = {
    "image": "images/s",
    "audio": "clips/s",
    "series": "series/s",
    "text": "texts/s",
    "tabular": "rows/s",
}


def generated_series(root: Path, n: int = 1000) -> Dataset:
    """A bundle of ``n`` 3-channel series of 100-200 steps, with a label."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        np.save(root / f"s{i}.npy", rng.normal(size=(100 + i % 100, 3)).astype(np.float32))
        paths.append(f"s{i}.npy")
    table = pd.DataFrame(
        {"id": [f"s{i}" for i in range(n)], "label": [str(i % 3) for i in range(n)], "ser": paths}
    )
    specs = {"sensor": ModalitySpec("sensor", "series", ["ser"])}
    return Dataset("generated-series", root, table, "id", "label", specs, content_hash=f"series-{n}")


def bench_dataset(dataset: Dataset) -> list[tuple[str, ...]]:
    rows = []
    splits = make_splits(dataset.label_indices(), seed=0)
    train_rows = splits.train.numpy()
    for name, spec in dataset.modalities.items():
        preprocessor = MODALITIES.get(spec.type)()
        present = sum(int(column_values(dataset, column)[1].sum()) for column in spec.columns[:1])
        start = time.perf_counter()
        state = preprocessor.fit(dataset, spec, train_rows)
        prepared = preprocessor.transform(dataset, spec, state)
        seconds = time.perf_counter() - start
        shape = "×".join(map(str, prepared.values.shape[1:]))
        rate = f"{present / seconds:,.0f} {UNITS[spec.type]}"
        rows.append((dataset.name, name, spec.type, str(present), shape, f"{seconds:.2f}", rate))

    config = DataConfig(source=dataset.name)
    timings = {}
    start = time.perf_counter()
    prepare(dataset, config, splits=splits, cache=False)
    timings["prepare, cache off"] = time.perf_counter() - start
    prepare(dataset, config, splits=splits)  # fills both caches
    clear_memory_cache()
    start = time.perf_counter()
    prepare(dataset, config, splits=splits)
    timings["prepare, from disk cache"] = time.perf_counter() - start
    start = time.perf_counter()
    prepare(dataset, config, splits=splits)
    timings["prepare, from memory cache"] = time.perf_counter() - start
    cold = timings["prepare, cache off"]
    for what, seconds in timings.items():
        speedup = "" if seconds == cold else f"{cold / seconds:,.0f}× faster"
        rows.append((dataset.name, what, "", str(len(dataset)), "", f"{seconds:.3f}", speedup))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("dataset", "modality / step", "type", "samples", "shape", "seconds", "throughput")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="bench just this sample dataset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["FUSION_EXPLORER_CACHE"] = str(Path(scratch) / "cache")  # a cold disk cache, left clean
        from fusion_core.samples import list_samples

        names = [info.name for info in list_samples()]
        if args.only:
            names = [args.only]
        datasets = [load_dataset(name) for name in names]
        if not args.only:
            series_root = Path(scratch) / "series"
            series_root.mkdir()
            datasets.append(generated_series(series_root))
        rows = []
        for dataset in datasets:
            rows.extend(bench_dataset(dataset))
        print(f"torch threads: {__import__('torch').get_num_threads()}, CPU cores: {os.cpu_count()}")
        print_table(rows)


if __name__ == "__main__":
    main()
