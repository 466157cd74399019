"""Load several per-modality files and pair their samples by id (bundle format B).

- a CSV table per tabular or text modality, each with the same id column; the
  modality is named after the file (``clinical.csv`` → ``clinical``);
- a ``.zip`` or folder of media files per image, audio or series modality,
  each file named ``<id>.<ext>`` (``scans.zip`` → modality ``scans``);
- the label column in one of the tables.

Samples are paired by an inner join on the id: an id missing from some
modality is left out, and the dataset's notes say how many and which.
Media files are gathered under one folder in the cache, so that, as with a
bundle, ``dataset.root / path`` finds every file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fusion_core.data.bundle import extract_zip, file_sha256
from fusion_core.data.schema import DEFAULT_ID, DEFAULT_TARGET, infer_column_type, media_type_of_extension
from fusion_core.data.tables import read_table
from fusion_core.data.types import Dataset, ModalitySpec
from fusion_core.data.validate import finish_dataset, list_examples
from fusion_core.errors import DataError
from fusion_core.paths import cache_dir


@dataclass
class _Source:
    path: Path
    stem: str
    digest: str
    table: pd.DataFrame | None = None
    media_type: str | None = None
    files: dict[str, Path] = field(default_factory=dict)  # id -> file inside ``folder``
    folder: Path | None = None


def load_paired_files(
    paths: Sequence[str | os.PathLike[str]],
    name: str | None = None,
    *,
    id_column: str | None = None,
    target: str | None = None,
    require_labels: bool = True,
) -> Dataset:
    """Pair per-modality files by id into one ``Dataset`` (see the module docstring).

    With ``require_labels=False`` (new data to predict) the label column may be absent or partly empty.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if not paths:
        raise DataError("no files given; give CSV tables and zips or folders of media files named <id>.<ext>")
    id_column = id_column or DEFAULT_ID
    target = target or DEFAULT_TARGET
    sources = [_open_source(Path(p).expanduser().absolute(), id_column) for p in paths]
    stems = [s.stem for s in sources]
    if len(set(stems)) < len(stems):
        repeated = next(s for s in stems if stems.count(s) > 1)
        raise DataError(
            f"two files are both named {repeated!r}; each modality is named after its file, so rename one"
        )
    tables = [s for s in sources if s.table is not None]
    auto_id = False
    if len(sources) == 1 and tables and id_column not in tables[0].table.columns:
        tables[0].table.insert(0, id_column, pd.Series(range(len(tables[0].table))).astype(str))
        auto_id = True
    for source in tables:
        if id_column not in source.table.columns:
            raise DataError(
                f"{source.path.name} has no {id_column!r} column; every table needs the same id column to "
                "pair samples (choose its name with id_column / --id-column)"
            )
    labelled = [s for s in tables if target in s.table.columns]
    if not labelled and tables and not require_labels:
        tables[0].table[target] = ""
        labelled = tables[:1]
    if not labelled:
        raise DataError(
            f"no table has a {target!r} column; add the class of each sample as a {target!r} column to one "
            "of the tables, or name the label column with target / --target"
        )

    notes: list[str] = []
    if auto_id:
        notes.append(
            f"{sources[0].path.name} has no {id_column!r} column; samples are numbered by row from 0"
        )
    for extra in labelled[1:]:
        notes.append(
            f"{extra.path.name} also has a {target!r} column; the labels of {labelled[0].path.name} are used"
        )
        extra.table = extra.table.drop(columns=[target])

    digest = hashlib.sha256(f"{id_column}\n{target}\n".encode())
    for source in sources:
        digest.update(f"{source.stem}\n{source.digest}\n".encode())
    data_hash = digest.hexdigest()
    media_sources = [s for s in sources if s.media_type]
    root = _gather_media(media_sources, data_hash) if media_sources else labelled[0].path.parent

    table, modalities = _join(labelled[0], sources, id_column, target, notes)
    return finish_dataset(
        name=name or "+".join(stems),
        root=root,
        table=table,
        id_column=id_column,
        target=target,
        modalities=modalities,
        data_hash=data_hash,
        notes=notes,
        shown="the paired tables",
        fix="check the column names",
        target_fix="name the label column with target / --target",
        require_labels=require_labels,
    )


def _open_source(path: Path, id_column: str) -> _Source:
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path")
    stem = path.stem if path.is_file() else path.name
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".csv":
        source = _Source(path=path, stem=stem, digest=file_sha256(path))
        source.table = read_table(path, text_columns=(id_column,))
        return source
    if path.is_file() and suffix == ".zip":
        digest = file_sha256(path)
        source = _Source(path=path, stem=stem, digest=digest)
        source.folder = extract_zip(path, cache_dir() / "media" / digest, referenced_only=False)
    elif path.is_dir():
        source = _Source(path=path, stem=stem, digest="")
        source.folder = path
    else:
        raise DataError(
            f"{path.name} is neither a CSV table nor a zip or folder of media files; "
            "give .csv tables and zips or folders of files named <id>.<ext>"
        )
    _index_media(source)
    if not source.digest:
        digest = hashlib.sha256()
        for key in sorted(source.files):
            digest.update(f"{key}\n{source.files[key].name}\n".encode())
            digest.update(file_sha256(source.files[key]).encode())
        source.digest = digest.hexdigest()
    return source


