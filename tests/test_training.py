"""The training engine on small synthetic tasks whose answers are known.

The model here is a deliberately tiny stand-in (one linear encoder per modality
and an MLP head) so that these tests check the loop itself, not an architecture.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn

from fusion_core.config import TrainConfig
from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.errors import ConfigError, TrainingError
from fusion_core.training import (
    DEFAULT_THREADS,
    MIN_BATCHES_PER_EPOCH,
    THREADS_ENV,
    BatchProgress,
    EpochLog,
    WeightAverage,
    batch_bounds,
    drop_modalities,
    fit,
    inverse_frequency_weights,
    macro_f1_and_accuracy,
    predict,
    resolve_threads,
    training_batch_size,
)


class TinyFusion(nn.Module):
    """Linear encoder per modality, masked, concatenated, MLP head; counts training batches."""

    def __init__(self, dims: dict[str, int], num_classes: int, *, output_nan: bool = False) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({name: nn.Linear(d, 16) for name, d in dims.items()})
        self.head = nn.Sequential(
            nn.ReLU(), nn.Linear(16 * len(dims), 32), nn.ReLU(), nn.Linear(32, num_classes)
        )
        self.output_nan = output_nan
        self.training_batches = 0
        self.seen_masks: list[dict[str, torch.Tensor]] = []

    def forward(self, inputs, masks):
        if self.training:
            self.training_batches += 1
        parts = [self.encoders[n](inputs[n]) * masks[n][:, None].float() for n in self.encoders]
        logits = self.head(torch.cat(parts, dim=1))
        return logits * float("nan") if self.output_nan else logits


def blobs(n: int = 600, num_classes: int = 3, noise: float = 1.0, seed: int = 0) -> PreparedData:
    """Two vector modalities; each holds a noisy copy of a class-dependent centre."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    centres = torch.randn(num_classes, 6, generator=g) * 2
    modalities = {}
    for name in ("left", "right"):
        values = centres[labels] + noise * torch.randn(n, 6, generator=g)
        modalities[name] = PreparedModality(
            name, "tabular", "vector", values, torch.ones(n, dtype=torch.bool)
        )
    order = torch.randperm(n, generator=g)
    a, b = int(0.6 * n), int(0.8 * n)
    splits = Splits(order[:a], order[a:b], order[b:])
    names = [f"c{i}" for i in range(num_classes)]
    return PreparedData("blobs", modalities, labels, names, [str(i) for i in range(n)], splits)


def tiny_model(data: PreparedData, seed: int = 0, **kwargs) -> TinyFusion:
    torch.manual_seed(seed)
    return TinyFusion({n: m.values.shape[1] for n, m in data.modalities.items()}, data.num_classes, **kwargs)


def val_f1(model: nn.Module, data: PreparedData) -> float:
    _, predictions = predict(model, data, data.splits.val)
    return f1_score(data.labels[data.splits.val].numpy(), predictions, average="macro")


def test_fit_lowers_the_loss_and_beats_chance():
    data = blobs()
    model = tiny_model(data)
    epochs: list[EpochLog] = []
    result = fit(model, data, TrainConfig(epochs=8, patience=8, lr=3e-3), on_epoch=epochs.append)

    assert result.stopped == "completed" and result.epochs_run == 8
    assert epochs == result.history
    assert result.history[-1].train_loss < 0.5 * result.history[0].train_loss
    assert max(log.val_macro_f1 for log in result.history) > 0.8  # chance is 1/3
    assert result.device.startswith("CPU")
    probabilities, predictions = predict(model, data, data.splits.test)
    assert probabilities.shape == (len(data.splits.test), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (predictions == data.labels[data.splits.test].numpy()).mean() > 0.8


def test_history_records_gradient_norms_per_encoder_and_time():
    data = blobs(n=300)
    result = fit(tiny_model(data), data, TrainConfig(epochs=3))
    for log in result.history:
        assert set(log.grad_norms) == {"left", "right"}
        assert all(norm > 0 for norm in log.grad_norms.values())
    seconds = [log.seconds for log in result.history]
    assert seconds == sorted(seconds) and result.train_seconds >= seconds[-1]


def test_the_weight_average_is_an_exponential_moving_average_of_every_step():
    data = blobs(n=300)
    model = tiny_model(data)
    average = WeightAverage(model, half_life=0.5, steps_per_epoch=4)  # half-life: 2 steps
    step_weight = 1 - 0.5 ** (1 / 2)
    expected = {key: value.clone() for key, value in model.state_dict().items()}
    for _ in range(5):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter))
        average.update()
        for key, value in model.state_dict().items():
            expected[key] += step_weight * (value - expected[key])
    for key, value in average.model.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    assert not any(parameter.requires_grad for parameter in average.model.parameters())
    assert not average.model.training


