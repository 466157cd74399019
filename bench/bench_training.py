"""How much the training engine costs over a bare PyTorch loop, per epoch.

Both sides train the same model (same weights at the start), on the same data
held in memory, with the same batch size, optimiser and thread setting, and
both slice batches by index from a per-epoch permutation. The bare loop is
what a careful person would write by hand: train, then score the validation
rows once per epoch (the engine does that too, for early stopping). The
difference is the engine's own work: gradient norms per encoder, loss
accumulation, callbacks, cancellation checks and the per-epoch bookkeeping.

Both use the same memory layout (channels-last for 2-D convolutions on a CPU,
which the engine picks), so the ratio is the engine's overhead alone.

The two are run interleaved (A, B, A, B, …) so that a busy machine slows both
alike; the medians of the per-epoch times are compared.

    .venv/bin/python bench/bench_training.py                 # default dataset + a two-view tabular case
    .venv/bin/python bench/bench_training.py --rounds 7 --epochs 6
    .venv/bin/python bench/bench_training.py --threads       # 1 against 2 CPU threads
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from fusion_core.config import DataConfig, ModelConfig, TrainConfig
from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.model import build_model
from fusion_core.training import (
    DeviceTensors,
    channels_last_modalities,
    fit,
    resolve_threads,
    training_batch_size,
)

TARGET_RATIO = 1.15


def bare_loop_epochs(model: nn.Module, data: PreparedData, config: TrainConfig, epochs: int) -> list[float]:
    """Seconds per epoch of a hand-written loop: train on index-sliced batches, then score validation.

    Like the engine it keeps a running average of the weights (``config.average_weights``), the
    way the PyTorch documentation shows: ``AveragedModel`` with an EMA, updated after every step,
    and the average is what is scored.
    """
    torch.manual_seed(config.seed)
    tensors = DeviceTensors.from_prepared(data, torch.device("cpu"))
    channels_last = channels_last_modalities(model, data)  # the same memory layout as the engine
    if channels_last:
        model.to(memory_format=torch.channels_last)
        for name in channels_last:
            tensors.values[name] = tensors.values[name].contiguous(memory_format=torch.channels_last)
    train_rows, val_rows = data.splits.train, data.splits.val
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    batch_size = training_batch_size(len(train_rows), config.batch_size)  # the batch the engine trains with
    scored = model
    if config.average_weights > 0:
        steps = math.ceil(len(train_rows) / batch_size)
        decay = 0.5 ** (1 / (config.average_weights * steps))
        scored = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        order = train_rows[torch.randperm(len(train_rows))]
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            if len(rows) < 2:
                continue
            inputs, masks = tensors.take(rows)
            loss = nn.functional.cross_entropy(model(inputs, masks), tensors.labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scored is not model:
                scored.update_parameters(model)
        scored.eval()
        with torch.inference_mode():
            inputs, masks = tensors.take(val_rows)
            logits = scored(inputs, masks)
            nn.functional.cross_entropy(logits, tensors.labels[val_rows]).item()
        times.append(time.perf_counter() - start)
    model.to(memory_format=torch.contiguous_format)
    return times


def engine_epochs(model: nn.Module, data: PreparedData, config: TrainConfig) -> list[float]:
    """Seconds per epoch of ``fit`` (from the epoch timestamps it records)."""
    result = fit(model, data, config)
    stamps = [0.0] + [log.seconds for log in result.history]
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def compare_case(
    name: str, data: PreparedData, fusion: str, rounds: int, epochs: int, batch_size: int
) -> float:
    config = TrainConfig(epochs=epochs, patience=epochs, batch_size=batch_size, device="cpu")
    torch.manual_seed(0)
    template = build_model(data.input_specs(), data.num_classes, ModelConfig(fusion=fusion))
    initial = {k: v.clone() for k, v in template.state_dict().items()}
    params = sum(p.numel() for p in template.parameters())

    def fresh() -> nn.Module:
        template.load_state_dict(initial)
        return template

    torch.set_num_threads(resolve_threads())
    engine_epochs(fresh(), data, TrainConfig(epochs=1, device="cpu", batch_size=batch_size))  # warm up both
    bare_loop_epochs(fresh(), data, config, 1)

    engine, bare = [], []
    for _ in range(rounds):
        engine += engine_epochs(fresh(), data, config)[1:]  # the first epoch of a run pays one-off costs
        bare += bare_loop_epochs(fresh(), data, config, epochs)[1:]
    e, b = statistics.median(engine), statistics.median(bare)
    ratio = e / b
    print(
        f"{name:<34} {fusion:<8} {params:>9,} params  train rows {len(data.splits.train):>5}  "
        f"batch {training_batch_size(len(data.splits.train), batch_size):>3}  engine {e * 1000:7.1f} ms/epoch  bare {b * 1000:7.1f} ms/epoch  "
        f"ratio {ratio:.3f} {'ok' if ratio <= TARGET_RATIO else 'OVER ' + str(TARGET_RATIO)}",
        flush=True,
    )
    return ratio


def thread_sweep(name: str, data: PreparedData, rounds: int, epochs: int, batch_size: int) -> None:
    """Seconds per epoch of ``fit`` with 1 and with 2 threads, interleaved."""
    config = TrainConfig(epochs=epochs, patience=epochs, batch_size=batch_size, device="cpu")
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for threads in times:
            torch.manual_seed(0)
            model = build_model(data.input_specs(), data.num_classes, ModelConfig(fusion="concat"))
            result = fit(model, data, config, threads=threads)
            stamps = [log.seconds for log in result.history]
            times[threads] += [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    medians = {threads: statistics.median(values) for threads, values in times.items()}
    print(
        f"{name:<34} threads 1: {medians[1] * 1000:7.1f} ms/epoch  threads 2: {medians[2] * 1000:7.1f} ms/epoch",
        flush=True,
    )


def two_view_tabular(n: int = 5000, dims: tuple[int, int] = (30, 30), num_classes: int = 2) -> PreparedData:
    """A synthetic two-view table (as in the design notes: 5000 samples, two feature views)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    modalities = {}
    for i, d in enumerate(dims):
        values = torch.randn(n, d, generator=g) + labels[:, None].float() * (0.3 + 0.1 * i)
        name = f"view{i + 1}"
        modalities[name] = PreparedModality(
            name, "tabular", "vector", values, torch.ones(n, dtype=torch.bool)
        )
    order = torch.randperm(n, generator=g)
    a, b = int(0.65 * n), int(0.8 * n)
    return PreparedData(
        "two-view-tabular",
        modalities,
        labels,
        [str(c) for c in range(num_classes)],
        [str(i) for i in range(n)],
        Splits(order[:a], order[a:b], order[b:]),
    )


