"""Checks that turn a table and a schema into a ``Dataset`` a model can learn from.

Every problem a user can fix is reported as a ``DataError`` with one line that
says what is wrong and how to fix it: a missing or one-class label, a class too
small to split, duplicate ids, a path that leaves the bundle, a missing or
unreadable file. Each referenced media file is opened once at load time, so a
broken file is reported up front, not in the middle of training.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from fusion_core.data.schema import (
    check_modalities,
    is_unsafe_relative_path,
    media_extensions,
    modality_types,
    schema_fingerprint,
)
from fusion_core.data.types import Dataset, ModalitySpec, infer_task
from fusion_core.errors import DataError

MIN_CLASS_SAMPLES = 3
"""A class needs a sample in each of the training, validation and test sets."""

_validated_media: set[str] = set()
"""Content hashes whose media files were all read successfully in this process."""


def finish_dataset(
    *,
    name: str,
    root: Path,
    table: pd.DataFrame,
    id_column: str,
    target: str,
    modalities: Mapping[str, ModalitySpec],
    data_hash: str | Callable[[list[str]], str],
    notes: list[str],
    shown: str,
    fix: str,
    target_fix: str,
    require_labels: bool = True,
    task: str | None = None,
) -> Dataset:
    """Validate everything and build the ``Dataset``.

    ``data_hash`` is the sha256 of the data bytes, or a function of the sorted
    referenced media paths that computes it (folder bundles hash the files they use).
    ``shown`` names the table in messages ("manifest.csv"), ``fix`` says where to
    correct a column name and ``target_fix`` how to name another label column.
    ``require_labels=False`` skips the label checks (new data to predict need not be labelled).
    ``task`` is classification or regression; ``None`` infers it from the label (``infer_task``).
    """
    table = table.reset_index(drop=True)
    if target not in table.columns:
        raise DataError(f"{shown} has no {target!r} column; {target_fix}")
    table[id_column] = check_ids(table, id_column)
    if task is None:
        task = infer_task(table[target]) if require_labels else "classification"
    if require_labels:
        if task == "regression":
            check_values(table, target, table[id_column])
        else:
            check_labels(table, target, table[id_column])
    check_modalities(table, modalities, target=target, id_column=id_column, shown=shown, fix=fix)
    media = {n: s for n, s in modalities.items() if s.type in media_extensions()}
    for spec in media.values():
        column = spec.columns[0]
        table[column] = normalize_paths(table[column])
        check_paths(table[column], spec, root, shown)
    referenced = sorted({p for s in media.values() for p in table[s.columns[0]].dropna()})
    check_files_exist(root, referenced, shown)
    raw_hash = data_hash(referenced) if callable(data_hash) else data_hash
    content_hash = hashlib.sha256(
        f"{raw_hash}\n{schema_fingerprint(id_column, target, modalities, task)}".encode()
    ).hexdigest()
    if content_hash not in _validated_media:
        for spec in media.values():
            check_media_readable(root, table[spec.columns[0]], spec)
        _validated_media.add(content_hash)
    return Dataset(
        name=name,
        root=root,
        table=table,
        id_column=id_column,
        target=target,
        modalities=dict(modalities),
        content_hash=content_hash,
        notes=notes,
        data_hash=raw_hash,
        task=task,
    )


def check_ids(table: pd.DataFrame, id_column: str) -> pd.Series:
    """The id column as strings; every sample has one, and no two are equal."""
    ids = table[id_column]
    missing = ids.isna() | (ids.astype(str).str.strip() == "")
    if missing.any():
        rows = list_examples((str(i + 1) for i in missing[missing].index), missing.sum())
        raise DataError(
            f"{int(missing.sum())} samples have no id in column {id_column!r} (data rows {rows}); "
            "give every sample a unique id"
        )
    ids = ids.astype(str).str.strip()
    counts = ids.value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        shown = list_examples((repr(i) for i in repeated.index), len(repeated))
        noun = "id appears" if len(repeated) == 1 else "ids appear"
        raise DataError(
            f"{len(repeated)} {noun} more than once in column {id_column!r} ({shown}); "
            "every sample needs a unique id"
        )
    return ids


def check_values(table: pd.DataFrame, target: str, ids: pd.Series) -> None:
    """A regression target: every sample has a number, and they are not all equal."""
    values = pd.to_numeric(table[target], errors="coerce")
    bad = values.isna()
    if bad.any():
        shown = list_examples((repr(i) for i in ids[bad]), bad.sum())
        raise DataError(
            f"{int(bad.sum())} samples have no number in the regression target {target!r} (ids {shown}); "
            'fill in a number, remove those rows, or set "task": "classification" in schema.json'
        )
    if values.nunique() < 2:
        raise DataError(f"the regression target {target!r} has a single value; a model has nothing to learn")
    table[target] = values.astype(float)


def check_labels(table: pd.DataFrame, target: str, ids: pd.Series) -> None:
    """Every sample has a label, there are two classes or more, and each can be split three ways."""
    labels = table[target]
    missing = labels.isna() | (labels.astype(str).str.strip() == "")
    if missing.any():
        shown = list_examples((repr(i) for i in ids[missing]), missing.sum())
        raise DataError(
            f"{int(missing.sum())} samples have no label in column {target!r} (ids {shown}); "
            "fill in their class or remove those rows"
        )
    counts = labels.astype(str).value_counts()
    if len(counts) < 2:
        raise DataError(
            f"the label column {target!r} has only one class ({counts.index[0]!r}); "
            "a classifier needs samples of at least two classes"
        )
    small = counts[counts < MIN_CLASS_SAMPLES].sort_values()
    if len(small) == 1:
        cls, count = small.index[0], int(small.iloc[0])
        raise DataError(
            f"class {cls!r} has only {count} sample{'s' if count != 1 else ''}; every class needs at least "
            f"{MIN_CLASS_SAMPLES} to be split into training, validation and test sets; "
            "add samples of it or remove it"
        )
    if len(small) > 1:
        listed = ", ".join(f"{cls!r} ({int(n)})" for cls, n in list(small.items())[:5])
        raise DataError(
            f"{len(small)} classes have fewer than {MIN_CLASS_SAMPLES} samples: {listed}; every class needs "
            f"at least {MIN_CLASS_SAMPLES} to be split into training, validation and test sets; "
            "add samples of them or remove them"
        )


def normalize_paths(values: pd.Series) -> pd.Series:
    """Media paths as trimmed strings with '/' separators; an empty value becomes missing (NaN)."""
    text = values.astype("string").str.strip().str.replace("\\", "/", regex=False)
    return text.where(text.notna() & (text != ""), None).astype(object)


def check_paths(values: pd.Series, spec: ModalitySpec, root: Path, shown: str) -> None:
    """Paths stay inside the bundle (symbolic links included) and end with an extension of the modality's type."""
    column = spec.columns[0]
    real_root = os.path.realpath(root)
    extensions = media_extensions()[spec.type]
    inside: dict[str, bool] = {}  # folder -> whether it really lies inside the bundle
    for value in values.dropna().unique():
        folder = value.rpartition("/")[0]
        if folder not in inside:
            inside[folder] = not is_unsafe_relative_path(value) and _within(
                real_root, os.path.join(real_root, folder)
            )
        path = os.path.join(real_root, value)
        if not inside[folder] or (os.path.islink(path) and not _within(real_root, path)):
            raise DataError(
                f"path {value!r} in column {column!r} of {shown} points outside the bundle; use a path "
                "relative to the bundle folder, without a leading '/' or '..'"
            )
        if os.path.splitext(value)[1].lower() not in extensions:
            raise DataError(
                f"path {value!r} in column {column!r} is not an {spec.type} file "
                f"({', '.join(extensions)}); fix the path or change the type of modality {spec.name!r}"
            )


