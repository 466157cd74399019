"""Which columns form which modality: ``schema.json``, inference, and user corrections.

A bundle's ``manifest.csv`` is just a table. Its *schema* says what each column
is for: one column names the sample (``id``), one holds the class to predict
(``target``), and the rest are grouped into modalities. The schema comes from
``schema.json`` when the bundle has one, is otherwise inferred from the column
contents (see ``infer_modalities``), and can be corrected afterwards with
``with_schema`` (the app's Data page does this when a user moves a column).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusion_core.data.types import TASKS, Dataset, ModalitySpec
from fusion_core.errors import DataError
from fusion_core.settings import upload_limits

TEXT_MIN_WORDS = 3.0
"""A string column is free text when its values have at least this many words on average…"""

TEXT_MIN_DISTINCT = 50
"""…and many distinct values: more than this many, or more than half the rows when fewer."""

DEFAULT_ID = "id"
DEFAULT_TARGET = "label"


@dataclass
class SchemaFile:
    """The contents of ``schema.json``; a key left out is None."""

    id: str | None = None
    target: str | None = None
    modalities: dict[str, ModalitySpec] | None = None
    task: str | None = None


def check_json_depth(text: str, shown: str) -> None:
    """Refuse JSON nested deeper than the limit before parsing it (the parser would recurse that deep)."""
    limit = upload_limits().max_json_depth
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise DataError(
                    f"{shown} is nested more than {limit} levels deep; a schema needs three levels "
                    "(modalities, one modality, its columns): write it flat"
                )
        elif char in "]}":
            depth -= 1


def parse_schema(text: str, shown: str = "schema.json") -> SchemaFile:
    """Parse and type-check the text of ``schema.json`` (all keys optional)."""
    check_json_depth(text, shown)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{shown} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "fix it or delete it to let the modalities be inferred"
        ) from None
    if not isinstance(raw, dict):
        raise DataError(
            f'{shown} must hold a JSON object with the optional keys "id", "target" and "modalities", '
            f"not a {_json_type(raw)}"
        )
    for key in ("id", "target"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            raise DataError(f'{shown} "{key}" must be a column name (a string), not {json.dumps(raw[key])}')
    task = raw.get("task")
    if task is not None and task not in TASKS:
        raise DataError(f'{shown} "task" must be one of {", ".join(TASKS)}, not {json.dumps(task)}')
    modalities = None
    if raw.get("modalities") is not None:
        if not isinstance(raw["modalities"], dict):
            raise DataError(
                f'{shown} "modalities" must map each modality name to {{"type": …, "columns": […]}}, '
                f"not a {_json_type(raw['modalities'])}"
            )
        modalities = normalize_modalities(raw["modalities"], shown=shown)
    return SchemaFile(id=raw.get("id"), target=raw.get("target"), modalities=modalities, task=task)


def normalize_modalities(
    raw: Mapping[str, ModalitySpec | Mapping[str, Any]], *, shown: str = "the schema"
) -> dict[str, ModalitySpec]:
    """Turn ``{name: ModalitySpec | {"type", "columns" | "column"}}`` into checked ``ModalitySpec`` objects."""
    if not raw:
        raise DataError(f"{shown} lists no modalities; give at least one modality with its columns")
    specs: dict[str, ModalitySpec] = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{shown} has a modality without a name; give every modality a non-empty name")
        if isinstance(entry, ModalitySpec):
            kind, columns = entry.type, entry.columns
        elif isinstance(entry, Mapping):
            kind = entry.get("type")
            columns = _entry_columns(name, entry, shown)
        else:
            raise DataError(
                f'{shown} modality {name!r} must be an object like {{"type": "tabular", "columns": […]}}, '
                f"not a {_json_type(entry)}"
            )
        types = modality_types()
        if kind not in types.names():
            raise DataError(
                f"{shown} modality {name!r} has type {kind!r}; choose one of: {', '.join(types.names())}"
            )
        columns = list(columns)
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise DataError(f"{shown} modality {name!r} needs at least one column name (strings)")
        if not types.get(kind).table_columns and len(columns) != 1:
            raise DataError(
                f"{shown} modality {name!r} of type {kind} takes exactly one column, got {len(columns)} "
                f"({', '.join(columns)}); make one modality per column"
            )
        specs[name] = ModalitySpec(name=name, type=kind, columns=columns)
    return specs


def _entry_columns(name: str, entry: Mapping[str, Any], shown: str) -> list[str]:
    if "columns" in entry and "column" in entry:
        raise DataError(f'{shown} modality {name!r} gives both "column" and "columns"; keep one')
    if isinstance(entry.get("column"), str):
        return [entry["column"]]
    if isinstance(entry.get("columns"), list):
        return entry["columns"]
    raise DataError(
        f'{shown} modality {name!r} needs "columns" (a list of column names) or "column" (one column name)'
    )


def modality_types() -> Any:
    """The modality-type registry (``fusion_core.modalities.MODALITIES``).

    Imported on call: the modality types read their files through this package,
    so importing them at the top would be circular.
    """
    from fusion_core.modalities import MODALITIES

    return MODALITIES


def media_extensions() -> dict[str, tuple[str, ...]]:
    """File extensions that make a column of paths a media modality, by modality type."""
    types = modality_types()
    return {name: types.get(name).extensions for name in types.names() if types.get(name).extensions}


def infer_modalities(
    table: pd.DataFrame, *, target: str, id_column: str, root: Path | None
) -> dict[str, ModalitySpec]:
    """Guess the modality of every column except the id and the target.

    - paths ending in an image, audio or series extension form a modality of that
      type, named after the column (``root`` is where those paths point; pass None
      for a table that holds no file paths, and paths are never inferred);
    - free text (many distinct values, several words each on average) forms a
      ``text`` modality named after the column;
    - everything else, numbers and categories alike, is gathered into ONE
      ``tabular`` modality named "tabular".

    Columns with no values at all are left out.
    """
    tabular: list[str] = []
    found: dict[str, ModalitySpec] = {}
    order: list[str] = []
    numeric = numeric_columns(table)  # decided in one block: a table may have tens of thousands of columns
    empty = (
        set(numeric[np.isnan(table[numeric].to_numpy(dtype=float)).all(axis=0)]) if len(numeric) else set()
    )
    numeric = set(numeric)
    for column in table.columns:
        if column in (target, id_column):
            continue
        if column in numeric:
            kind = None if column in empty else "tabular"
        else:
            kind = infer_column_type(table[column], media=root is not None)
        if kind is None:
            continue
        if kind == "tabular":
            if not tabular:
                order.append("tabular")
            tabular.append(column)
            continue
        name = str(column)
        if name == "tabular" or name in found:
            name = f"{column}_{kind}"
        found[name] = ModalitySpec(name=name, type=kind, columns=[column])
        order.append(name)
    if tabular:
        found["tabular"] = ModalitySpec(name="tabular", type="tabular", columns=tabular)
    return {name: found[name] for name in order}


def numeric_columns(table: pd.DataFrame) -> pd.Index:
    """The columns holding numbers (booleans excluded), read from the dtypes without touching the values."""
    dtypes = table.dtypes
    return dtypes.index[
        [pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in dtypes]
    ]


def infer_column_type(values: pd.Series, *, media: bool = True) -> str | None:
    """The modality type a single column looks like, or None when it holds no values."""
    present = values.dropna()
    if present.empty:
        return None
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "tabular"
    strings = present.astype(str).str.strip()
    strings = strings[strings != ""]
    if strings.empty:
        return None
    if media:
        kind = _media_kind(strings)
        if kind:
            return kind
    distinct = strings.nunique()
    mean_words = strings.str.split().str.len().mean()
    if mean_words >= TEXT_MIN_WORDS and distinct > min(TEXT_MIN_DISTINCT, len(strings) / 2):
        return "text"
    return "tabular"


def _media_kind(strings: pd.Series) -> str | None:
    suffixes = strings.str.lower().str.extract(r"(\.[a-z0-9]+)$", expand=False)
    for kind, extensions in media_extensions().items():
        if suffixes.isin(extensions).mean() > 0.5:
            return kind
    return None


def media_type_of_extension(suffix: str) -> str | None:
    """``image`` / ``audio`` / ``series`` for a file extension such as ``.png``, else None."""
    suffix = suffix.lower()
    for kind, extensions in media_extensions().items():
        if suffix in extensions:
            return kind
    return None


def check_modalities(
    table: pd.DataFrame,
    modalities: Mapping[str, ModalitySpec],
    *,
    target: str,
    id_column: str,
    shown: str,
    fix: str,
) -> None:
    """Every named column exists, belongs to one modality only, and is neither the id nor the target.

    ``shown`` names where the schema came from and ``fix`` says where to correct it.
    """
    if not modalities:
        raise DataError(
            f"{shown} has no input columns besides the id and the label; add feature columns or file paths"
        )
    owner: dict[str, str] = {}
    for name, spec in modalities.items():
        for column in spec.columns:
            if column not in table.columns:
                raise DataError(
                    f"modality {name!r} names column {column!r}, which {shown} does not have; {fix} "
                    f"(columns: {_column_list(table.columns)})"
                )
            if column == target:
                raise DataError(
                    f"the label column {target!r} cannot also be an input of modality {name!r}; "
                    "remove it from the modality"
                )
            if column == id_column:
                raise DataError(
                    f"the id column {id_column!r} cannot also be an input of modality {name!r}; "
                    "remove it from the modality"
                )
            if column in owner:
                raise DataError(
                    f"column {column!r} is in both modality {owner[column]!r} and {name!r}; "
                    "put each column in one modality"
                )
            owner[column] = name
    check_finite_numbers(
        table, [c for s in modalities.values() if s.type == "tabular" for c in s.columns], shown
    )


def check_finite_numbers(table: pd.DataFrame, columns: list[str], shown: str) -> None:
    """Refuse infinite numbers in numeric columns (empty cells and NaN are imputed; infinity cannot be)."""
    dtypes = table.dtypes
    numeric = [c for c in columns if pd.api.types.is_float_dtype(dtypes[c])]
    if not numeric:
        return
    values = table[numeric].to_numpy(dtype=float)
    infinite = np.isinf(values)
    if infinite.any():
        rows, cols = np.nonzero(infinite)
        raise DataError(
            f"column {numeric[cols[0]]!r} of {shown} holds an infinite number (data row {rows[0] + 1}; "
            f"{int(infinite.sum()):,} in all), which is refused, not imputed; replace it with a real number "
            "or leave the cell empty to have it imputed"
        )


def schema_fingerprint(
    id_column: str, target: str, modalities: Mapping[str, ModalitySpec], task: str = "classification"
) -> str:
    """A canonical JSON text of the effective schema, hashed together with the data bytes.

    The task is written only when it is regression, so classification schemas read as before.
    """
    schema = {
        "id": id_column,
        "target": target,
        "modalities": {n: {"type": s.type, "columns": list(s.columns)} for n, s in modalities.items()},
    }
    if task == "regression":
        schema["task"] = task
    return json.dumps(schema, sort_keys=True)


def schema_dict(dataset: Dataset) -> dict[str, Any]:
    """The dataset's effective schema in the ``schema.json`` layout (to save or to show)."""
    return json.loads(schema_fingerprint(dataset.id_column, dataset.target, dataset.modalities, dataset.task))


