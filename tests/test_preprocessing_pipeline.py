"""prepare / transform_with_state / the cache, on a small five-modality dataset built by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.io import wavfile

import fusion_core.data
from fusion_core.config import DataConfig
from fusion_core.data.types import Dataset, ModalitySpec, Splits
from fusion_core.errors import ConfigError, DataError
from fusion_core.modalities import MODALITIES, prepare, transform_with_state
from fusion_core.modalities.pipeline import cache_key, clear_memory_cache

N = 40
MODALITY_NAMES = ["clinical", "scan", "voice", "sensor", "note"]


def build_table(root: Path, n: int = N, offset: int = 0) -> pd.DataFrame:
    rows = []
    for i in range(offset, offset + n):
        rng = np.random.default_rng(i)  # row i is the same whichever table it is built into
        label = i % 2
        image = (rng.random((16, 16)) * 120 + 100 * label).astype(np.uint8)
        Image.fromarray(image).save(root / f"img{i}.png")
        t = np.arange(4000) / 8000
        wavfile.write(
            root / f"clip{i}.wav",
            8000,
            (0.4 * np.sin(2 * np.pi * (300 + 500 * label) * t)).astype(np.float32),
        )
        np.save(root / f"ser{i}.npy", (rng.normal(size=(20 + i % 5, 2)) + label).astype(np.float32))
        rows.append(
            {
                "id": f"p{i}",
                "label": ["healthy", "sick"][label],
                "age": float(30 + 20 * label + rng.normal()) if i % 7 else np.nan,
                "smoker": ["yes", "no"][(i // 2) % 2],
                "scan": f"img{i}.png" if i % 9 else "",
                "voice": f"clip{i}.wav",
                "sensor": f"ser{i}.npy",
                "note": ["feels fine today", "coughing and fever", ""][i % 3] if i % 3 != 2 else None,
            }
        )
    return pd.DataFrame(rows)


def build_dataset(root: Path, table: pd.DataFrame, content_hash: str) -> Dataset:
    modalities = {
        "clinical": ModalitySpec("clinical", "tabular", ["age", "smoker"]),
        "scan": ModalitySpec("scan", "image", ["scan"]),
        "voice": ModalitySpec("voice", "audio", ["voice"]),
        "sensor": ModalitySpec("sensor", "series", ["sensor"]),
        "note": ModalitySpec("note", "text", ["note"]),
    }
    return Dataset("clinic", root, table, "id", "label", modalities, content_hash)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    root = tmp_path_factory.mktemp("bundle")
    return build_dataset(root, build_table(root), "content-1")


@pytest.fixture()
def splits() -> Splits:
    order = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    return Splits(train=order[:24], val=order[24:32], test=order[32:])


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(folder))
    clear_memory_cache()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits for a busy core
    yield folder
    torch.set_num_threads(threads)
    clear_memory_cache()


def test_prepare_fills_every_field(dataset, splits):
    prepared = prepare(
        dataset, DataConfig(preprocessing={"note": {"representation": "tokens"}}), splits=splits
    )
    assert list(prepared.modalities) == MODALITY_NAMES
    forms = {name: m.form for name, m in prepared.modalities.items()}
    assert forms == {
        "clinical": "vector",
        "scan": "grid",
        "voice": "grid",
        "sensor": "sequence",
        "note": "tokens",
    }
    assert prepared.modalities["scan"].values.shape == (N, 1, 16, 16)
    assert prepared.modalities["voice"].values.shape == (N, 1, 16, 16)  # 16 mel bands, a frame every 32 ms
    median_length = int(np.median([20 + i % 5 for i in splits.train.tolist()]))
    assert prepared.modalities["sensor"].values.shape == (N, median_length, 2)
    assert prepared.modalities["note"].values.dtype == torch.int64
    for m in prepared.modalities.values():
        assert m.values.is_contiguous() and m.present.dtype == torch.bool and m.present.shape == (N,)
    assert prepared.modalities["scan"].present.sum() == N - 5  # rows 0, 9, 18, 27, 36 have no image
    assert prepared.labels.tolist() == [i % 2 for i in range(N)]
    assert prepared.class_names == ["healthy", "sick"] and prepared.ids[3] == "p3"
    assert prepared.splits is splits and prepared.content_hash == "content-1"
    assert {name: s["type"] for name, s in prepared.state.items()} == {
        "clinical": "tabular",
        "scan": "image",
        "voice": "audio",
        "sensor": "series",
        "note": "text",
    }
    assert prepared.preprocessing["note"]["representation"] == "tokens"
    assert prepared.preprocessing["scan"] == {
        "color": "auto",
        "size": "auto",
        "augment": False,
        "augment_flip": False,
        "features": False,
        "feature_set": "both",
    }
    assert prepared.input_specs()["note"].vocab_size == prepared.modalities["note"].vocab_size


def test_state_is_json_and_transform_with_state_reproduces_prepare(dataset, splits, tmp_path):
    prepared = prepare(dataset, DataConfig(), splits=splits, cache=False)
    state = json.loads(json.dumps(prepared.state))
    preprocessing = json.loads(json.dumps(prepared.preprocessing))
    again = transform_with_state(dataset, state, preprocessing)
    for name, m in prepared.modalities.items():
        assert torch.equal(again[name].values, m.values), name
        assert torch.equal(again[name].present, m.present), name

    # new samples, never seen by fit: rows match what a fresh copy of the same files gives
    new_table = build_table(tmp_path, n=6, offset=3)
    fresh = transform_with_state(build_dataset(tmp_path, new_table, "other"), state, preprocessing)
    for name, m in prepared.modalities.items():
        torch.testing.assert_close(fresh[name].values, m.values[3:9], msg=name)


def test_transform_with_state_checks_the_modalities(dataset, splits):
    prepared = prepare(dataset, DataConfig(), splits=splits, cache=False)
    state = dict(prepared.state, extra={"type": "image"})
    with pytest.raises(
        DataError,
        match=r"^the data has no modality 'extra', which the model needs; its modalities are: "
        r"clinical, scan, voice, sensor, note$",
    ):
        transform_with_state(dataset, state, prepared.preprocessing)
    state = {"scan": dict(prepared.state["scan"], type="audio")}
    with pytest.raises(DataError, match=r"^modality 'scan' is image in this data but was audio"):
        transform_with_state(dataset, state, prepared.preprocessing)


def test_fit_sees_only_training_rows(dataset, splits):
    # wildly different values outside the training rows must not move any learned statistic
    table = dataset.table.copy()
    outside = np.setdiff1d(np.arange(N), splits.train.numpy())
    table.loc[outside, "age"] = 1e9
    table.loc[outside, "note"] = "zebra quantum"
    changed = build_dataset(dataset.root, table, "content-2")
    base = prepare(dataset, DataConfig(), splits=splits, cache=False)
    moved = prepare(changed, DataConfig(), splits=splits, cache=False)
    assert moved.state["clinical"] == base.state["clinical"]
    assert moved.state["note"]["vocabulary"] == base.state["note"]["vocabulary"]
    assert "zebra" not in moved.state["note"]["vocabulary"]
    train = splits.train
    torch.testing.assert_close(
        moved.modalities["clinical"].values[train], base.modalities["clinical"].values[train]
    )


def test_second_prepare_is_served_from_memory_then_disk(dataset, splits, private_cache, monkeypatch):
    config = DataConfig(preprocessing={"voice": {"n_mels": 24}})
    start = time.perf_counter()
    cold = prepare(dataset, config, splits=splits)
    cold_seconds = time.perf_counter() - start
    start = time.perf_counter()
    warm = prepare(dataset, config, splits=splits)
    warm_seconds = time.perf_counter() - start
    assert warm_seconds < cold_seconds / 3
    for name in MODALITY_NAMES:
        assert torch.equal(warm.modalities[name].values, cold.modalities[name].values)
    assert warm.state == cold.state and warm is not cold

    files = list((private_cache / "prepared").glob("*.pt"))
    assert [f.stem for f in files] == [cache_key(dataset, cold.preprocessing, splits)]

    def refuse(*args, **kwargs):
        raise AssertionError("fit ran although the result was cached")

    for name in MODALITIES:
        monkeypatch.setattr(MODALITIES.get(name), "fit", refuse)
    clear_memory_cache()
    start = time.perf_counter()
    from_disk = prepare(dataset, config, splits=splits)
    assert time.perf_counter() - start < cold_seconds
    for name, m in cold.modalities.items():
        loaded = from_disk.modalities[name]
        assert torch.equal(loaded.values, m.values) and torch.equal(loaded.present, m.present)
        assert (loaded.form, loaded.vocab_size, loaded.feature_names, loaded.augment) == (
            m.form,
            m.vocab_size,
            m.feature_names,
            m.augment,
        )
    assert from_disk.state == cold.state and from_disk.preprocessing == cold.preprocessing
    assert from_disk.ids == cold.ids and torch.equal(from_disk.splits.test, splits.test)


def test_changed_options_or_splits_are_not_served_stale(dataset, splits, private_cache):
    first = prepare(dataset, DataConfig(), splits=splits)
    resized = prepare(dataset, DataConfig(preprocessing={"scan": {"size": 8}}), splits=splits)
    assert (
        first.modalities["scan"].values.shape[-1] == 16 and resized.modalities["scan"].values.shape[-1] == 8
    )
    other = Splits(train=splits.val, val=splits.train, test=splits.test)
    assert prepare(dataset, DataConfig(), splits=other).state != first.state


def test_a_damaged_cache_file_is_recomputed(dataset, splits, private_cache):
    first = prepare(dataset, DataConfig(), splits=splits)
    (path,) = (private_cache / "prepared").glob("*.pt")
    path.write_bytes(b"not a torch file")
    clear_memory_cache()
    again = prepare(dataset, DataConfig(), splits=splits)
    assert torch.equal(again.modalities["scan"].values, first.modalities["scan"].values)


def test_cache_off_writes_nothing(dataset, splits, private_cache):
    prepare(dataset, DataConfig(), splits=splits, cache=False)
    assert not (private_cache / "prepared").exists() or not any((private_cache / "prepared").iterdir())


def test_prepare_makes_splits_from_the_config(dataset, monkeypatch):
    calls = []

    def fake_make_splits(labels, *, val_fraction, test_fraction, seed):
        calls.append((labels.tolist(), val_fraction, test_fraction, seed))
        rows = torch.arange(len(labels))
        return Splits(train=rows[:30], val=rows[30:35], test=rows[35:])

    monkeypatch.setattr(fusion_core.data, "make_splits", fake_make_splits, raising=False)
    prepared = prepare(dataset, DataConfig(val_fraction=0.1, test_fraction=0.3, split_seed=7), cache=False)
    assert calls == [([i % 2 for i in range(N)], 0.1, 0.3, 7)]
    assert prepared.splits.train.tolist() == list(range(30))


@pytest.mark.parametrize(
    ("preprocessing", "message"),
    [
        (
            {"pics": {}},
            "preprocessing names modality 'pics', which this dataset does not have; "
            "its modalities are: clinical, scan, voice, sensor, note",
        ),
        (
            {"scan": {"sise": 8}},
            "preprocessing of 'scan' (image) has no option 'sise'; valid options: color, size, augment, augment_flip, features, feature_set",
        ),
        (
            {"scan": {"color": "blue"}},
            "preprocessing of 'scan' (image) option color='blue' is not allowed; choose one of: auto, grayscale, rgb",
        ),
        (
            {"voice": {"n_mels": "many"}},
            "preprocessing of 'voice' (audio) option n_mels takes a whole number, not 'many'",
        ),
        (
            {"sensor": {"length": 0}},
            "series option length must be 'auto' or a whole number from 1 to 100000, got 0",
        ),
        (
            {"note": {"max_length": "long"}},
            "text option max_length must be 'auto' or a whole number from 1 to 4096, got 'long'",
        ),
        (
            {"clinical": {"scale": "log"}},
            "preprocessing of 'clinical' (tabular) option scale='log' is not allowed; choose one of: standard, minmax, none",
        ),
    ],
)
def test_bad_preprocessing_options_raise_config_error(dataset, splits, preprocessing, message):
    with pytest.raises(ConfigError) as caught:
        prepare(dataset, DataConfig(preprocessing=preprocessing), splits=splits, cache=False)
    assert str(caught.value) == message


def test_splits_outside_the_dataset_are_refused(dataset):
    bad = Splits(train=torch.tensor([0, 1, N]), val=torch.tensor([2]), test=torch.tensor([3]))
    with pytest.raises(
        ConfigError,
        match=rf"^the train split has row indices outside 0\.\.{N - 1}; make the splits for this dataset$",
    ):
        prepare(dataset, DataConfig(), splits=bad, cache=False)
