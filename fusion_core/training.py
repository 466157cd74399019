"""Training and evaluating a fusion model: one loop you can read top to bottom.

``fit`` trains a model on the training rows of a ``PreparedData`` and watches
the validation rows to decide when to stop; ``predict`` scores any rows.

Small models on a CPU spend their time on per-batch Python, not arithmetic, so
the loop is written to keep that overhead low:

* every tensor of the dataset (values, presence masks, labels) is moved to the
  device once, and a batch is a slice of a per-epoch random permutation of the
  training rows, gathered by index (no DataLoader, no per-sample Python);
* nothing is read back to the host inside the batch loop: the loss and the
  gradient norms are summed on the device and read once per epoch;
* evaluation runs under ``torch.inference_mode()`` in large batches.

Threads. On a CPU, PyTorch splits each operation across threads. For the small
models trained here the split costs more than it saves, and when the other
core is busy (the app's web server, another program) two threads stall badly:
on a two-core machine with one core taken, an epoch of the default sample's
concat model took 0.7 s with one thread and 10 s with two, and a 5000-sample
tabular model 0.2 s against 4.4 s (``bench/bench_training.py --threads``).
So training uses ``DEFAULT_THREADS`` (one) thread unless
``$FUSION_EXPLORER_THREADS`` or the ``threads`` argument says otherwise; the
previous setting is restored when ``fit`` returns.

Memory layout. On a CPU, 2-D convolutions run about 1.4-1.6x faster when
images are stored channels-last, so the grids of convolutional encoders are
laid out that way during training (the model is handed back in the usual layout).

Several processes. Started by ``torchrun`` (``fusion_core.distributed``), ``fit``
wraps the model, with its loss and the imbalance remedy's heads (``TrainingLosses``),
in ``DistributedDataParallel``: every process draws the same batch
order from a generator seeded by the epoch, trains on every N-th batch of it, and
gradients are averaged at each step. Each process scores the whole validation
split and the numbers are averaged once per epoch, so all of them keep the same
best epoch and stop together; the time budget is checked at the end of an epoch
only. OGM-GE rescales the averaged gradients by each process's own batch, so with it
the copies can drift apart a little; rank 0's is the one saved. With one process none
of this runs.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from fusion_core import distributed
from fusion_core.config import TrainConfig
from fusion_core.data.mapped import RELEASE_EVERY, is_mapped, release_pages
from fusion_core.data.types import MAIN_METRIC, METRIC_NAMES, PreparedData
from fusion_core.device import describe_device, resolve_device
from fusion_core.errors import ConfigError, TrainingError
from fusion_core.imbalance import make_remedy
from fusion_core.model import FusionModel

THREADS_ENV = "FUSION_EXPLORER_THREADS"
DEFAULT_THREADS = 1  # measured on a 2-core machine: steadier and faster than 2 for these model sizes
PROGRESS_CALLS_PER_EPOCH = 20  # on_batch is called at most this often per epoch
EVAL_ELEMENTS_PER_BATCH = 4_000_000  # evaluation batches hold about this many input numbers
# Gradient norms are taken on every 4th batch (their mean is still an honest estimate):
# on every batch they cost about 7% of an epoch of a small tabular model.
GRAD_NORM_EVERY = 4
FUSED_ADAM_DEVICES = ("cpu", "cuda")  # where torch.optim.Adam(W)(fused=True) runs
# A small training split trains with smaller batches, so that an epoch has at least this many
# updates (never below MIN_BATCH_SIZE rows): with 64-row batches, a table of 569 rows gets 6
# updates an epoch, and early stopping then judges a barely trained model. Measured with every
# fusion method, three seeds, linear path on: mean macro-F1 over methods +0.003 on a 1,000-row
# imbalanced table, +0.018 on a 400-row linear table, +0.000 on the breast-cancer sample; the
# concat row of four 500-row linear tables +0.003 to +0.016. 32 updates was no better than 16.
MIN_BATCHES_PER_EPOCH = 16
MIN_BATCH_SIZE = 8


# -----------------------------------------------------------------------------
# result records


@dataclass
class EpochLog:
    """What one epoch did; handed to ``on_epoch`` and kept in the history."""

    epoch: int  # 1-based
    train_loss: float
    val_loss: float
    val_macro_f1: float  # NaN for a regression task
    val_accuracy: float  # NaN for a regression task
    grad_norms: dict[str, float]  # mean gradient norm reaching each modality's encoder this epoch
    seconds: float  # wall time since training started
    val_r2: float | None = None  # a regression task's validation R² (None for classification)

    @property
    def val_score(self) -> float:
        """The task's main validation score: macro-F1, or R² for regression."""
        return self.val_macro_f1 if self.val_r2 is None else self.val_r2