def with_schema(
    dataset: Dataset,
    *,
    modalities: Mapping[str, ModalitySpec | Mapping[str, Any]] | None = None,
    target: str | None = None,
    task: str | None = None,
    require_labels: bool = True,
) -> Dataset:
    """A re-validated copy of ``dataset`` with the user's corrections.

    ``modalities`` replaces the grouping of columns into modalities (values are
    ``ModalitySpec`` objects or ``schema.json``-style dicts); ``target`` picks
    another label column; ``task`` sets classification or regression (``None``: keep the
    dataset's, or infer it afresh for a new target). When only ``target`` is given and that column was an
    input, it is taken out of its modality (a modality left empty disappears).
    """
    from fusion_core.data.validate import finish_dataset, hash_files

    new_target = dataset.target if target is None else target
    if new_target not in dataset.table.columns:
        raise DataError(
            f"target column {new_target!r} is not in the dataset; choose one of: "
            f"{_column_list(c for c in dataset.table.columns if c != dataset.id_column)}"
        )
    if modalities is None:
        specs = {}
        for name, spec in dataset.modalities.items():
            columns = [c for c in spec.columns if c != new_target]
            if columns:
                specs[name] = replace(spec, columns=columns)
    else:
        specs = normalize_modalities(modalities)
    base_hash = dataset.data_hash or dataset.content_hash
    already_hashed = {
        path
        for spec in dataset.modalities.values()
        if spec.type in media_extensions()
        for path in dataset.table[spec.columns[0]].dropna()
    }

    def data_hash(referenced: list[str]) -> str:
        # Files that only now count as media were not part of the data hash yet.
        added = [path for path in referenced if path not in already_hashed]
        return hash_files(dataset.root, added, base_hash.encode()) if added else base_hash

    return finish_dataset(
        name=dataset.name,
        root=dataset.root,
        table=dataset.table.copy(),
        id_column=dataset.id_column,
        target=new_target,
        modalities=specs,
        data_hash=data_hash,
        notes=list(dataset.notes),
        shown="the dataset",
        fix="choose one of its columns",
        target_fix="choose another target column",
        require_labels=require_labels,
        task=task if task is not None else (dataset.task if target is None else None),
    )


def _column_list(columns: Any, limit: int = 12) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _json_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def is_unsafe_relative_path(value: str) -> bool:
    """True for absolute paths and paths with a '..' part (they could point outside the bundle)."""
    text = value.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return True
    return ".." in text.split("/")
