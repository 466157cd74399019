"""From a loaded dataset to tensors: split, fit on the training rows, transform every row, cache.

``prepare`` is the one entry point. It checks the preprocessing options,
splits the samples (unless given a split), fits each modality's
preprocessing on the **training rows only**, transforms every row, and
returns a ``PreparedData`` holding every modality as one contiguous tensor.

Preparing media (decoding thousands of images, computing spectrograms) is
the slow part of an experiment, and the result depends only on the data, the
options and the split. So it is cached twice: in memory (the last few results)
and on disk under ``<cache folder>/prepared/<key>.pt``, where ``key`` is a
hash of exactly those inputs. Changing any of them gives a new key; deleting
the cache folder is always safe.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import tempfile
import warnings
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusion_core.config import DataConfig
from fusion_core.data.bundle import size_text
from fusion_core.data.mapped import is_mapped, mapped_path, open_mapped, write_mapped
from fusion_core.data.types import Dataset, PreparedData, PreparedModality, Splits
from fusion_core.errors import ConfigError, DataError, FusionExplorerError
from fusion_core.modalities.base import MODALITIES, ModalityType
from fusion_core.options import check_options, describe_options
from fusion_core.paths import cache_dir

CACHE_FORMAT = 3  # bump when the prepared tensors change for the same inputs
MAPPED_BYTES_ENV = "FUSION_EXPLORER_MAPPED_BYTES"
DEFAULT_MAPPED_BYTES = 2 * 1024**3
"""Prepared data larger than this many bytes is kept memory-mapped in the cache and read batch by
batch (``fusion_core.data.mapped``); smaller data is held in memory, which is faster."""
MEMORY_ENTRIES = 8

STATE_SCHEMA_KEYS = ("type", "columns")
"""Keys of each modality's saved state that describe its columns rather than what was fitted."""

_memory: OrderedDict[str, PreparedData] = OrderedDict()


def prepare(
    dataset: Dataset,
    data_config: DataConfig,
    *,
    splits: Splits | None = None,
    cache: bool = True,
) -> PreparedData:
    """Split (unless ``splits`` is given), fit preprocessing on the training rows, transform all rows.

    With ``cache=True`` a result for the same data, options and split is served
    from memory or disk instead of being recomputed.
    """
    preprocessors = build_preprocessors(dataset, data_config.preprocessing)
    labels = dataset.label_indices()
    if splits is None:
        from fusion_core.data import make_splits
        from fusion_core.data.splits import value_strata

        splits = make_splits(
            value_strata(labels) if dataset.task == "regression" else labels,
            val_fraction=data_config.val_fraction,
            test_fraction=data_config.test_fraction,
            seed=data_config.split_seed,
        )
    _check_splits(splits, len(dataset))
    preprocessing = {name: resolved_options(pre) for name, pre in preprocessors.items()}
    key = cache_key(dataset, preprocessing, splits)
    if cache:
        cached = _load_cached(key)
        if cached is not None:
            return cached

    train_rows = splits.train.numpy().astype(np.int64)
    modalities: dict[str, PreparedModality] = {}
    state: dict[str, Any] = {}
    for name, preprocessor in preprocessors.items():
        spec = dataset.modalities[name]
        if preprocessor.features:
            fitted = preprocessor.fit_features(dataset, spec, train_rows)
            modalities[name] = preprocessor.transform_features(dataset, spec, fitted)
        else:
            fitted = preprocessor.fit(dataset, spec, train_rows)
            modalities[name] = preprocessor.transform(dataset, spec, fitted)
        state[name] = {"type": spec.type, "columns": list(spec.columns), **fitted}
    prepared = PreparedData(
        dataset_name=dataset.name,
        modalities=modalities,
        labels=labels,
        class_names=dataset.class_names,
        ids=dataset.ids,
        splits=splits,
        state=state,
        preprocessing=preprocessing,
        content_hash=dataset.content_hash,
        task=dataset.task,
    )
    if cache:
        if prepared_bytes(prepared) > mapped_threshold():
            prepared = _map_into_cache(key, prepared)
        _store_cached(key, prepared)
    return prepared