def _index_media(source: _Source) -> None:
    """Find the media files of a zip or folder: ``<id>.<ext>`` at any depth, all of one type."""
    kinds: dict[str, str] = {}
    for file in sorted(source.folder.rglob("*")):
        if not file.is_file() or file.name.startswith("."):
            continue
        kind = media_type_of_extension(file.suffix)
        if kind is None:
            continue
        kinds.setdefault(kind, file.name)
        if file.stem in source.files:
            raise DataError(
                f"{source.path.name} holds two files for id {file.stem!r} "
                f"({source.files[file.stem].name}, {file.name}); keep one file per id"
            )
        source.files[file.stem] = file
    if not source.files:
        raise DataError(
            f"{source.path.name} holds no image, audio or series files; name each file <id>.<ext>, "
            "e.g. p001.png, p001.wav or p001.npy"
        )
    if len(kinds) > 1:
        (a, first), (b, second) = list(kinds.items())[:2]
        raise DataError(
            f"{source.path.name} mixes {a} and {b} files ({first}, {second}); "
            "give each media type its own zip or folder"
        )
    source.media_type = next(iter(kinds))


def _gather_media(sources: list[_Source], data_hash: str) -> Path:
    """Link or copy every media file under ``<cache>/paired/<hash>/<modality>/`` (once)."""
    root = cache_dir() / "paired" / data_hash
    if root.is_dir():
        return root
    staging = root.with_name(f".{root.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for source in sources:
        folder = staging / source.stem
        folder.mkdir(parents=True)
        for file in source.files.values():
            destination = folder / file.name
            try:
                os.link(file, destination)
            except OSError:
                shutil.copyfile(file, destination)
    try:
        staging.rename(root)
    except OSError:
        if not root.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _join(
    labelled: _Source, sources: list[_Source], id_column: str, target: str, notes: list[str]
) -> tuple[pd.DataFrame, dict[str, ModalitySpec]]:
    """Inner-join every source on the id and name a modality per file."""
    frames: list[tuple[_Source, pd.DataFrame]] = []
    modalities: dict[str, ModalitySpec] = {}
    taken = {id_column, target}
    for source in [labelled] + [s for s in sources if s is not labelled]:
        if source.table is not None:
            frame = source.table.copy()
            frame[id_column] = frame[id_column].astype("string").str.strip()
            renames = {
                c: f"{source.stem}.{c}" for c in frame.columns if c in taken and c not in (id_column, target)
            }
            frame = frame.rename(columns=renames)
            features = [c for c in frame.columns if c not in (id_column, target)]
            if not features:
                notes.append(f"{source.path.name} holds only ids and labels; it adds no modality")
            kinds = {c: infer_column_type(frame[c], media=False) for c in features}
            tabular = [c for c in features if kinds[c] == "tabular"]
            text = [c for c in features if kinds[c] == "text"]
            empty = [c for c in features if kinds[c] is None]
            if empty:
                notes.append(
                    f"{source.path.name}: column(s) {', '.join(empty)} hold no values and are left out"
                )
            if tabular:
                name = _unique_name(source.stem, modalities)
                modalities[name] = ModalitySpec(name, "tabular", tabular)
            for column in text:
                name = _unique_name(source.stem if len(features) == 1 else str(column), modalities)
                modalities[name] = ModalitySpec(name, "text", [column])
        else:
            column = source.stem if source.stem not in taken else f"{source.stem}_path"
            frame = pd.DataFrame(
                {
                    id_column: pd.Series(list(source.files), dtype="string"),
                    column: [f"{source.stem}/{f.name}" for f in source.files.values()],
                }
            )
            name = _unique_name(source.stem, modalities)
            modalities[name] = ModalitySpec(name, source.media_type, [column])
        _check_unique_ids(frame[id_column], source.path.name, id_column)
        taken.update(frame.columns)
        frames.append((source, frame))

    all_ids = [set(frame[id_column].dropna()) for _, frame in frames]
    common = set.intersection(*all_ids)
    union = set.union(*all_ids)
    if not common:
        examples = ", ".join(
            f"{src.path.name}: {sorted(ids)[0]!r}"
            for (src, _), ids in zip(frames, all_ids, strict=True)
            if ids
        )
        raise DataError(
            f"no id appears in every file ({examples}); check that the files use the same ids "
            "(table ids must match the media file names without extension)"
        )
    if len(common) < len(union):
        left_out = sorted(union - common)
        examples = []
        for sample_id in left_out[:3]:
            lacking = [
                src.stem for (src, _), ids in zip(frames, all_ids, strict=True) if sample_id not in ids
            ]
            examples.append(f"{sample_id!r} (no {', '.join(lacking)})")
        listing = ", ".join(examples)
        count = len(left_out)
        if count == 1:
            notes.append(f"1 id is not in every modality and was left out: {listing}")
        else:
            listing = f"e.g. {listing}" if count > 3 else listing
            notes.append(f"{count} ids are not in every modality and were left out: {listing}")
    table = frames[0][1]
    for _, frame in frames[1:]:
        table = table.merge(frame, on=id_column, how="inner", validate="one_to_one")
    table[id_column] = table[id_column].astype(str)
    return table.reset_index(drop=True), modalities


def _unique_name(name: str, taken: dict[str, ModalitySpec]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


def _check_unique_ids(ids: pd.Series, shown: str, id_column: str) -> None:
    if ids.isna().any():
        raise DataError(
            f"{int(ids.isna().sum())} rows of {shown} have no {id_column!r}; give every sample an id"
        )
    counts = ids.value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        listed = list_examples((repr(i) for i in repeated.index), len(repeated))
        noun = "id appears" if len(repeated) == 1 else "ids appear"
        raise DataError(
            f"{len(repeated)} {noun} more than once in {shown} ({listed}); every sample needs a unique id"
        )