@dataclass
class BatchProgress:
    """Where training is inside an epoch; handed to ``on_batch`` a few times per epoch."""

    epoch: int
    batch: int
    batches_per_epoch: int
    epochs: int


STOP_REASONS = ("completed", "early_stopping", "time_budget", "cancelled")
"""Why training ended: the epoch cap was reached, validation macro-F1 stopped improving,
the time budget ran out, or someone stopped it."""


@dataclass
class TrainResult:
    """How training went. The model itself was trained in place and holds the best weights."""

    history: list[EpochLog]
    best_epoch: int
    epochs_run: int
    stopped: str  # one of STOP_REASONS
    train_seconds: float
    device: str
    notes: list[str] = field(default_factory=list)  # settings that were ignored, and why


# -----------------------------------------------------------------------------
# training


def fit(
    model: nn.Module,
    data: PreparedData,
    config: TrainConfig,
    *,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train ``model`` on ``data``'s training rows; return the history, with the best weights restored.

    After each epoch the model is scored on the validation rows: with
    ``config.average_weights`` above 0, a running average of its weights (see
    ``WeightAverage``), else the weights as trained. The weights with the best
    validation macro-F1 (ties go to the lower validation loss) are kept, and
    training stops early when ``config.patience`` epochs in a row bring no improvement, after ``config.epochs`` epochs, or once
    ``config.time_budget`` seconds have passed (checked at every batch; at least
    one epoch is always scored). The learning rate follows ``config.schedule``
    (see ``LearningRateSchedule``). ``should_stop()`` is asked before every
    batch; when it returns True training stops at once and keeps the best model so far.

    The loss is the fused prediction's, plus what the fusion method trains its per-modality
    heads with (``Fusion.auxiliary_loss``) and what ``config.imbalance``'s remedy adds (its
    heads live only during training; see ``fusion_core.imbalance``). The history's training
    loss is the fused prediction's alone, comparable with the validation loss.

    Raises ``TrainingError`` when the loss stops being a finite number.
    """
    notes: list[str] = []

    # -- reproducibility and device -------------------------------------------------
    seed_everything(config.seed)
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(config.device)
    use_bf16 = config.bf16 and device.type == "cuda"
    if config.bf16 and not use_bf16:
        notes.append(f"bf16 was asked for but runs only on CUDA; trained in float32 on {device.type}")

    try:
        with cpu_threads(device, threads):
            return _fit(model, data, config, device, use_bf16, notes, on_epoch, on_batch, should_stop)
    finally:
        if config.deterministic:
            torch.use_deterministic_algorithms(previous_deterministic)


def _fit(model, data, config, device, use_bf16, notes, on_epoch, on_batch, should_stop) -> TrainResult:
    started = time.perf_counter()

    # -- data: every tensor on the device, once --------------------------------------
    train_rows = data.splits.train.to(device)
    val_rows = data.splits.val.to(device)
    if len(train_rows) == 0:
        raise ConfigError(
            "the training split is empty; use a larger dataset or a smaller test/validation fraction"
        )
    if len(val_rows) == 0:
        notes.append("the validation split is empty, so the training rows decide early stopping")
        val_rows = train_rows
    tensors = DeviceTensors.from_prepared(data, device)
    augments = {name: m.augment for name, m in data.modalities.items() if m.augment}
    if augments:
        from fusion_core.modalities import augment_batch
    n_train = len(train_rows)
    bounds = batch_bounds(n_train, training_batch_size(n_train, config.batch_size))
    world = dist.get_world_size() if distributed.active() else 1
    if world > 1:  # each process trains on every world-th batch; all take the same number of steps
        steps = max(1, len(bounds) // world)
        bounds = [bounds[(distributed.rank() + world * i) % len(bounds)] for i in range(steps)]
        shuffler = torch.Generator(device=device)
    report_every = max(1, math.ceil(len(bounds) / PROGRESS_CALLS_PER_EPOCH))
    eval_batch = evaluation_batch_size(data, config.batch_size)

    # -- model, optimiser, loss -------------------------------------------------------
    model.to(device)
    channels_last = (
        [name for name in channels_last_modalities(model, data) if not is_mapped(tensors.values[name])]
        if device.type == "cpu"
        else []
    )
    if channels_last:  # measured: 2-D convolutions on a CPU run about 1.6x faster channels-last
        model.to(memory_format=torch.channels_last)
        for name in channels_last:
            tensors.values[name] = tensors.values[name].contiguous(memory_format=torch.channels_last)
    remedy = imbalance_remedy(model, data, config, notes)
    if remedy is not None:
        remedy.to(device)
    optimizer = make_optimizer(model, config, extra=remedy)
    schedule = LearningRateSchedule(optimizer, config)
    class_weights = (
        inverse_frequency_weights(tensors.labels[train_rows], data.num_classes)
        if config.class_weighting and data.task == "classification"
        else None
    )
    loss_fn = loss_function(data.task, config, class_weights)
    losses: nn.Module = TrainingLosses(model, loss_fn, remedy)
    if world > 1:  # gradients are averaged over the processes at every step, so every copy stays the same
        losses = DistributedDataParallel(losses)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext
    watched: dict[str, list[nn.Parameter]] = {}  # each modality's encoder weights, for gradient norms
    for name, encoder in getattr(model, "encoders", {}).items():
        params = [p for p in encoder.parameters() if p.requires_grad]
        if params:  # a pass-through encoder (early fusion) has none
            watched[name] = params

    watched_groups = list(watched.values())
    # the weights that are scored and kept: a running average of the trained ones, or those themselves
    average = (
        WeightAverage(model, config.average_weights, len(bounds)) if config.average_weights > 0 else None
    )
    scored = model if average is None else average.model

    history: list[EpochLog] = []
    best = (-math.inf, -math.inf)  # (val score, -val loss) of the best epoch so far
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch, epochs_without_gain = 0, 0
    stopped = "completed"

    # -- training loop ----------------------------------------------------------------
    for epoch in range(1, config.epochs + 1):
        model.train()
        if world > 1:  # every process draws the same order (their global generators drift apart)
            shuffler.manual_seed(config.seed * 100_003 + epoch)
            order = train_rows[torch.randperm(n_train, device=device, generator=shuffler)]
        else:
            order = train_rows[torch.randperm(n_train, device=device)]
        loss_sum = torch.zeros((), device=device)
        grad_sum = torch.zeros(len(watched), device=device)
        rows_seen, norms_taken = 0, 0
        for batch_index, (start, stop) in enumerate(bounds):
            if should_stop is not None and should_stop():
                stopped = "cancelled"
                break
            if world == 1 and budget_spent(started, config.time_budget) and history:
                stopped = "time_budget"
                break
            rows = order[start:stop]
            inputs, masks = tensors.take(rows)
            if config.modality_dropout > 0:
                masks = drop_modalities(masks, config.modality_dropout)
            for name, kind in augments.items():
                inputs[name] = augment_batch(kind, inputs[name])
                if name in channels_last:
                    inputs[name] = inputs[name].contiguous(memory_format=torch.channels_last)

            with autocast():
                fused_loss, loss = losses(inputs, masks, tensors.labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if remedy is not None:
                remedy.after_backward(watched)
            if watched and batch_index % GRAD_NORM_EVERY == 0:
                grad_sum += encoder_grad_norms(watched_groups)
                norms_taken += 1
            optimizer.step()
            if average is not None:
                average.update()

            loss_sum += fused_loss.detach() * (stop - start)  # stays on the device: no sync per batch
            rows_seen += stop - start
            if on_batch is not None and ((batch_index + 1) % report_every == 0 or stop == n_train):
                on_batch(BatchProgress(epoch, batch_index + 1, len(bounds), config.epochs))

        if stopped in ("cancelled", "time_budget") and history:
            break  # keep the best epoch so far; a half-finished epoch is not scored

        # -- end of epoch: score on validation, one read from the device ----------------
        if rows_seen == 0:  # cancelled before the first batch: score the untrained model as it is
            loss_sum, rows_seen = (
                evaluate(model, tensors, train_rows, loss_fn, eval_batch, autocast)[0] * n_train,
                n_train,
            )
        val_loss, val_f1, val_accuracy = evaluate(scored, tensors, val_rows, loss_fn, eval_batch, autocast)
        if remedy is not None:
            val_features = (
                embeddings_in_batches(model, tensors, val_rows, eval_batch) if remedy.reads_validation else {}
            )
            remedy.end_epoch(val_loss, val_features, tensors.labels[val_rows], loss_fn)
        summary = torch.cat(
            [
                torch.stack([loss_sum / rows_seen, val_loss, val_f1, val_accuracy]),
                grad_sum / max(1, norms_taken),
            ]
        )
        if world > 1:  # one set of numbers for all processes, so they stop at the same epoch
            dist.all_reduce(summary)
            summary /= world
        train_loss, val_loss, val_f1, val_accuracy, *grad_means = summary.tolist()
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise TrainingError(
                non_finite_loss_message(
                    train_loss if not math.isfinite(train_loss) else val_loss, epoch, config
                )
            )

        regression = data.task == "regression"
        log = EpochLog(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_macro_f1=math.nan if regression else val_f1,
            val_accuracy=math.nan if regression else val_accuracy,
            grad_norms=dict(zip(watched, grad_means, strict=True)),
            seconds=time.perf_counter() - started,
            val_r2=val_f1 if regression else None,
        )
        history.append(log)
        if on_epoch is not None:
            on_epoch(log)

        # -- keep the best weights (a copy on the device, no disk) and stop early -------
        if (val_f1, -val_loss) > best:
            best, best_epoch, epochs_without_gain = (val_f1, -val_loss), epoch, 0
            best_state = {key: value.detach().clone() for key, value in scored.state_dict().items()}
        else:
            epochs_without_gain += 1
        if stopped == "cancelled":
            break
        if world > 1 and config.time_budget is not None:  # the processes agree on the time spent
            spent = torch.tensor([time.perf_counter() - started], device=device)
            dist.all_reduce(spent, op=dist.ReduceOp.MAX)
            if spent.item() >= config.time_budget and epoch < config.epochs:
                stopped = "time_budget"
                break
        if epochs_without_gain >= config.patience and epoch < config.epochs:
            stopped = "early_stopping"
            break
        if budget_spent(started, config.time_budget) and epoch < config.epochs:
            stopped = "time_budget"
            break
        schedule.step(epoch, improved=epochs_without_gain == 0)

    if best_state is not None:
        model.load_state_dict(best_state)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)  # hand back an ordinary model
    model.eval()
    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        epochs_run=len(history),
        stopped=stopped,
        train_seconds=time.perf_counter() - started,
        device=describe_device(device),
        notes=notes,
    )


def plateau_wait(patience: int) -> int:
    """Epochs without gain before the ``plateau`` schedule halves the rate: a third of the patience,
    rounded up, so the rate is cut at least once before early stopping ends a run."""
    return max(1, math.ceil(patience / 3))


class WeightAverage:
    """An exponential moving average of a model's weights, updated after every optimiser step.

    The averaged copy (``model``) is what ``fit`` scores on validation and keeps: the
    trained weights jitter from batch to batch, and their average sits nearer the middle of
    the region they wander over, which generalises better (Polyak & Juditsky 1992; the
    "EMA" of modern training recipes). ``half_life`` is in epochs: after that many epochs
    a step's weights count half as much in the average. Batch-norm statistics are averaged
    the same way. One fused ``lerp`` per step, on the device, with no host sync.

    Measured with every fusion method (``bench/bench_quality.py`` and three seeds on the
    breast-cancer sample), half-lives of 0.5, 1 and 2 epochs against none: mean test
    macro-F1 over methods 0.949 → 0.955, 0.954 and 0.956 on the breast-cancer sample, and
    early fusion on the two-view table 0.940 → 0.945 (0.5) over two seeds. 0.5 is the
    default: the average trails the trained weights by little, so early stopping still
    reacts within its patience.
    """

    def __init__(self, model: nn.Module, half_life: float, steps_per_epoch: int) -> None:
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        # the floating-point entries of both state dicts share storage with the modules' tensors
        self._trained = [t for t in model.state_dict().values() if t.is_floating_point()]
        self._average = [t for t in self.model.state_dict().values() if t.is_floating_point()]
        self.weight = 1 - 0.5 ** (1 / (half_life * max(1, steps_per_epoch)))  # of each new step

    def update(self) -> None:
        torch._foreach_lerp_(self._average, self._trained, self.weight)


def budget_spent(started: float, budget: float | None) -> bool:
    return budget is not None and time.perf_counter() - started >= budget


class LearningRateSchedule:
    """The learning rate of each epoch, set on the optimiser after every scored epoch.

    ``plateau`` (the default) halves the rate whenever validation macro-F1 has not
    improved for ``plateau_wait(patience)`` epochs, so a run gets finer passes at
    its best region before early stopping ends it. ``cosine`` warms up linearly over
    ``WARMUP_EPOCHS`` epochs, then follows a half cosine from the set rate to zero at
    the epoch cap. ``constant`` keeps the set rate.

    Why plateau by default: training ends when validation stops improving, long
    before a generous cap, so a cosine laid over the cap has barely started to
    decay when training stops, while halving on a plateau acts exactly when progress
    stalls. Measured on the bundled samples and the two-view table
    (``bench/bench_quality.py``), see the commit that introduced it.
    """

    WARMUP_EPOCHS = 2
    FACTOR = 0.5

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
        self.optimizer = optimizer
        self.kind = config.schedule
        self.base_lr = config.lr
        self.cap = config.epochs
        self.wait = plateau_wait(config.patience)
        self.since_gain = 0
        self.lr = self.base_lr
        if self.kind == "cosine":
            self._set(self.base_lr / (self.WARMUP_EPOCHS + 1))

    def _set(self, lr: float) -> None:
        self.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, epoch: int, *, improved: bool) -> None:
        """Set the rate for epoch ``epoch + 1``, after scoring epoch ``epoch``."""
        if self.kind == "plateau":
            self.since_gain = 0 if improved else self.since_gain + 1
            if self.since_gain >= self.wait:
                self.since_gain = 0
                self._set(self.lr * self.FACTOR)
        elif self.kind == "cosine":
            if epoch < self.WARMUP_EPOCHS:
                self._set(self.base_lr * (epoch + 1) / (self.WARMUP_EPOCHS + 1))
            else:
                progress = (epoch - self.WARMUP_EPOCHS) / max(1, self.cap - self.WARMUP_EPOCHS)
                self._set(self.base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def budget_rule(config: TrainConfig, task: str = "classification") -> str:
    """The training budget of ``config`` in one sentence, for the Train page and reports; ``task``
    names the validation score early stopping watches (macro-F1, or R² for regression)."""
    schedule = {
        "plateau": f"the learning rate is halved after {plateau_wait(config.patience)} epochs without gain",
        "cosine": f"the learning rate warms up for {LearningRateSchedule.WARMUP_EPOCHS} epochs, then "
        f"decays along a cosine to the cap",
        "constant": "the learning rate stays fixed",
    }[config.schedule]
    budget = f", or after {config.time_budget:g} s of training" if config.time_budget is not None else ""
    kept = (
        f"a running average of the weights (half-life {config.average_weights:g} epochs) is scored, and "
        "its best epoch kept"
        if config.average_weights > 0
        else "the best epoch's weights are kept"
    )
    return (
        f"Train until validation {METRIC_NAMES[MAIN_METRIC[task]]} has not improved for {config.patience} epochs in a row "
        f"({kept}), at most {config.epochs} epochs{budget}; {schedule}."
    )


def best_epoch(history: Sequence[EpochLog]) -> int:
    """The epoch ``fit`` keeps: best validation score (macro-F1, or R² for regression), ties to the
    lower validation loss (0 if none)."""
    if not history:
        return 0
    return max(history, key=lambda log: (log.val_score, -log.val_loss)).epoch


def stop_explanation(stopped: str, history: Sequence[EpochLog], train: TrainConfig) -> str:
    """Why a run ended, in words: ``stopped`` is one of ``STOP_REASONS``, ``history`` its epochs."""
    if stopped == "fitted":  # a classical sk: baseline
        return "Fitted by scikit-learn in one go; no epochs, no early stopping."
    epochs_run, best = len(history), best_epoch(history)
    kept = f"; the weights of epoch {best} are kept" if best else ""
    if stopped == "early_stopping":
        return (
            f"Stopped after {epochs_run} epochs: validation macro-F1 had not improved for "
            f"{epochs_run - best} epochs since its best, at epoch {best}."
        )
    if stopped == "time_budget":
        budget = f"of {train.time_budget:g} s " if train.time_budget is not None else ""
        return f"Stopped after {epochs_run} epochs: the time budget {budget}ran out{kept}."
    if stopped == "cancelled":
        return f"Stopped by hand after {epochs_run} epochs{kept}."
    return (
        f"Ran all {epochs_run} epochs: the cap was reached before validation macro-F1 stopped "
        f"improving{kept}. A higher cap might help."
    )


# -----------------------------------------------------------------------------
# prediction and evaluation


def predict(
    model: nn.Module,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | Sequence[int],
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``(n, C)`` and predicted class indices ``(n,)`` for ``rows`` of ``data``.

    For a regression task: the predicted values ``(n, 1)`` and ``(n,)``, in the target's units.

    Runs on ``device`` (the model is moved there), else on the model's own device.
    """
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = torch.device(device)
    model.to(device)
    rows = torch.as_tensor(np.asarray(rows), dtype=torch.long)
    tensors = DeviceTensors.from_prepared(data, device, rows=rows)
    was_training = model.training
    model.eval()
    try:
        with cpu_threads(device):
            everything = torch.arange(len(rows), device=device)
            logits = logits_in_batches(model, tensors, everything, evaluation_batch_size(data, 1))
    finally:
        model.train(was_training)
    if data.task == "regression":
        mean, std = data.target_scale()
        values = (logits.float()[:, 0].double() * std + mean).cpu().numpy()
        return values[:, None], values
    probabilities = torch.softmax(logits.float(), dim=1).cpu().numpy()
    return probabilities, probabilities.argmax(axis=1)


