"""Load a bundle: a folder or ``.zip`` holding ``manifest.csv``, an optional ``schema.json`` and media files.

A zip is checked before anything is written (size, file count, compression
ratio, encryption, member names that would land outside the folder, symbolic
links; limits in ``fusion_core.settings``). Then only ``manifest.csv``,
``schema.json`` and the members the manifest names are unpacked, once, into
``<cache>/bundles/<sha256 of the zip>/``; loading the same zip again reuses
that folder. Anything else in the zip is never read.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from fusion_core.data.schema import (
    DEFAULT_ID,
    DEFAULT_TARGET,
    SchemaFile,
    infer_modalities,
    is_unsafe_relative_path,
    parse_schema,
)
from fusion_core.data.tables import decode_utf8, parse_table
from fusion_core.data.types import Dataset
from fusion_core.data.validate import finish_dataset, hash_files
from fusion_core.errors import DataError
from fusion_core.paths import cache_dir
from fusion_core.settings import upload_limits

IGNORED_MEMBERS = ("__MACOSX/", ".DS_Store", "Thumbs.db")
"""Files that archivers add on their own; they are skipped."""


def load_bundle(
    path: str | os.PathLike[str], name: str | None = None, *, require_labels: bool = True
) -> Dataset:
    """Load and validate a bundle folder or ``.zip`` (manifest.csv + optional schema.json + media).

    With ``require_labels=False`` (new data to predict) the label column may be absent or partly empty.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist; give the path of a bundle folder or .zip file")
    path = path.resolve()
    if path.is_dir():
        return _load_folder(path, name or path.name, zip_hash=None, require_labels=require_labels)
    if path.suffix.lower() != ".zip":
        raise DataError(
            f"{path.name} is not a bundle; give a folder or .zip holding manifest.csv, or several "
            "per-modality files together"
        )
    zip_hash = file_sha256(path)
    folder = extract_zip(path, cache_dir() / "bundles" / zip_hash)
    return _load_folder(
        _bundle_root(folder, path.name), name or path.stem, zip_hash=zip_hash, require_labels=require_labels
    )