def load_sample(name: str) -> PreparedData | None:
    from fusion_core.data import load_dataset
    from fusion_core.modalities import prepare
    from fusion_core.samples import SAMPLES

    if name not in SAMPLES:
        return None
    return prepare(load_dataset(name), DataConfig(source=name))


def main() -> None:
    from fusion_core.samples import DEFAULT_SAMPLE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved engine/bare rounds")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per round (the first is not timed)")
    parser.add_argument("--threads", action="store_true", help="time 1 against 2 threads instead")
    args = parser.parse_args()
    if args.threads:
        batch = TrainConfig().batch_size
        thread_sweep(DEFAULT_SAMPLE, load_sample(DEFAULT_SAMPLE), args.rounds, args.epochs, batch)
        thread_sweep("synthetic two-view table (5000)", two_view_tabular(), args.rounds, args.epochs, batch)
        return

    print(f"threads: {resolve_threads()} (set FUSION_EXPLORER_THREADS to change)")
    batch = TrainConfig().batch_size
    ratios = [
        compare_case(DEFAULT_SAMPLE, load_sample(DEFAULT_SAMPLE), "concat", args.rounds, args.epochs, batch)
    ]
    tabular = load_sample("cancer-views")
    if tabular is not None:
        ratios.append(compare_case("cancer-views", tabular, "concat", args.rounds, args.epochs, batch))
    ratios.append(
        compare_case(
            "synthetic two-view table (5000)", two_view_tabular(), "concat", args.rounds, args.epochs, batch
        )
    )
    print(f"worst ratio {max(ratios):.3f} (target at most {TARGET_RATIO})")


if __name__ == "__main__":
    main()
