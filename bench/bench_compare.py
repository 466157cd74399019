"""Time ``fusion-explorer compare --data digits-audio --methods all --seeds 1`` with the default settings.

Prints each method's test macro-F1, epochs (and why training stopped) and
seconds, chance level, and the total wall time (loading and preparing the data included). The requirement is
at most 60 s on a 2-core machine (aim for 45 s on a busy one), with every
method above chance; on the default dataset the feature-level (intermediate)
methods should be near early fusion and clearly above the best single modality.
The last lines check exactly that.

    .venv/bin/python bench/bench_compare.py
    .venv/bin/python bench/bench_compare.py --data shapes-captions --epochs 10
"""

from __future__ import annotations

import argparse
import tempfile
import time

from fusion_core.baselines import is_baseline_method
from fusion_core.config import DataConfig, TrainConfig
from fusion_core.experiment import BASELINE_PREFIX, compare, summarize
from fusion_core.fusion import FUSIONS, split_method
from fusion_core.runs import RunStore
from fusion_core.samples import DEFAULT_SAMPLE

TARGET_SECONDS = 60.0
CLEAR_GAIN = 0.1  # "clearly above the best single modality": at least this much macro-F1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_SAMPLE)
    parser.add_argument("--methods", default="all")
    parser.add_argument("--epochs", type=int, help="override the default number of epochs")
    parser.add_argument("--batch-size", type=int, help="override the default batch size")
    parser.add_argument("--lr", type=float, help="override the default learning rate")
    parser.add_argument("--patience", type=int, help="override the default patience")
    parser.add_argument("--schedule", help="override the default learning-rate schedule")
    args = parser.parse_args()
    tunable = ("epochs", "batch_size", "lr", "patience", "schedule")
    overrides = {k: v for k, v in vars(args).items() if k in tunable and v}
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
        comparison = compare(
            DataConfig(source=args.data),
            args.methods,
            seeds=1,
            train=train,
            store=RunStore(runs),
            on_run=show,
        )
    results = comparison.runs
    for problem in comparison.problems:
        print(f"{problem.method}: {problem.status}, {problem.reason}")
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    chance = 1 / len(results[0].class_names)
    rows = summarize(results)
    below = [row["method"] for row in rows if row["macro_f1_mean"] <= chance]
    print(f"\nchance macro-F1 ≈ {chance:.3f}; best {rows[0]['method']} {rows[0]['macro_f1_mean']:.3f}")
    print(f"methods at or below chance: {', '.join(below) or 'none'}")
    show_fusion_gains(rows)
    print(
        f"total {total:.1f} s wall, {cpu:.1f} s CPU, for {len(results)} runs (target at most {TARGET_SECONDS:.0f} s)"
    )
    print("(on a busy machine the CPU time, not the wall time, shows what an idle one would take)")


def show_fusion_gains(rows: list[dict]) -> None:
    """Early fusion, the best single modality, and how the feature-level methods compare with both."""
    f1 = {row["method"]: row["macro_f1_mean"] for row in rows}
    singles = {m: v for m, v in f1.items() if m.startswith(BASELINE_PREFIX)}
    neural = [m for m in f1 if m not in singles and not is_baseline_method(m)]  # sk: baselines have no level
    levels = {m: FUSIONS.get(split_method(m)[0]).level for m in neural}
    if not singles:
        return
    best_single = max(singles, key=singles.get)
    print(f"best single modality: {best_single} {singles[best_single]:.3f}")
    intermediate = sorted((m for m, level in levels.items() if level == "intermediate"), key=f1.get)
    if "early" in f1:
        print(f"early fusion: {f1['early']:.3f}")
    if intermediate:
        lowest = intermediate[0]
        clear = [m for m in intermediate if f1[m] >= singles[best_single] + CLEAR_GAIN]
        print(
            f"feature-level methods: {f1[lowest]:.3f} ({lowest}) to {f1[intermediate[-1]]:.3f} "
            f"({intermediate[-1]}); {len(clear)} of {len(intermediate)} at least {CLEAR_GAIN:g} above "
            f"{best_single}"
        )


if __name__ == "__main__":
    main()