def test_with_weight_averaging_the_averaged_weights_are_scored_and_kept():
    data = blobs(n=400, noise=3.0)
    trained = {}
    for half_life in (0.0, 1.0):
        model = tiny_model(data)
        result = fit(model, data, TrainConfig(epochs=8, patience=8, lr=2e-2, average_weights=half_life))
        best = max(result.history, key=lambda log: (log.val_macro_f1, -log.val_loss))
        assert val_f1(model, data) == pytest.approx(best.val_macro_f1, abs=1e-6)  # the scored weights
        trained[half_life] = (result, model)
    (plain, plain_model), (averaged, averaged_model) = trained[0.0], trained[1.0]
    first = [log.val_loss for log in plain.history]
    assert [log.train_loss for log in averaged.history][:1] == [log.train_loss for log in plain.history][:1]
    assert [log.val_loss for log in averaged.history] != first  # another set of weights was scored
    assert not torch.equal(averaged_model.head[1].weight, plain_model.head[1].weight)


def test_early_stopping_restores_the_best_weights():
    data = blobs(n=400, noise=3.0)  # noisy enough that validation F1 wobbles and then stalls
    model = tiny_model(data)
    result = fit(model, data, TrainConfig(epochs=60, patience=3, lr=2e-2, batch_size=16))

    assert result.stopped == "early_stopping"
    assert result.epochs_run == result.best_epoch + 3 < 60
    best = max(result.history, key=lambda log: (log.val_macro_f1, -log.val_loss))
    assert best.epoch == result.best_epoch
    assert val_f1(model, data) == pytest.approx(best.val_macro_f1, abs=1e-6)


def test_should_stop_stops_at_the_next_batch_and_keeps_the_best_epoch():
    data = blobs(n=640)  # 384 training rows: 16 batches of 24 (a small split gets smaller batches)
    model = tiny_model(data)
    asked = 0

    def stop_in_third_epoch() -> bool:
        nonlocal asked
        asked += 1
        return asked > 16 * 2 + 2  # two whole epochs, then two batches of the third

    result = fit(model, data, TrainConfig(epochs=10), should_stop=stop_in_third_epoch)
    assert result.stopped == "cancelled"
    assert model.training_batches == 16 * 2 + 2
    assert result.epochs_run == 2  # the half-finished third epoch is not scored
    assert val_f1(model, data) == pytest.approx(result.history[result.best_epoch - 1].val_macro_f1, abs=1e-6)


def test_a_small_training_split_gets_smaller_batches_so_an_epoch_has_enough_updates():
    assert training_batch_size(5000, 64) == 64  # large enough: as asked
    assert training_batch_size(384, 64) == 24 == 384 // MIN_BATCHES_PER_EPOCH
    assert training_batch_size(40, 64) == 8  # never below 8 rows
    assert training_batch_size(40, 4) == 4  # nor above what was asked
    data = blobs(n=640)  # 384 training rows
    model = tiny_model(data)
    fit(model, data, TrainConfig(epochs=1, batch_size=64))
    assert model.training_batches == 16


def test_cancelling_before_an_epoch_ends_still_scores_the_model():
    data = blobs(n=640)
    model = tiny_model(data)
    calls = iter([False, False, True])
    result = fit(model, data, TrainConfig(epochs=5), should_stop=lambda: next(calls))
    assert result.stopped == "cancelled"
    assert model.training_batches == 2
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert np.isfinite(result.history[0].train_loss)
    assert val_f1(model, data) == pytest.approx(result.history[0].val_macro_f1, abs=1e-6)


def test_a_nan_loss_raises_a_training_error_that_says_what_to_try():
    data = blobs(n=200)
    expected = (
        "the loss became nan in epoch 1; the learning rate 0.001 may be too high (try 0.0001), "
        "the inputs may be unnormalised (standardise them in preprocessing), "
        "or the classes may be very unbalanced (turn on class weighting)"
    )
    with pytest.raises(TrainingError) as caught:
        fit(tiny_model(data, output_nan=True), data, TrainConfig(epochs=3, lr=1e-3))
    assert str(caught.value) == expected