def evaluate(model, tensors, rows, loss_fn, batch_size, autocast=contextlib.nullcontext):
    """Loss, macro-F1 and accuracy of ``model`` on ``rows``, as 0-d tensors still on the device.

    For a regression task: loss, R² and NaN (on the standardised targets; R² does not change
    with the scale).
    """
    model.eval()
    with autocast():
        logits = logits_in_batches(model, tensors, rows, batch_size)
    labels = tensors.labels[rows]
    with torch.inference_mode():
        if tensors.task == "regression":
            predicted = logits.float()[:, 0]
            loss = loss_fn(predicted, labels)
            total = ((labels - labels.mean()) ** 2).sum().clamp(min=1e-12)
            r2 = 1 - ((labels - predicted) ** 2).sum() / total
            return loss, r2, torch.full_like(r2, math.nan)
        loss = loss_fn(logits.float(), labels)
        predictions = logits.argmax(dim=1)
        f1, accuracy = macro_f1_and_accuracy(labels, predictions, tensors.num_classes)
    return loss, f1, accuracy


class TrainingLosses(nn.Module):
    """``(loss of the fused prediction, loss to minimise)`` for one batch, as a module.

    For a ``FusionModel`` the loss to minimise adds what the fusion method trains its
    per-modality heads with (``Fusion.auxiliary_loss``) and what the imbalance ``remedy``
    adds; any other module is trained on its logits alone. One module holds the model and
    the remedy's heads so that ``DistributedDataParallel`` can wrap the whole step's forward.
    """

    def __init__(self, model: nn.Module, loss_fn: nn.Module, remedy: nn.Module | None) -> None:
        super().__init__()
        self.model, self.loss_fn, self.remedy = model, loss_fn, remedy

    def forward(self, inputs, masks, labels) -> tuple[torch.Tensor, torch.Tensor]:
        return training_losses(self.model, inputs, masks, labels, self.loss_fn, self.remedy)


