"""Prepared data above the size threshold is memory-mapped from the cache, read batch by batch, and
trains exactly as the same data held in memory."""

from __future__ import annotations

import torch
from bundle_factory import write_bundle

from fusion_core.cli import main
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import build_report, load_dataset
from fusion_core.data.mapped import is_mapped, open_mapped, release_pages, write_mapped
from fusion_core.experiment import run_experiment
from fusion_core.modalities import prepare
from fusion_core.modalities.pipeline import MAPPED_BYTES_ENV, clear_memory_cache, data_path


def test_a_mapped_array_reads_back_what_was_written_after_its_pages_are_released(tmp_path):
    target = write_mapped(tmp_path / "a.npy", (50, 3, 4, 4))
    target[:] = torch.arange(50 * 48, dtype=torch.float32).reshape(50, 3, 4, 4).numpy()
    target.flush()
    values = open_mapped(tmp_path / "a.npy")
    assert is_mapped(values) and not is_mapped(values.clone())
    rows = torch.tensor([3, 41, 7])
    before = values[rows].clone()
    release_pages(values)
    assert torch.equal(values[rows], before)
    assert before[1, 0, 0, 0].item() == 41 * 48


def test_large_data_takes_the_mapped_path_and_trains_like_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    bundle = write_bundle(tmp_path, n=40, modalities=("tabular", "image"))
    dataset = load_dataset(str(bundle))
    config = DataConfig(source=str(bundle))
    in_memory = prepare(dataset, config, cache=False)
    assert data_path(in_memory).startswith("in memory")

    monkeypatch.setenv(MAPPED_BYTES_ENV, "1000")  # everything counts as large
    mapped = prepare(dataset, config)
    assert all(is_mapped(m.values) for m in mapped.modalities.values())
    assert data_path(mapped).startswith("memory-mapped")
    clear_memory_cache()
    again = prepare(dataset, config)  # served from the disk cache, still mapped
    assert all(is_mapped(m.values) for m in again.modalities.values())
    for name, m in in_memory.modalities.items():
        assert torch.equal(again.modalities[name].values, m.values)

    experiment = ExperimentConfig(
        data=config,
        model=ModelConfig(embedding_dim=8),
        train=TrainConfig(epochs=2, batch_size=8, device="cpu"),
    )
    on_disk = run_experiment(experiment, prepared=again)
    held = run_experiment(experiment, prepared=in_memory)
    assert on_disk.metrics["macro_f1"] == held.metrics["macro_f1"]
    assert on_disk.y_pred.tolist() == held.y_pred.tolist()


def test_the_data_report_and_the_train_report_say_which_path_the_data_takes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    bundle = str(write_bundle(tmp_path, n=40, modalities=("tabular", "image")))
    small = build_report(load_dataset(bundle))
    assert small.data_path.startswith("in memory (about")
    assert f"data path  {small.data_path}" in small.to_text()

    monkeypatch.setenv(MAPPED_BYTES_ENV, "1000")  # everything counts as large
    assert build_report(load_dataset(bundle)).data_path.startswith("memory-mapped from the cache (about")
    train = [
        "train",
        "--data",
        bundle,
        "--fusion",
        "concat",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    assert main(train) == 0
    assert "data: memory-mapped from the cache" in capsys.readouterr().out