def test_a_huge_learning_rate_raises_a_training_error():
    data = blobs(n=200)
    with pytest.raises(TrainingError, match=r"the learning rate 1e\+09 may be too high \(try 1e\+08\)"):
        fit(tiny_model(data), data, TrainConfig(epochs=5, lr=1e9, optimizer="sgd"))


def test_the_same_seed_gives_identical_results_on_cpu():
    data = blobs(n=300)
    config = TrainConfig(epochs=3, seed=7, modality_dropout=0.3)
    first = fit(tiny_model(data, seed=7), data, config)
    second = fit(tiny_model(data, seed=7), data, config)
    strip = [(h.train_loss, h.val_loss, h.val_macro_f1, h.grad_norms) for h in first.history]
    assert strip == [(h.train_loss, h.val_loss, h.val_macro_f1, h.grad_norms) for h in second.history]


def test_on_batch_reports_at_most_twenty_times_per_epoch():
    data = blobs(n=1000)  # 600 training rows, batch 8: 75 batches per epoch
    reports: list[BatchProgress] = []
    fit(tiny_model(data), data, TrainConfig(epochs=2, batch_size=8), on_batch=reports.append)
    for epoch in (1, 2):
        mine = [r for r in reports if r.epoch == epoch]
        assert 1 <= len(mine) <= 20
        assert mine[-1].batch == mine[-1].batches_per_epoch == 75 and mine[-1].epochs == 2


def test_modality_dropout_hides_modalities_but_never_all_of_a_sample():
    torch.manual_seed(0)
    n = 20_000
    masks = {
        "a": torch.ones(n, dtype=torch.bool),
        "b": torch.rand(n) < 0.5,
        "c": torch.ones(n, dtype=torch.bool),
    }
    originals = {name: mask.clone() for name, mask in masks.items()}
    dropped = drop_modalities(masks, 0.4)

    stacked = torch.stack([dropped[name] for name in masks], dim=1)
    assert stacked.any(dim=1).all()  # every sample keeps at least one modality
    assert not (dropped["b"] & ~originals["b"]).any()  # an absent modality never comes back
    assert all(torch.equal(masks[name], originals[name]) for name in masks)  # inputs untouched
    # "a" stays unless dropped (0.6), or when all were dropped and "a" is the one rescued:
    # b present (1/2): 0.4^3, one of 3; b absent (1/2): 0.4^2, one of 2
    expected = 0.6 + 0.5 * 0.4**3 / 3 + 0.5 * 0.4**2 / 2
    assert dropped["a"].float().mean() == pytest.approx(expected, abs=0.01)
    assert dropped["b"][originals["b"]].float().mean() == pytest.approx(0.6 + 0.4**3 / 3, abs=0.015)


def test_inverse_frequency_class_weights():
    weights = inverse_frequency_weights(torch.tensor([0, 0, 0, 1]), 2)
    torch.testing.assert_close(weights, torch.tensor([4 / 6, 4 / 2]))


def test_class_weighting_and_bf16_note_on_cpu():
    data = blobs(n=300)
    result = fit(tiny_model(data), data, TrainConfig(epochs=2, class_weighting=True, bf16=True, device="cpu"))
    assert result.epochs_run == 2
    assert result.notes == ["bf16 was asked for but runs only on CUDA; trained in float32 on cpu"]


def test_device_macro_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    predictions = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 5, 300))  # class 4 only predicted
    f1, accuracy = macro_f1_and_accuracy(torch.tensor(labels), torch.tensor(predictions), 5)
    assert float(f1) == pytest.approx(f1_score(labels, predictions, average="macro", zero_division=0))
    assert float(accuracy) == pytest.approx((labels == predictions).mean())


def test_batches_never_hold_a_single_sample():
    assert batch_bounds(129, 64) == [(0, 64), (64, 129)]
    assert batch_bounds(130, 64) == [(0, 64), (64, 128), (128, 130)]
    assert batch_bounds(1, 64) == [(0, 1)]