def training_losses(model, inputs, masks, labels, loss_fn, remedy) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss of the fused prediction, loss to minimise)`` for one batch (see ``TrainingLosses``)."""
    if not isinstance(model, FusionModel):
        loss = loss_fn(model(inputs, masks).float(), labels)
        return loss, loss
    features, present, sequences = model.encode(inputs, masks)
    output = model.fusion(features, present, sequences or None, details=True)
    fused_loss = loss_fn(output.logits.float(), labels)
    loss = fused_loss if remedy is None else remedy.loss(fused_loss, features, present, labels, loss_fn)
    extra = model.fusion.auxiliary_loss(output, labels, loss_fn)  # per-modality heads' own losses
    return fused_loss, loss if extra is None else loss + extra


def embeddings_in_batches(model, tensors, rows, batch_size) -> dict[str, torch.Tensor]:
    """Each modality's encoder embeddings ``{name: (len(rows), d)}`` (absent rows are zeros)."""
    model.eval()
    with torch.inference_mode():
        chunks: dict[str, list[torch.Tensor]] = {name: [] for name in model.modality_names}
        for start in range(0, len(rows), batch_size):
            inputs, masks = tensors.take(rows[start : start + batch_size])
            features, _, _ = model.encode(inputs, masks)
            for name, value in features.items():
                chunks[name].append(value)
        return {name: torch.cat(values) for name, values in chunks.items() if values}