def _within(real_root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def check_files_exist(root: Path, paths: list[str], shown: str) -> None:
    folder = os.fspath(root)
    missing = [p for p in paths if not os.path.isfile(os.path.join(folder, p))]
    if missing:
        noun = "file is" if len(missing) == 1 else "files are"
        raise DataError(
            f"{len(missing)} {noun} referenced in {shown} but missing ({list_examples(missing, len(missing))}); "
            "check the paths, which are relative to the bundle folder"
        )


def check_media_readable(root: Path, values: pd.Series, spec: ModalitySpec) -> None:
    """Open every referenced file of one media modality, as its modality type checks them."""
    modality_types().get(spec.type).check_files(root, list(values.dropna().unique()), spec)


def hash_files(root: Path, paths: Iterable[str], head: bytes = b"") -> str:
    """sha256 over ``head`` and each file's relative path and bytes, in the given order."""
    digest = hashlib.sha256(head)
    for relative in paths:
        digest.update(b"\0" + relative.encode() + b"\0")
        with open(root / relative, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def list_examples(items: Iterable[str], total: int, limit: int = 3) -> str:
    listed = []
    for item in items:
        if len(listed) == limit:
            break
        listed.append(str(item))
    text = ", ".join(listed)
    return f"e.g. {text}" if total > limit else text
