"""Time ``fusion-explorer compare --data digits-audio --methods all --seeds 1`` with the default settings.

Prints each method's test macro-F1, epochs and seconds, chance level, and the
total wall time (loading and preparing the data included). The target is at
most 60 s on a 2-core machine, with every method above chance.

    .venv/bin/python bench/bench_compare.py
    .venv/bin/python bench/bench_compare.py --data shapes-captions --epochs 10
"""

from __future__ import annotations

import argparse
import tempfile
import time

from fusion_core.config import DataConfig, TrainConfig
from fusion_core.experiment import compare, summarize
from fusion_core.runs import RunStore
from fusion_core.samples import DEFAULT_SAMPLE

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_SAMPLE)
    parser.add_argument("--methods", default="all")
    parser.add_argument("--epochs", type=int, help="override the default number of epochs")
    parser.add_argument("--batch-size", type=int, help="override the default batch size")
    parser.add_argument("--lr", type=float, help="override the default learning rate")
    parser.add_argument("--patience", type=int, help="override the default patience")
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if k in ("epochs", "batch_size", "lr", "patience") and v}
    train = TrainConfig(**overrides)
    print(f"training settings: {train}", flush=True)

    started, cpu_started = time.perf_counter(), time.process_time()

    def show(result, index, total):
        print(
            f"[{index:>2}/{total}] {result.method:<16} macro-F1 {result.metrics['macro_f1']:.3f}  "
            f"epochs {result.epochs_run:>2} ({result.stopped})  {result.train_seconds:5.1f} s  "
            f"(elapsed {time.perf_counter() - started:5.1f} s, CPU {time.process_time() - cpu_started:5.1f} s)",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as runs:
        results = compare(
            DataConfig(source=args.data),
            args.methods,
            seeds=1,
            train=train,
            store=RunStore(runs),
            on_run=show,
        )
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    chance = 1 / len(results[0].class_names)
    rows = summarize(results)
    below = [row["method"] for row in rows if row["macro_f1_mean"] <= chance]
    print(f"\nchance macro-F1 ≈ {chance:.3f}; best {rows[0]['method']} {rows[0]['macro_f1_mean']:.3f}")
    print(f"methods at or below chance: {', '.join(below) or 'none'}")
    print(
        f"total {total:.1f} s wall, {cpu:.1f} s CPU, for {len(results)} runs (target at most {TARGET_SECONDS:.0f} s)"
    )
    print("(on a busy machine the CPU time, not the wall time, shows what an idle one would take)")


if __name__ == "__main__":
    main()