def _load_folder(root: Path, name: str, *, zip_hash: str | None, require_labels: bool = True) -> Dataset:
    manifest_path = root / "manifest.csv"
    if not manifest_path.is_file():
        raise DataError(
            f"no manifest.csv in folder {root.name!r}; a bundle needs a manifest.csv with a header row "
            "and one row per sample"
        )
    schema_path = root / "schema.json"
    schema_bytes = b""
    schema = SchemaFile()
    if schema_path.is_file():
        schema_bytes = schema_path.read_bytes()
        schema = parse_schema(decode_utf8(schema_bytes, "schema.json"))

    id_column = schema.id or DEFAULT_ID
    target = schema.target or DEFAULT_TARGET
    manifest_bytes = manifest_path.read_bytes()
    table = parse_table(manifest_bytes, "manifest.csv", text_columns=(id_column,))
    notes: list[str] = []
    if target not in table.columns and not require_labels:
        table[target] = ""
    if target not in table.columns:
        if schema.target:
            raise DataError(
                f"schema.json names the target {target!r}, but manifest.csv has no such column; "
                f'fix "target" in schema.json (columns: {", ".join(map(str, table.columns))})'
            )
        raise DataError(
            f"manifest.csv has no {DEFAULT_TARGET!r} column; add the class of each sample as a "
            f'{DEFAULT_TARGET!r} column, or name the label column in schema.json as "target"'
        )
    if id_column not in table.columns:
        if schema.id:
            raise DataError(
                f"schema.json names the id column {id_column!r}, but manifest.csv has no such column; "
                f'fix "id" in schema.json or remove it to number the rows'
            )
        table.insert(0, id_column, pd.Series(range(len(table))).astype(str))
        notes.append(f"manifest.csv has no {id_column!r} column; samples are numbered by row from 0")
    if schema.modalities is not None:
        modalities = schema.modalities
    else:
        modalities = infer_modalities(table, target=target, id_column=id_column, root=root)

    head = hashlib.sha256(manifest_bytes).hexdigest() + hashlib.sha256(schema_bytes).hexdigest()
    data_hash = zip_hash if zip_hash else (lambda paths: hash_files(root, paths, head.encode()))
    return finish_dataset(
        name=name,
        root=root,
        table=table,
        id_column=id_column,
        target=target,
        modalities=modalities,
        data_hash=data_hash,
        notes=notes,
        shown="manifest.csv",
        fix="fix the name in schema.json",
        target_fix='name the label column in schema.json as "target"',
        require_labels=require_labels,
        task=schema.task,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract_zip(path: Path, destination: Path, *, referenced_only: bool = True) -> Path:
    """Check ``path`` and unpack it into ``destination`` (reused when already there); returns it.

    With ``referenced_only`` (bundles) only manifest.csv, schema.json and the members named in
    the manifest are unpacked; a zip of media files for pairing unpacks every checked member.
    """
    if destination.is_dir():
        return destination
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise DataError(f"{path.name} is not a valid zip file; create it again, e.g. with zip -r") from None
    with archive:
        try:
            members = check_zip_members(archive, path.name)
            if referenced_only:
                members = referenced_members(archive, members, path.name)
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError) as exc:
            raise DataError(
                f"{path.name} is damaged or uses an unsupported compression ({exc}); create it again"
            ) from None
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=destination.parent))
        try:
            for info in members:
                target = staging.joinpath(*_member_parts(info.filename))
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as sink:
                    sink.write(read_member(archive, info, path.name))
            try:
                staging.rename(destination)
            except OSError:  # another process unpacked the same zip meanwhile
                if not destination.is_dir():
                    raise
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError) as exc:
            raise DataError(
                f"{path.name} is damaged or uses an unsupported compression ({exc}); create it again"
            ) from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return destination


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> bytes:
    """A member's bytes, read in chunks and stopped as soon as it grows past its declared size."""
    chunks, total = [], 0
    with archive.open(info) as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            total += len(chunk)
            if total > info.file_size:
                raise DataError(
                    f"{shown} member {info.filename!r} unpacks to more than the size its header declares; "
                    "the zip is damaged or forged: create it again"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def check_zip_members(archive: zipfile.ZipFile, shown: str) -> list[zipfile.ZipInfo]:
    """The zip's files to unpack, after the checks that must come before writing anything."""
    limits = upload_limits()
    infos = archive.infolist()
    if len(infos) > limits.max_zip_members:
        raise DataError(
            f"{shown} holds {len(infos):,} entries, over the limit of {limits.max_zip_members:,}; "
            "split the data into smaller bundles"
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_unpacked_bytes:
        raise DataError(
            f"{shown} would unpack to {size_text(total)}, over the limit of {size_text(limits.max_unpacked_bytes)}; "
            "use smaller files or split the data into smaller bundles"
        )
    members = []
    for info in infos:
        name = info.filename
        if is_unsafe_relative_path(name) or not _member_parts(name):
            raise DataError(
                f"{shown} holds the unsafe path {name!r}, which would unpack outside its folder; "
                "create the zip again from inside the bundle folder"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(
                f"{shown} holds a symbolic link {name!r}; replace links by the files they point to"
            )
        if info.is_dir() or _ignored(name):
            continue
        if info.flag_bits & 0x1:
            raise DataError(f"{shown} member {name!r} is encrypted; create the zip again without a password")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024**2 and ratio > limits.max_zip_ratio:
            raise DataError(
                f"{shown} member {name!r} would unpack {ratio:,.0f} times larger than it is packed "
                f"({size_text(info.file_size)}), over the limit of {limits.max_zip_ratio:,.0f}; a zip bomb "
                "is refused: zip the real files again"
            )
        members.append(info)
    return members


def referenced_members(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], shown: str
) -> list[zipfile.ZipInfo]:
    """manifest.csv, schema.json and the members whose path (from the bundle root) a manifest cell names."""
    by_path = {"/".join(_member_parts(info.filename)): info for info in members}
    prefixes = [""] + sorted({p.split("/", 1)[0] + "/" for p in by_path if "/" in p})
    for prefix in prefixes:
        manifest = by_path.get(prefix + "manifest.csv")
        if manifest is not None:
            break
    else:
        inner = [p for p in by_path if p.lower().endswith(".zip")]
        if inner:
            raise DataError(
                f"{shown} holds another zip ({inner[0]}) but no manifest.csv; upload the inner zip itself"
            )
        raise DataError(_NO_MANIFEST.format(shown=shown))
    raw = read_member(archive, manifest, shown)
    try:
        table = pd.read_csv(
            io.BytesIO(raw), dtype=str, keep_default_na=False, header=None, on_bad_lines="skip"
        )
        cells = {"/".join(_member_parts(c.strip())) for c in np.unique(table.to_numpy().ravel())}
    except Exception:  # the manifest is checked and explained when the folder is loaded
        cells = set()
    wanted = {prefix + "manifest.csv", prefix + "schema.json"} | {prefix + cell for cell in cells if cell}
    return [info for path, info in by_path.items() if path in wanted]


def _member_parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))


def _ignored(name: str) -> bool:
    normalized = name.replace("\\", "/")
    return normalized.startswith(IGNORED_MEMBERS[0]) or normalized.rsplit("/", 1)[-1] in IGNORED_MEMBERS[1:]


def _bundle_root(folder: Path, shown: str) -> Path:
    """The folder holding manifest.csv: the zip's top, or its single top-level folder."""
    if (folder / "manifest.csv").is_file():
        return folder
    entries = [p for p in folder.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "manifest.csv").is_file():
        return entries[0]
    raise DataError(_NO_MANIFEST.format(shown=shown))


_NO_MANIFEST = (
    "no manifest.csv in {shown}; put manifest.csv at the top of the zip (or in its single top-level "
    "folder) next to the media folders"
)


def size_text(n: int) -> str:
    """A byte count for people: ``"512.0 MB"``, ``"1.0 GB"``, or kilobytes below a tenth of a megabyte."""
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    if n >= 1024**2 // 10:
        return f"{n / 1024**2:.1f} MB"
    return f"{n / 1024:.0f} KB"