def imbalance_remedy(model: nn.Module, data: PreparedData, config: TrainConfig, notes: list[str]):
    """The ``config.imbalance`` remedy for ``model``'s encoders, or ``None`` (with a note when it cannot apply)."""
    if config.imbalance == "none":
        return None
    if not isinstance(model, FusionModel):
        notes.append(f"imbalance remedy {config.imbalance!r} needs a fusion model; trained without it")
        return None
    names = list(model.encoders)
    if len(names) < 2:
        notes.append(
            f"imbalance remedy {config.imbalance!r} needs two or more modalities; trained without it"
        )
        return None
    dims = {name: model.encoders[name].out_dim for name in names}
    return make_remedy(config.imbalance, dims, data.num_outputs, ogm_alpha=config.ogm_alpha)


def logits_in_batches(model, tensors, rows, batch_size) -> torch.Tensor:
    with torch.inference_mode():
        chunks = []
        for start in range(0, len(rows), batch_size):
            inputs, masks = tensors.take(rows[start : start + batch_size])
            chunks.append(model(inputs, masks))
        if not chunks:
            return torch.zeros(0, tensors.num_classes, device=tensors.labels.device)
        return torch.cat(chunks)


def macro_f1_and_accuracy(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int):
    """Macro-F1 over the classes that occur (as truth or prediction) and accuracy, on the device.

    Matches ``sklearn.metrics.f1_score(average="macro", zero_division=0)``.
    """
    counts = torch.bincount(labels * num_classes + predictions, minlength=num_classes**2)
    confusion = counts.reshape(num_classes, num_classes).float()  # rows: true class
    hits = confusion.diagonal()
    true_totals, predicted_totals = confusion.sum(dim=1), confusion.sum(dim=0)
    occurs = (true_totals + predicted_totals) > 0
    f1 = 2 * hits / (true_totals + predicted_totals).clamp(min=1)  # F1 = 2TP / (2TP + FP + FN)
    macro_f1 = (f1 * occurs).sum() / occurs.sum().clamp(min=1)
    accuracy = hits.sum() / confusion.sum().clamp(min=1)
    return macro_f1, accuracy