def test_thread_setting(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert resolve_threads() == DEFAULT_THREADS
    monkeypatch.setenv(THREADS_ENV, "2")
    assert resolve_threads() == 2
    assert resolve_threads(3) == 3
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(
        ConfigError, match="^FUSION_EXPLORER_THREADS must be a whole number of threads, got 'many'$"
    ):
        resolve_threads()


class GridRecorder(nn.Module):
    """A small CNN on one grid modality that keeps the batches it was given while training."""

    def __init__(self) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({"picture": nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten())})
        self.head = nn.Linear(4 * 32 * 32, 2)
        self.training_inputs: list[torch.Tensor] = []

    def forward(self, inputs, masks):
        if self.training:
            self.training_inputs.append(inputs["picture"].detach().clone())
        return self.head(self.encoders["picture"](inputs["picture"]))


def test_augmentation_changes_training_batches_only():
    g = torch.Generator().manual_seed(0)
    n = 64
    values = torch.rand(n, 1, 32, 32, generator=g)
    picture = PreparedModality(
        "picture", "image", "grid", values, torch.ones(n, dtype=torch.bool), augment="image"
    )
    rows = torch.arange(n)
    data = PreparedData("pics", {"picture": picture}, rows % 2, ["a", "b"], [str(i) for i in rows],
                        Splits(rows[:48], rows[48:56], rows[56:]))  # fmt: skip
    model = GridRecorder()
    fit(model, data, TrainConfig(epochs=1, batch_size=48))
    seen = torch.cat(model.training_inputs)  # 6 batches of 8: a small split gets small batches
    assert seen.shape == (48, 1, 32, 32)
    # each image is shifted by up to 3 pixels each way: 1 chance in 49 to arrive exactly as stored
    stored = values[:48]
    unchanged = sum(any(torch.equal(row, original) for original in stored) for row in seen)
    assert unchanged <= 6
    assert not model.training and model.encoders["picture"][0].weight.is_contiguous()


def test_deterministic_mode_is_switched_back_off_afterwards():
    data = blobs(n=200)
    assert not torch.are_deterministic_algorithms_enabled()
    result = fit(tiny_model(data), data, TrainConfig(epochs=1, deterministic=True))
    assert result.epochs_run == 1
    assert not torch.are_deterministic_algorithms_enabled()


def test_time_budget_stops_training_after_at_least_one_scored_epoch():
    data = blobs(n=2000, noise=3.0)
    model = tiny_model(data)
    result = fit(model, data, TrainConfig(epochs=500, patience=500, batch_size=8, time_budget=0.3))
    assert result.stopped == "time_budget"
    assert 1 <= result.epochs_run < 500
    assert result.train_seconds < 5.0  # stopped within a batch or an evaluation of the budget

    tiny = fit(tiny_model(data), data, TrainConfig(epochs=3, time_budget=1e-6))
    assert tiny.stopped == "time_budget" and tiny.epochs_run == 1  # the first epoch is always scored


@pytest.mark.parametrize("schedule", ["plateau", "cosine", "constant"])
def test_learning_rate_schedules(schedule, monkeypatch):
    from fusion_core import training

    data = blobs(n=300, noise=4.0)  # noisy: validation macro-F1 stalls now and then
    made = []
    real = training.make_optimizer
    monkeypatch.setattr(
        training, "make_optimizer", lambda m, c, extra=None: made.append(real(m, c, extra=extra)) or made[-1]
    )
    rates = []  # the rate each epoch trained with (on_epoch runs before the schedule steps)
    config = TrainConfig(epochs=12, patience=12, lr=1e-2, schedule=schedule)
    result = fit(
        tiny_model(data), data, config, on_epoch=lambda log: rates.append(made[0].param_groups[0]["lr"])
    )
    assert result.epochs_run == 12
    if schedule == "constant":
        assert set(rates) == {1e-2}
    elif schedule == "cosine":
        assert rates[0] == pytest.approx(1e-2 / 3) and rates[2] == pytest.approx(1e-2)  # warm-up
        assert rates[-1] < rates[5] < rates[2]  # then down along a cosine
    else:  # halved whenever validation macro-F1 went ceil(patience / 3) = 4 epochs without gain
        expected, lr, best, since = [], 1e-2, None, 0
        for log in result.history:
            expected.append(lr)
            score = (log.val_macro_f1, -log.val_loss)
            since = 0 if best is None or score > best else since + 1
            best = score if best is None else max(best, score)
            if since >= 4:
                since, lr = 0, lr / 2
        assert rates == pytest.approx(expected)
        assert min(rates) < 1e-2  # this noisy task does stall, so the rule was exercised
