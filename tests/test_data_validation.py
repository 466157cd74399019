"""A corpus of malformed bundles: each must give one precise `error: …` line through the CLI, exit 2, no traceback."""

from __future__ import annotations

import io
import json
import re
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_factory import write_bundle, write_paired_files, zip_folder

from fusion_core.cli import main
from fusion_core.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))


def _edit_manifest(folder: Path, edit) -> Path:
    manifest = folder / "manifest.csv"
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    table = edit(table)
    table.to_csv(manifest, index=False)
    return folder


def _tabular(tmp_path: Path, n: int = 12) -> Path:
    return write_bundle(tmp_path, n=n, modalities=("tabular",))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height; nothing is decoded before the size check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def _zip_with(tmp_path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def no_label(tmp_path, monkeypatch):
    return [_edit_manifest(_tabular(tmp_path), lambda t: t.drop(columns=["label"]))]


def one_class(tmp_path, monkeypatch):
    return [_edit_manifest(_tabular(tmp_path), lambda t: t.assign(label="cat"))]


def class_too_small(tmp_path, monkeypatch):
    def edit(table):
        table.loc[:1, "label"] = "rare"
        return table

    return [_edit_manifest(_tabular(tmp_path), edit)]


def missing_labels(tmp_path, monkeypatch):
    def edit(table):
        table.loc[[2, 5], "label"] = ""
        return table

    return [_edit_manifest(_tabular(tmp_path), edit)]


def duplicate_ids(tmp_path, monkeypatch):
    def edit(table):
        table.loc[1, "id"] = table.loc[0, "id"]
        table.loc[3, "id"] = table.loc[2, "id"]
        return table

    return [_edit_manifest(_tabular(tmp_path), edit)]


def missing_files(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    for i in range(5):
        (folder / "images" / f"s{i:03d}.png").unlink()
    return [folder]


def unreadable_image(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s004.png").write_bytes(b"this is not a picture")
    return [folder]


def unreadable_audio(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("audio",))
    (folder / "audio" / "s002.wav").write_bytes(b"garbage bytes, not a RIFF file")
    return [folder]


def unreadable_series(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("series",))
    (folder / "series" / "s003.csv").write_text("x,y\n1,a\n2,b\n")
    return [
        _edit_manifest(
            folder, lambda t: t.assign(series=t["series"].where(t.id != "s003", "series/s003.csv"))
        )
    ]


def series_channels_differ(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("series",))
    np.save(folder / "series" / "s005.npy", np.zeros((24, 3), dtype=np.float32))
    return [folder]


def npy_needs_pickle(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("series",))
    np.save(folder / "series" / "s001.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return [folder]


def image_over_pixel_limit(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s000.png").write_bytes(_png_header(8000, 6000))
    return [folder]


def empty_media_file(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s007.png").write_bytes(b"")
    return [folder]


def path_escapes_bundle(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (tmp_path / "secret.png").write_bytes((folder / "images" / "s000.png").read_bytes())
    return [
        _edit_manifest(folder, lambda t: t.assign(image=t["image"].where(t.id != "s001", "../secret.png")))
    ]


def absolute_path(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    return [
        _edit_manifest(folder, lambda t: t.assign(image=t["image"].where(t.id != "s001", "/etc/logo.png")))
    ]


def wrong_extension_for_type(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    return [
        _edit_manifest(folder, lambda t: t.assign(image=t["image"].where(t.id != "s002", "images/s002.txt")))
    ]


def zip_slip(tmp_path, monkeypatch):
    return [_zip_with(tmp_path, {"manifest.csv": b"id,label\n", "../evil.txt": b"boo"})]


def zip_absolute_member(tmp_path, monkeypatch):
    return [_zip_with(tmp_path, {"manifest.csv": b"id,label\n", "/tmp/evil.txt": b"boo"})]


def zip_symlink(tmp_path, monkeypatch):
    return [_zip_with(tmp_path, {"manifest.csv": b"id,label\n"}, symlink="images/s000.png")]


def zip_over_size(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_MAX_UNPACKED_MB", "3")
    return [_zip_with(tmp_path, {"manifest.csv": b"id,label\n", "big.bin": bytes(4 * 1024**2)})]


def zip_too_many_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_MAX_ZIP_MEMBERS", "10")
    return [_zip_with(tmp_path, {f"f{i}.txt": b"x" for i in range(12)})]


def not_a_zip(tmp_path, monkeypatch):
    path = tmp_path / "data.zip"
    path.write_bytes(b"PK but not really a zip")
    return [path]


def zip_without_manifest(tmp_path, monkeypatch):
    return [_zip_with(tmp_path, {"images/a.png": b"x", "notes.txt": b"hello"})]


def folder_without_manifest(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    return [folder]


def non_utf8_manifest(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    text = (folder / "manifest.csv").read_text().replace("red", "rouge é")
    (folder / "manifest.csv").write_bytes(text.encode("latin-1"))
    return [folder]


def empty_manifest(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "manifest.csv").write_bytes(b"")
    return [folder]


def header_only_manifest(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "manifest.csv").write_text("id,label,age\n")
    return [folder]


def ragged_manifest(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "manifest.csv").write_text("id,label,age\na,cat,3\nb,dog,4,5,6\n")
    return [folder]


def schema_unknown_column(tmp_path, monkeypatch):
    schema = {"modalities": {"clinical": {"type": "tabular", "columns": ["age", "bmi"]}}}
    return [write_bundle(tmp_path, n=12, modalities=("tabular",), schema=schema)]


def schema_not_json(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text('{"target": "label",}')
    return [folder]


def schema_wrong_types(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text(json.dumps({"modalities": [{"type": "tabular"}]}))
    return [folder]


def schema_bad_modality_type(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text(
        json.dumps({"modalities": {"m": {"type": "picture", "column": "age"}}})
    )
    return [folder]


def schema_target_missing(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text(json.dumps({"target": "diagnosis"}))
    return [folder]


def paired_table_without_id(tmp_path, monkeypatch):
    paths = write_paired_files(tmp_path, n=12)
    table = pd.read_csv(paths[1]).rename(columns={"id": "patient"})
    table.to_csv(paths[1], index=False)
    return paths


def paired_without_label(tmp_path, monkeypatch):
    paths = write_paired_files(tmp_path, n=12)
    pd.read_csv(paths[0]).drop(columns=["label"]).to_csv(paths[0], index=False)
    return paths


def paired_duplicate_ids(tmp_path, monkeypatch):
    paths = write_paired_files(tmp_path, n=12)
    table = pd.read_csv(paths[1])
    pd.concat([table, table.head(2)]).to_csv(paths[1], index=False)
    return paths


def paired_no_common_ids(tmp_path, monkeypatch):
    paths = write_paired_files(tmp_path, n=12, media=())
    table = pd.read_csv(paths[1])
    table.assign(id=table["id"].str.replace("p", "x")).to_csv(paths[1], index=False)
    return paths


def unknown_dataset_name(tmp_path, monkeypatch):
    monkeypatch.setattr("fusion_core.data.sources.sample_names", lambda: ["alpha", "beta"])
    return ["no-such-dataset"]


# --- hostile uploads: bombs, forged headers, non-finite numbers, markup in names ---------------------

MARKUP_LABEL = "**bold** [link](javascript:alert(1))"


def _wav(rate: int, samples: bytes = b"\0\0" * 64, channels: int = 1, data_size: int | None = None) -> bytes:
    """A PCM16 WAV whose header says ``rate`` Hz and ``data_size`` bytes (default: the real size)."""
    size = len(samples) if data_size is None else data_size
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _audio_bundle(tmp_path, clip: bytes, index: int = 2) -> Path:
    folder = write_bundle(tmp_path, n=12, modalities=("audio",))
    (folder / "audio" / f"s{index:03d}.wav").write_bytes(clip)
    return folder


def _series_bundle(tmp_path, name: str, data: bytes) -> Path:
    folder = write_bundle(tmp_path, n=12, modalities=("series",))
    table = pd.read_csv(folder / "manifest.csv", dtype=str)
    table.loc[3, "series"] = f"series/{name}"
    table.to_csv(folder / "manifest.csv", index=False)
    (folder / "series" / name).write_bytes(data)
    return folder


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _zip_folder_with(folder: Path, extra: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> Path:
    path = folder.with_suffix(".zip")
    zip_folder(folder, path)
    with zipfile.ZipFile(path, "a", compression=compression) as archive:
        for name, data in extra.items():
            archive.writestr(name, data)
    return path


def zip_bomb_member(tmp_path, monkeypatch):
    return [_zip_folder_with(_tabular(tmp_path), {"padding.bin": bytes(16 * 1024**2)})]


def zip_bomb_referenced_image(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s000.png").write_bytes(bytes(8 * 1024**2))
    return [zip_folder(folder)]


def zip_encrypted_member(tmp_path, monkeypatch):
    path = zip_folder(_tabular(tmp_path))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at != -1:
            data[at + offset] |= 0x1  # the "encrypted" flag bit, as a password-protected zip sets it
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    return [path]


def zip_inside_zip(tmp_path, monkeypatch):
    inner = zip_folder(_tabular(tmp_path))
    return [_zip_with(tmp_path, {"bundle.zip": inner.read_bytes()})]


def zip_flooded_with_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_MAX_ZIP_MEMBERS", "500")
    return [_zip_folder_with(_tabular(tmp_path), {f"flood/{i:04d}.txt": b"" for i in range(600)})]


def zip_member_lies_about_size(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("text",))
    path = zip_folder(folder)
    data = bytearray(path.read_bytes())
    name = b"manifest.csv"
    at = data.find(b"PK\x01\x02")
    while at != -1:  # shrink the declared size of manifest.csv in the central directory
        name_len = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + name_len] == name:
            data[at + 24 : at + 28] = struct.pack("<I", 10)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return [path]


def schema_nested_deep(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text('{"modalities": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return [folder]


def schema_top_level_list(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text("[1, 2, 3]")
    return [folder]


def tabular_infinite_number(tmp_path, monkeypatch):
    def edit(table):
        table.loc[4, "age"] = "inf"
        return table

    return [_edit_manifest(_tabular(tmp_path), edit)]


def series_with_nan(tmp_path, monkeypatch):
    return [
        _series_bundle(
            tmp_path, "gap.npy", _npy(np.array([[1.0, 2.0], [np.nan, 3.0], [2.0, 4.0]], dtype=np.float32))
        )
    ]


def series_with_infinity(tmp_path, monkeypatch):
    return [_series_bundle(tmp_path, "spike.csv", b"x,y\n1,2\ninf,3\n")]


def series_pickled_object_in_csv_name(tmp_path, monkeypatch):
    return [_series_bundle(tmp_path, "data.pkl", b"\x80\x04K\x01.")]


def wav_zero_hz(tmp_path, monkeypatch):
    return [_audio_bundle(tmp_path, _wav(0))]


def wav_absurd_rate(tmp_path, monkeypatch):
    return [_audio_bundle(tmp_path, _wav(4_000_000_000 // 4))]


def wav_no_samples(tmp_path, monkeypatch):
    return [_audio_bundle(tmp_path, _wav(16_000, samples=b""))]


def wav_header_only(tmp_path, monkeypatch):
    return [_audio_bundle(tmp_path, b"RIFF\x24\x00\x00\x00WAVE")]


def image_zero_size(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s001.png").write_bytes(_png_header(0, 0))
    return [folder]


def image_truncated(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    data = (folder / "images" / "s002.png").read_bytes()
    (folder / "images" / "s002.png").write_bytes(data[:40])
    return [folder]


def image_bomb_in_zip(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s003.png").write_bytes(_png_header(60_000, 60_000))
    return [zip_folder(folder)]


def manifest_utf16(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    text = (folder / "manifest.csv").read_text()
    (folder / "manifest.csv").write_bytes(text.encode("utf-16"))
    return [folder]


def manifest_semicolons(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    text = (folder / "manifest.csv").read_text().replace(",", ";")
    (folder / "manifest.csv").write_text(text)
    return [folder]


def manifest_unclosed_quote(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "manifest.csv").write_text('id,label,age\na,cat,3\nb,"dog,4\n')
    return [folder]


def manifest_wide(tmp_path, monkeypatch):
    folder = tmp_path / "wide"
    folder.mkdir()
    header = ",".join(["id", *(f"c{i}" for i in range(50_000))])
    rows = "\n".join(",".join([f"r{r}", *("1" for _ in range(50_000))]) for r in range(3))
    (folder / "manifest.csv").write_text(header + "\n" + rows + "\n")
    return [folder]


def manifest_huge_label_cell(tmp_path, monkeypatch):
    return [_edit_manifest(_tabular(tmp_path), lambda t: t.assign(label="x" * 200_000))]


def labels_all_distinct(tmp_path, monkeypatch):
    return [_edit_manifest(_tabular(tmp_path), lambda t: t.assign(label=[f"c{i}" for i in range(len(t))]))]


def label_in_markdown(tmp_path, monkeypatch):
    return [_edit_manifest(_tabular(tmp_path), lambda t: t.assign(label=MARKUP_LABEL))]


def column_name_in_html(tmp_path, monkeypatch):
    folder = _tabular(tmp_path)
    (folder / "schema.json").write_text(
        json.dumps({"modalities": {"m": {"type": "tabular", "columns": ["<img src=x onerror=alert(1)>"]}}})
    )
    return [folder]


def file_name_in_html(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    table = pd.read_csv(folder / "manifest.csv", dtype=str)
    table.loc[0, "image"] = "images/<b>bold</b>.png"
    table.to_csv(folder / "manifest.csv", index=False)
    return [folder]


def symlink_to_outside_file(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    outside = tmp_path / "secret.png"
    outside.write_bytes((folder / "images" / "s000.png").read_bytes())
    (folder / "images" / "s000.png").unlink()
    (folder / "images" / "s000.png").symlink_to(outside)
    return [folder]


def windows_absolute_path(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    table = pd.read_csv(folder / "manifest.csv", dtype=str)
    table.loc[1, "image"] = "C:\\Windows\\win.png"
    table.to_csv(folder / "manifest.csv", index=False)
    return [folder]


HOSTILE = [
    (
        zip_bomb_member,
        "bundle.zip member 'padding.bin' would unpack {any} times larger than it is packed (16.0 MB), over the "
        "limit of 200; a zip bomb is refused: zip the real files again",
    ),
    (
        zip_bomb_referenced_image,
        "bundle.zip member 'images/s000.png' would unpack {any} times larger than it is packed (8.0 MB), over "
        "the limit of 200; a zip bomb is refused: zip the real files again",
    ),
    (
        zip_encrypted_member,
        "bundle.zip member 'manifest.csv' is encrypted; create the zip again without a password",
    ),
    (
        zip_inside_zip,
        "evil.zip holds another zip (bundle.zip) but no manifest.csv; upload the inner zip itself",
    ),
    (
        zip_flooded_with_files,
        "bundle.zip holds 601 entries, over the limit of 500; split the data into smaller bundles",
    ),
    (
        zip_member_lies_about_size,
        "bundle.zip is damaged or uses an unsupported compression (Bad CRC-32 for file 'manifest.csv'); "
        "create it again",
    ),
    (
        schema_nested_deep,
        "schema.json is nested more than 32 levels deep; a schema needs three levels (modalities, one "
        "modality, its columns): write it flat",
    ),
    (
        schema_top_level_list,
        'schema.json must hold a JSON object with the optional keys "id", "target" and "modalities", not a list',
    ),
    (
        tabular_infinite_number,
        "column 'age' of manifest.csv holds an infinite number (data row 5; 1 in all), which is refused, not "
        "imputed; replace it with a real number or leave the cell empty to have it imputed",
    ),
    (
        series_with_nan,
        "series gap.npy holds 1 NaN or infinite values, which are refused (not imputed; a step that is NaN in "
        "every channel is padding and skipped); replace them with real numbers",
    ),
    (
        series_with_infinity,
        "series spike.csv holds 1 NaN or infinite values, which are refused (not imputed; a step that is NaN "
        "in every channel is padding and skipped); replace them with real numbers",
    ),
    (
        series_pickled_object_in_csv_name,
        "path 'series/data.pkl' in column 'series' is not an series file (.npy, .csv); fix the path or change "
        "the type of modality 'series'",
    ),
    (
        wav_zero_hz,
        "audio s002.wav says its sample rate is 0 Hz, which is impossible (expected 100 to 1,000,000 Hz); "
        "export the recording again as a PCM WAV",
    ),
    (
        wav_absurd_rate,
        "audio s002.wav says its sample rate is 1,000,000,000 Hz, which is impossible (expected 100 to "
        "1,000,000 Hz); export the recording again as a PCM WAV",
    ),
    (wav_no_samples, "audio s002.wav has no samples; remove it or replace it with a real recording"),
    (wav_header_only, "cannot read audio s002.wav: {any}; use a PCM WAV, FLAC or OGG file"),
    (image_zero_size, "cannot read image s001.png: {any}; check that it is a valid image file"),
    (image_truncated, "cannot read image s002.png: {any}; check that it is a valid image file"),
    (
        image_bomb_in_zip,
        "image s003.png decodes to too many pixels (over 40,000,000); resize it before uploading",
    ),
    (
        manifest_utf16,
        "manifest.csv is not UTF-8 text (byte 0xff at position 0); re-save it as UTF-8, for example as "
        "'CSV UTF-8' from a spreadsheet program",
    ),
    (
        manifest_semicolons,
        "manifest.csv has no 'label' column; add the class of each sample as a 'label' column, or name the "
        'label column in schema.json as "target"',
    ),
    (
        manifest_unclosed_quote,
        "cannot parse manifest.csv as CSV ({any}); check the quoting and that every row has the same number of "
        "fields as the header",
    ),
    (
        manifest_wide,
        "manifest.csv has no 'label' column; add the class of each sample as a 'label' column, or name the "
        'label column in schema.json as "target"',
    ),
    (
        manifest_huge_label_cell,
        "the label column 'label' has only one class (" + "'" + "x" * 78 + "… a classifier needs samples of "
        "at least two classes",
    ),
    (
        labels_all_distinct,
        "12 classes have fewer than 3 samples: 'c0' (1), {any}; every class needs at least 3 to be split into "
        "training, validation and test sets; add samples of them or remove them",
    ),
    (
        label_in_markdown,
        f"the label column 'label' has only one class ({MARKUP_LABEL!r}); a classifier needs samples of at "
        "least two classes",
    ),
    (
        column_name_in_html,
        "modality 'm' names column '<img src=x onerror=alert(1)>', which manifest.csv does not have; fix the "
        "name in schema.json (columns: id, label, age, size, color)",
    ),
    (
        file_name_in_html,
        "1 file is referenced in manifest.csv but missing (images/<b>bold</b>.png); check the paths, which are "
        "relative to the bundle folder",
    ),
    (
        symlink_to_outside_file,
        "path 'images/s000.png' in column 'image' of manifest.csv points outside the bundle; use a path "
        "relative to the bundle folder, without a leading '/' or '..'",
    ),
    (
        windows_absolute_path,
        "path 'C:/Windows/win.png' in column 'image' of manifest.csv points outside the bundle; use a path "
        "relative to the bundle folder, without a leading '/' or '..'",
    ),
]


CORPUS = [
    (
        no_label,
        "manifest.csv has no 'label' column; add the class of each sample as a 'label' column, "
        'or name the label column in schema.json as "target"',
    ),
    (
        one_class,
        "the label column 'label' has only one class ('cat'); a classifier needs samples of at least two classes",
    ),
    (
        class_too_small,
        "class 'rare' has only 2 samples; every class needs at least 3 to be split into training, "
        "validation and test sets; add samples of it or remove it",
    ),
    (
        missing_labels,
        "2 samples have no label in column 'label' (ids 's002', 's005'); fill in their class or remove those rows",
    ),
    (
        duplicate_ids,
        "2 ids appear more than once in column 'id' ('s000', 's002'); every sample needs a unique id",
    ),
    (
        missing_files,
        "5 files are referenced in manifest.csv but missing (e.g. images/s000.png, images/s001.png, "
        "images/s002.png); check the paths, which are relative to the bundle folder",
    ),
    (
        unreadable_image,
        "cannot read image s004.png: not a known image format; check that it is a valid image file",
    ),
    # The middle part is the audio library's own diagnosis, whose wording varies between versions.
    (unreadable_audio, "cannot read audio s002.wav: {any}; use a PCM WAV, FLAC or OGG file"),
    (unreadable_series, "cannot read series s003.csv: every column must be numeric (one column per channel)"),
    (
        series_channels_differ,
        "series files of modality 'series' have different numbers of channels (2 in series/s000.npy, "
        "3 in series/s005.npy); every file of one modality needs the same channels",
    ),
    (
        npy_needs_pickle,
        "series s001.npy is an object array that needs pickle, which is refused for safety; save it with a "
        "numeric dtype (np.save(path, array.astype('float32')))",
    ),
    (
        image_over_pixel_limit,
        "image s000.png is 8000x6000 pixels, over the limit of 40,000,000; resize it before uploading",
    ),
    (empty_media_file, "file s007.png is empty; remove it or replace it"),
    (
        path_escapes_bundle,
        "path '../secret.png' in column 'image' of manifest.csv points outside the bundle; use a path "
        "relative to the bundle folder, without a leading '/' or '..'",
    ),
    (
        absolute_path,
        "path '/etc/logo.png' in column 'image' of manifest.csv points outside the bundle; use a path "
        "relative to the bundle folder, without a leading '/' or '..'",
    ),
    (
        wrong_extension_for_type,
        "path 'images/s002.txt' in column 'image' is not an image file (.png, .jpg, .jpeg, .bmp, .gif, .tif, "
        ".tiff); fix the path or change the type of modality 'image'",
    ),
    (
        zip_slip,
        "evil.zip holds the unsafe path '../evil.txt', which would unpack outside its folder; create the zip "
        "again from inside the bundle folder",
    ),
    (
        zip_absolute_member,
        "evil.zip holds the unsafe path '/tmp/evil.txt', which would unpack outside its folder; create the zip "
        "again from inside the bundle folder",
    ),
    (
        zip_symlink,
        "evil.zip holds a symbolic link 'images/s000.png'; replace links by the files they point to",
    ),
    (
        zip_over_size,
        "evil.zip would unpack to 4.0 MB, over the limit of 3.0 MB; use smaller files or split the data into "
        "smaller bundles",
    ),
    (
        zip_too_many_files,
        "evil.zip holds 12 entries, over the limit of 10; split the data into smaller bundles",
    ),
    (not_a_zip, "data.zip is not a valid zip file; create it again, e.g. with zip -r"),
    (
        zip_without_manifest,
        "no manifest.csv in evil.zip; put manifest.csv at the top of the zip (or in its single top-level "
        "folder) next to the media folders",
    ),
    (
        folder_without_manifest,
        "no manifest.csv in folder 'photos'; a bundle needs a manifest.csv with a header row and one row per sample",
    ),
    (
        non_utf8_manifest,
        "manifest.csv is not UTF-8 text (byte 0xe9 at position {pos}); re-save it as UTF-8, for example as "
        "'CSV UTF-8' from a spreadsheet program",
    ),
    (empty_manifest, "manifest.csv is empty; it needs a header row and one row per sample"),
    (header_only_manifest, "manifest.csv has a header but no rows; add one row per sample"),
    (
        ragged_manifest,
        "cannot parse manifest.csv as CSV (Error tokenizing data. C error: Expected 3 fields in line 3, saw 5); "
        "check the quoting and that every row has the same number of fields as the header",
    ),
    (
        schema_unknown_column,
        "modality 'clinical' names column 'bmi', which manifest.csv does not have; fix the name in schema.json "
        "(columns: id, label, age, size, color)",
    ),
    # The JSON parser's wording of the syntax error differs between Python versions.
    (
        schema_not_json,
        "schema.json is not valid JSON ({any} at line 1, column 20); fix it or delete it to let the modalities be inferred",
    ),
    (
        schema_wrong_types,
        'schema.json "modalities" must map each modality name to {"type": …, "columns": […]}, not a list',
    ),
    (
        schema_bad_modality_type,
        "schema.json modality 'm' has type 'picture'; choose one of: tabular, image, text, audio, series",
    ),
    (
        schema_target_missing,
        "schema.json names the target 'diagnosis', but manifest.csv has no such column; fix \"target\" in "
        "schema.json (columns: id, label, age, size, color)",
    ),
    (
        paired_table_without_id,
        "notes.csv has no 'id' column; every table needs the same id column to pair samples (choose its name "
        "with id_column / --id-column)",
    ),
    (
        paired_without_label,
        "no table has a 'label' column; add the class of each sample as a 'label' column to one of the "
        "tables, or name the label column with target / --target",
    ),
    (
        paired_duplicate_ids,
        "2 ids appear more than once in notes.csv ('p000', 'p001'); every sample needs a unique id",
    ),
    (
        paired_no_common_ids,
        "no id appears in every file (clinical.csv: 'p000', notes.csv: 'x000'); check that the files use the "
        "same ids (table ids must match the media file names without extension)",
    ),
    (
        unknown_dataset_name,
        "unknown dataset 'no-such-dataset': it is not a sample dataset (one of: alpha, beta) and no file or "
        "folder exists at that path; give an existing path to a bundle folder or .zip",
    ),
]


CORPUS += HOSTILE


@pytest.mark.parametrize(("build", "expected"), CORPUS, ids=[build.__name__ for build, _ in CORPUS])
def test_malformed_bundle_gives_one_line_error(build, expected, tmp_path, monkeypatch, capsys):
    args = [str(a) for a in build(tmp_path, monkeypatch)]
    if "{pos}" in expected:
        expected = expected.format(pos=(Path(args[0]) / "manifest.csv").read_bytes().index(b"\xe9"))
    code = main(["inspect", *args])
    captured = capsys.readouterr()
    assert code == 2
    pattern = "error: " + ".+".join(re.escape(part) for part in expected.split("{any}")) + "\n"
    assert re.fullmatch(pattern, captured.err), captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_zip_checks_come_before_anything_is_written(tmp_path, monkeypatch):
    path = _zip_with(tmp_path, {"manifest.csv": b"id,label\n", "../evil.txt": b"boo"})
    with pytest.raises(Exception, match="unsafe path"):
        load_dataset(path)
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "cache" / "bundles").exists() or not any(
        (tmp_path / "cache" / "bundles").iterdir()
    )


@pytest.mark.slow  # starts a Python process that imports torch
def test_error_in_a_real_process_has_no_traceback(tmp_path):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    (folder / "images" / "s004.png").write_bytes(b"not an image")
    result = subprocess.run(
        [sys.executable, "-m", "fusion_core", "inspect", str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"FUSION_EXPLORER_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: cannot read image s004.png: not a known image format; check that it is a valid image file\n"
    )
    assert "Traceback" not in result.stderr