def mapped_threshold() -> int:
    """Bytes above which prepared data is memory-mapped (``$FUSION_EXPLORER_MAPPED_BYTES``)."""
    value = os.environ.get(MAPPED_BYTES_ENV, "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAPPED_BYTES


def prepared_bytes(prepared: PreparedData) -> int:
    return sum(m.values.numel() * m.values.element_size() for m in prepared.modalities.values())


def data_path(prepared: PreparedData) -> str:
    """Which path the data takes in training: held in memory, or memory-mapped and read batch by batch."""
    size = size_text(prepared_bytes(prepared))
    if any(is_mapped(m.values) for m in prepared.modalities.values()):
        return f"memory-mapped from the cache ({size}), read batch by batch"
    return f"in memory ({size})"


ESTIMATE_ROWS = 8
"""Samples ``planned_data_path`` prepares to estimate the size of the whole prepared dataset."""


def planned_data_path(dataset: Dataset, options: dict[str, dict[str, Any]] | None = None) -> str:
    """Which path ``dataset`` will take in training, from its first samples prepared and scaled to all.

    An estimate for the data report, before anything is prepared: the size of text or tabular data can
    differ a little once every sample is seen; ``data_path`` says what was taken.
    """
    head = replace(dataset, table=dataset.table.iloc[:ESTIMATE_ROWS].reset_index(drop=True))
    rows = np.arange(len(head.table), dtype=np.int64)
    size = 0
    try:
        for name, preprocessor in build_preprocessors(head, options or {}).items():
            spec = head.modalities[name]
            if preprocessor.features:
                prepared = preprocessor.transform_features(
                    head, spec, preprocessor.fit_features(head, spec, rows)
                )
            else:
                prepared = preprocessor.transform(head, spec, preprocessor.fit(head, spec, rows))
            size += prepared.values.numel() * prepared.values.element_size()
    except (FusionExplorerError, ValueError, OSError):  # the training itself reports what is wrong
        return "decided when the data is prepared"
    size = size * len(dataset) // max(1, len(head.table))
    if size > mapped_threshold():
        return f"memory-mapped from the cache (about {size_text(size)} prepared), read batch by batch"
    return f"in memory (about {size_text(size)} prepared)"


def _map_into_cache(key: str, prepared: PreparedData) -> PreparedData:
    """The same data with every modality's values written to the cache and mapped back from there."""
    folder = _cache_path(key)
    if folder is None:
        return prepared
    modalities = {}
    for name, m in prepared.modalities.items():
        path = folder.with_name(f"{key}.{name}.npy")
        target = write_mapped(path, tuple(m.values.shape), m.values.numpy().dtype)
        for start in range(0, len(m.values), 4096):  # in slices: never a second whole copy in memory
            target[start : start + 4096] = m.values[start : start + 4096].numpy()
        target.flush()
        del target
        modalities[name] = replace(m, values=open_mapped(path))
    return replace(prepared, modalities=modalities)


def transform_with_state(
    dataset: Dataset,
    state: dict[str, Any],
    preprocessing: dict[str, dict[str, Any]],
    *,
    check_new: bool = False,
) -> dict[str, PreparedModality]:
    """Apply a saved fitted ``state`` (and the options it was fitted with) to a new dataset.

    The new dataset must have the same modalities, by name and type; nothing is
    re-learned, so predictions on new data use exactly the training statistics.
    ``check_new`` first asks each modality type whether data it never saw can be read
    as it was fitted (``ModalityType.check_new_data``), e.g. numbers where it learned numbers.
    """
    prepared = {}
    for name, fitted in state.items():
        spec = dataset.modalities.get(name)
        if spec is None:
            have = ", ".join(dataset.modalities) or "none"
            raise DataError(
                f"the data has no modality {name!r}, which the model needs; its modalities are: {have}"
            )
        if spec.type != fitted["type"]:
            raise DataError(
                f"modality {name!r} is {spec.type} in this data but was {fitted['type']} when the model was "
                "trained; give it the same type"
            )
        preprocessor = _build(MODALITIES.get(spec.type), preprocessing.get(name, {}), name, spec.type)
        learned = {key: value for key, value in fitted.items() if key not in STATE_SCHEMA_KEYS}
        if check_new:
            preprocessor.check_new_data(dataset, spec, learned)
        transform = preprocessor.transform_features if preprocessor.features else preprocessor.transform
        prepared[name] = transform(dataset, spec, learned)
    return prepared


def build_preprocessors(dataset: Dataset, options: dict[str, dict[str, Any]]) -> dict[str, ModalityType]:
    """One configured preprocessor per modality of ``dataset``; raises ConfigError for bad options."""
    unknown = [name for name in options if name not in dataset.modalities]
    if unknown:
        have = ", ".join(dataset.modalities) or "none"
        raise ConfigError(
            f"preprocessing names modality {unknown[0]!r}, which this dataset does not have; "
            f"its modalities are: {have}"
        )
    return {
        name: _build(MODALITIES.get(spec.type), options.get(name) or {}, name, spec.type)
        for name, spec in dataset.modalities.items()
    }


def resolved_options(preprocessor: ModalityType) -> dict[str, Any]:
    """Every option of a preprocessor with the value it actually uses (defaults filled in)."""
    return {info.name: getattr(preprocessor, info.name) for info in describe_options(type(preprocessor))}


def cache_key(dataset: Dataset, preprocessing: dict[str, dict[str, Any]], splits: Splits) -> str:
    """sha256 of everything a prepared result depends on."""
    digest = hashlib.sha256()
    description = {
        "format": CACHE_FORMAT,
        "name": dataset.name,
        "content": dataset.content_hash,
        "rows": len(dataset),
        "id": dataset.id_column,
        "target": dataset.target,
        "modalities": {name: [spec.type, list(spec.columns)] for name, spec in dataset.modalities.items()},
        "preprocessing": preprocessing,
    }
    digest.update(json.dumps(description, sort_keys=True, default=str).encode())
    for part in (splits.train, splits.val, splits.test):
        digest.update(b"|")
        digest.update(part.to(torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def clear_memory_cache() -> None:
    """Forget the in-memory results (the disk cache stays)."""
    _memory.clear()


def _build(cls: type[ModalityType], options: dict[str, Any], name: str, type_name: str) -> ModalityType:
    checked = check_options(cls, dict(options), f"preprocessing of {name!r} ({type_name})")
    return cls(**checked)


def _check_splits(splits: Splits, n: int) -> None:
    for part in ("train", "val", "test"):
        rows = getattr(splits, part)
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= n):
            raise ConfigError(
                f"the {part} split has row indices outside 0..{n - 1}; make the splits for this dataset"
            )
    if splits.train.numel() == 0:
        raise ConfigError("the training split is empty; lower the validation and test fractions")


def _load_cached(key: str) -> PreparedData | None:
    if key in _memory:
        _memory.move_to_end(key)
        return _copy(_memory[key])
    path = _cache_path(key)
    if path is None or not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        prepared = _from_payload(payload, path.parent)
    except Exception:  # a stale or damaged cache file is recomputed, never fatal
        return None
    _remember(key, prepared)
    return _copy(prepared)


def _store_cached(key: str, prepared: PreparedData) -> None:
    _remember(key, _copy(prepared))
    path = _cache_path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        try:
            torch.save(_to_payload(prepared), temporary)
            os.replace(temporary, path)
        finally:  # a failed write leaves no half-written file behind
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
    except OSError as exc:
        warnings.warn(f"could not write the preprocessing cache ({exc}); continuing without it", stacklevel=3)


def _remember(key: str, prepared: PreparedData) -> None:
    _memory[key] = prepared
    _memory.move_to_end(key)
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)


def _cache_path(key: str) -> Path | None:
    try:
        return cache_dir() / "prepared" / f"{key}.pt"
    except OSError:
        return None


def _copy(prepared: PreparedData) -> PreparedData:
    """A new PreparedData sharing the tensors, so a caller editing its dicts cannot change the cache.

    The tensors themselves are shared, not copied: callers must not modify them in place.
    """
    return replace(
        prepared,
        modalities={
            name: replace(m, feature_names=copy.copy(m.feature_names))
            for name, m in prepared.modalities.items()
        },
        class_names=list(prepared.class_names),
        ids=list(prepared.ids),
        splits=replace(prepared.splits),
        state=copy.deepcopy(prepared.state),
        preprocessing=copy.deepcopy(prepared.preprocessing),
    )


def _to_payload(prepared: PreparedData) -> dict[str, Any]:
    """Tensors, strings, numbers and lists only: loadable with ``torch.load(weights_only=True)``."""
    return {
        "format": CACHE_FORMAT,
        "dataset_name": prepared.dataset_name,
        "labels": prepared.labels,
        "class_names": list(prepared.class_names),
        "ids": list(prepared.ids),
        "splits": {"train": prepared.splits.train, "val": prepared.splits.val, "test": prepared.splits.test},
        "state": json.dumps(prepared.state),
        "preprocessing": json.dumps(prepared.preprocessing),
        "content_hash": prepared.content_hash,
        "task": prepared.task,
        "modalities": {
            name: {
                "type": m.type,
                "form": m.form,
                "values": torch.empty(0) if is_mapped(m.values) else m.values,
                "mapped": mapped_path(m.values).name if is_mapped(m.values) else "",
                "present": m.present,
                "vocab_size": -1 if m.vocab_size is None else int(m.vocab_size),
                "feature_names": json.dumps(m.feature_names),
                "augment": m.augment or "",
            }
            for name, m in prepared.modalities.items()
        },
    }


def _from_payload(payload: dict[str, Any], folder: Path | None = None) -> PreparedData:
    if payload.get("format") != CACHE_FORMAT:
        raise ValueError("old cache format")
    for m in payload["modalities"].values():
        if m.get("mapped"):  # values too large for memory: mapped from their file beside the payload
            if folder is None:
                raise ValueError("mapped values need the cache folder")
            m["values"] = open_mapped(folder / m["mapped"])
    modalities = {
        name: PreparedModality(
            name=name,
            type=m["type"],
            form=m["form"],
            values=m["values"],
            present=m["present"],
            vocab_size=None if m["vocab_size"] < 0 else m["vocab_size"],
            feature_names=json.loads(m["feature_names"]),
            augment=m["augment"] or None,
        )
        for name, m in payload["modalities"].items()
    }
    return PreparedData(
        dataset_name=payload["dataset_name"],
        modalities=modalities,
        labels=payload["labels"],
        class_names=payload["class_names"],
        ids=payload["ids"],
        splits=Splits(**payload["splits"]),
        state=json.loads(payload["state"]),
        preprocessing=json.loads(payload["preprocessing"]),
        content_hash=payload["content_hash"],
        task=payload.get("task", "classification"),
    )