# -----------------------------------------------------------------------------
# helpers


@dataclass
class DeviceTensors:
    """A dataset's tensors on one device; ``take(rows)`` gathers a batch by index."""

    values: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]
    labels: torch.Tensor  # class indices, or standardised float targets for regression
    num_classes: int
    task: str = "classification"
    mapped: list[torch.Tensor] = field(
        default_factory=list
    )  # values read from disk (fusion_core.data.mapped)
    takes: int = 0

    @classmethod
    def from_prepared(cls, data: PreparedData, device: torch.device, rows: torch.Tensor | None = None):
        def move(t: torch.Tensor) -> torch.Tensor:
            return (t if rows is None else t[rows]).to(device)

        if data.task == "regression":
            mean, std = data.target_scale()
            labels = ((move(data.labels).double() - mean) / std).float()
        else:
            labels = move(data.labels).long()
        values = {name: move(m.values) for name, m in data.modalities.items()}
        return cls(
            values=values,
            present={name: move(m.present).bool() for name, m in data.modalities.items()},
            labels=labels,
            num_classes=data.num_outputs,
            task=data.task,
            mapped=[v for v in values.values() if is_mapped(v)],
        )

    def take(self, rows: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        if self.mapped:  # data on disk: give back the pages read so far now and then
            self.takes += 1
            if self.takes % RELEASE_EVERY == 0:
                for values in self.mapped:
                    release_pages(values)
        inputs = {name: values[rows] for name, values in self.values.items()}
        masks = {name: present[rows] for name, present in self.present.items()}
        return inputs, masks


def training_batch_size(n_train: int, batch_size: int) -> int:
    """The batch size training uses: ``batch_size``, lowered on a small split so that an epoch has
    at least ``MIN_BATCHES_PER_EPOCH`` batches, but never below ``MIN_BATCH_SIZE`` (or ``batch_size``)."""
    return min(batch_size, max(MIN_BATCH_SIZE, n_train // MIN_BATCHES_PER_EPOCH))


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch; a last batch of one sample joins the one before.

    (Batch normalisation cannot train on a batch of one.)
    """
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [(start, starts[i + 1] if i + 1 < len(starts) else n) for i, start in enumerate(starts)]


def evaluation_batch_size(data: PreparedData, train_batch_size: int) -> int:
    per_sample = sum(max(1, math.prod(m.values.shape[1:])) for m in data.modalities.values())
    return max(train_batch_size, min(8192, EVAL_ELEMENTS_PER_BATCH // max(1, per_sample)))


def drop_modalities(masks: dict[str, torch.Tensor], p: float) -> dict[str, torch.Tensor]:
    """Hide each present modality of each sample with probability ``p`` (new masks, inputs untouched).

    A sample that would lose every modality it has keeps one of them, chosen at random.
    """
    names = list(masks)
    present = torch.stack([masks[name] for name in names], dim=1)  # (N, M)
    kept = present & (torch.rand(present.shape, device=present.device) >= p)
    rescue = torch.rand(present.shape, device=present.device).masked_fill(~present, -1.0)
    one_present = nn.functional.one_hot(rescue.argmax(dim=1), len(names)).bool() & present
    kept = torch.where(kept.any(dim=1, keepdim=True), kept, one_present)
    return {name: kept[:, i] for i, name in enumerate(names)}


def encoder_grad_norms(param_groups: list[list[nn.Parameter]]) -> torch.Tensor:
    """L2 norm of the gradient of each group's parameters, as one tensor ``(groups,)`` on the device."""
    norms = []
    for params in param_groups:
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            norms.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
        else:
            norms.append(torch.zeros((), device=params[0].device))
    return torch.stack(norms)


def channels_last_modalities(model: nn.Module, data: PreparedData) -> list[str]:
    """The grid modalities whose encoder runs 2-D convolutions (these gain from a channels-last layout)."""
    encoders = getattr(model, "encoders", {})
    return [
        name
        for name, encoder in encoders.items()
        if name in data.modalities
        and data.modalities[name].values.dim() == 4
        and any(isinstance(layer, nn.Conv2d) for layer in encoder.modules())
    ]


def make_optimizer(
    model: nn.Module, config: TrainConfig, extra: nn.Module | None = None
) -> torch.optim.Optimizer:
    """The optimiser of ``config`` over the model's weights (and ``extra``'s: training-only heads)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if extra is not None:
        params += [p for p in extra.parameters() if p.requires_grad]
    # The fused Adam kernels update every weight in one call instead of a dozen small
    # operations per weight tensor: about 10% of an epoch of the default sample's models.
    fused = bool(params) and all(
        p.device.type in FUSED_ADAM_DEVICES and p.is_floating_point() for p in params
    )
    options = {"fused": True} if fused else {}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **options)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **options)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def loss_function(task: str, config: TrainConfig, class_weights: torch.Tensor | None) -> nn.Module:
    """Cross-entropy for classes; MSE or Huber (``config.regression_loss``) for a regression target.

    Regression losses compare the single output with the target standardised on the training split.
    """
    if task != "regression":
        return nn.CrossEntropyLoss(weight=class_weights)
    return _FirstOutput(nn.HuberLoss() if config.regression_loss == "huber" else nn.MSELoss())


class _FirstOutput(nn.Module):
    """A regression loss on the head's single output ``(N, 1)`` against targets ``(N,)``."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(outputs.reshape(-1), targets)


def inverse_frequency_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class weights ``n / (C * count_c)``: a rare class's mistakes cost more, so it is not ignored."""
    counts = torch.bincount(labels, minlength=num_classes).float()
    return len(labels) / (num_classes * counts.clamp(min=1))


def non_finite_loss_message(value: float, epoch: int, config: TrainConfig) -> str:
    return (
        f"the loss became {value} in epoch {epoch}; the learning rate {config.lr:g} may be too high "
        f"(try {config.lr / 10:g}), the inputs may be unnormalised (standardise them in preprocessing), "
        "or the classes may be very unbalanced (turn on class weighting)"
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every device) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def cpu_threads(device: torch.device, threads: int | None = None):
    """Use ``resolve_threads(threads)`` CPU threads inside the block (on a CPU device), then restore."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_threads(threads: int | None = None) -> int:
    """CPU threads for training: the argument, else ``$FUSION_EXPLORER_THREADS``, else ``DEFAULT_THREADS``."""
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if not raw:
            return DEFAULT_THREADS
        try:
            threads = int(raw)
        except ValueError:
            raise ConfigError(f"{THREADS_ENV} must be a whole number of threads, got {raw!r}") from None
    if threads < 1:
        raise ConfigError(f"the number of CPU threads must be at least 1, got {threads}")
    return threads
