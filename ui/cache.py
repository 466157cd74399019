"""Cached calls into ``fusion_core``, keyed by what the data *is*, not by the objects passed around.

Each wrapper takes a ``digest`` (a sample's name, or an upload's SHA-256) and a
JSON text of the user's choices as its cache key; the actual objects travel in
arguments with a leading underscore, which Streamlit does not hash. Every cache
has ``max_entries`` so a long-running server does not grow without bound.

Uploaded files are copied out of the upload widget into a folder of the
browser session, ``<cache>/uploads/session-…/<sha256>/`` (see
:func:`save_upload` and :func:`session_uploads`), so the dataset survives page
switches and the widget being cleared, and loading the same files twice
reuses the folder. The session folder is removed when the session ends
(a session-scoped ``st.cache_resource`` is released when its tab
disconnects); folders a stopped server left behind are removed after a day.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from fusion_core.paths import cache_dir
from ui import state
from ui.state import DatasetChoice, SchemaEdit

MAX_DATASETS = 6
MAX_PREVIEWS = 64
STALE_SESSION_SECONDS = 24 * 3600
"""A session folder untouched this long was left by a server that stopped before the session ended."""
SESSION_PREFIX = "session-"


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_stale_sessions(root: Path, max_age: float = STALE_SESSION_SECONDS) -> list[Path]:
    """Remove session folders under ``root`` not modified for ``max_age`` seconds; returns them."""
    now = time.time()
    stale = [
        folder
        for folder in (root.glob(f"{SESSION_PREFIX}*") if root.is_dir() else [])
        if folder.is_dir() and now - folder.stat().st_mtime > max_age
    ]
    for folder in stale:
        remove_folder(folder)
    return stale


def session_uploads() -> Path:
    """This browser session's upload folder, created on first use and removed when the session ends."""
    return _session_folder(str(cache_dir() / "uploads"))


@st.cache_resource(scope="session", on_release=remove_folder, show_spinner=False)
def _session_folder(uploads: str) -> Path:
    root = Path(uploads)
    remove_stale_sessions(root)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=SESSION_PREFIX, dir=root))


def schema_key(edit: SchemaEdit) -> str:
    """A stable text for the cache key of a schema correction."""
    return json.dumps(
        {"modalities": edit.modalities, "target": edit.target, "task": edit.task}, sort_keys=True
    )


@st.cache_data(max_entries=1, show_spinner=False)
def sample_infos() -> list[Any]:
    from fusion_core.samples import list_samples

    return list_samples()


@st.cache_data(max_entries=MAX_DATASETS, show_spinner="Loading the dataset…")
def _load(digest: str, _source: str | tuple[str, ...]) -> Any:
    from fusion_core.data import load_dataset

    source = list(_source) if isinstance(_source, tuple) else _source
    return load_dataset(source)


@st.cache_data(max_entries=MAX_DATASETS, show_spinner="Applying your corrections…")
def _corrected(digest: str, schema_text: str, _dataset: Any) -> Any:
    from fusion_core.data import with_schema

    edit = json.loads(schema_text)
    return with_schema(_dataset, modalities=edit["modalities"], target=edit["target"], task=edit.get("task"))


def original_dataset(choice: DatasetChoice) -> Any:
    """The dataset as loaded, before any correction (raises ``FusionExplorerError`` for bad data)."""
    return _load(choice.digest, choice.source)


def load_current(choice: DatasetChoice, edit: SchemaEdit) -> Any:
    """The dataset the pages work on: loaded, then corrected as the user asked."""
    dataset = _load(choice.digest, choice.source)
    if edit.is_empty():
        return dataset
    return _corrected(choice.digest, schema_key(edit), dataset)


@st.cache_data(max_entries=MAX_DATASETS, show_spinner=False)
def _report(digest: str, schema_text: str, _dataset: Any) -> dict[str, Any]:
    from fusion_core.data import build_report

    return build_report(_dataset).to_dict()


def report(choice: DatasetChoice, edit: SchemaEdit, dataset: Any) -> dict[str, Any]:
    """``build_report(dataset).to_dict()``, computed once per dataset and correction."""
    return _report(choice.digest, schema_key(edit), dataset)


@st.cache_data(max_entries=MAX_PREVIEWS, show_spinner=False)
def file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


THUMBNAIL_PX = 96
"""Height of the pictures in a data preview."""


@st.cache_data(max_entries=MAX_PREVIEWS, show_spinner=False)
def thumbnail_strip(paths: tuple[str, ...]) -> bytes:
    """The images at ``paths`` side by side, each scaled to ``THUMBNAIL_PX`` high, as one PNG.

    One small picture per class goes to the browser instead of every full-size file: a
    preview of photos would otherwise send megabytes to draw thumbnails. Files that cannot
    be read are left out; if none can, the first one's error is raised.
    """
    from PIL import Image

    from fusion_core.data.readers import read_image
    from fusion_core.errors import DataError

    thumbs, first_error = [], None
    for path in paths:
        try:
            image = read_image(Path(path))
        except DataError as exc:
            first_error = first_error or exc
            continue
        width = max(1, round(image.width * THUMBNAIL_PX / image.height))
        small = image.height < THUMBNAIL_PX  # keep tiny pictures' pixels sharp when enlarging them
        resample = Image.Resampling.NEAREST if small else Image.Resampling.LANCZOS
        thumbs.append(image.resize((width, THUMBNAIL_PX), resample))
    if not thumbs:
        raise first_error or DataError("no images to preview")
    gap = 6
    strip = Image.new("RGB", (sum(t.width for t in thumbs) + gap * (len(thumbs) - 1), THUMBNAIL_PX), "white")
    left = 0
    for thumb in thumbs:
        strip.paste(thumb, (left, 0))
        left += thumb.width + gap
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    return buffer.getvalue()


@st.cache_data(max_entries=MAX_PREVIEWS, show_spinner=False)
def series_values(path: str) -> Any:
    from fusion_core.data.readers import read_series

    return read_series(Path(path))


@st.cache_data(max_entries=MAX_PREVIEWS, show_spinner=False)
def spectrogram(path: str, options_text: str) -> Any:
    """``(values, frequencies, times)`` of one clip, computed as preprocessing would with these options."""
    from fusion_core.data.readers import read_audio
    from fusion_core.modalities.audio import clip_spectrogram

    options = json.loads(options_text)
    wanted = ("sample_rate", "spectrogram", "window_ms", "hop_ms", "n_mels", "denoise")
    samples, rate = read_audio(Path(path))
    result = clip_spectrogram(samples, rate, **{k: v for k, v in options.items() if k in wanted})
    return result.values, result.frequencies, result.times


@st.cache_data(max_entries=32, show_spinner="Building the model…")
def model_summary(digest: str, schema_text: str, config_text: str, _dataset: Any) -> tuple[int, str]:
    """Trainable parameters and a Graphviz diagram of the model the current choices describe."""
    from fusion_core.analysis.diagrams import model_diagram
    from fusion_core.config import ExperimentConfig
    from fusion_core.modalities import prepare
    from fusion_core.model import build_model, count_parameters

    config = ExperimentConfig.from_json(config_text)
    prepared = prepare(_dataset, config.data)
    model = build_model(prepared.input_specs(), prepared.num_classes, config.model, task=prepared.task)
    types = {name: spec.type for name, spec in _dataset.modalities.items()}
    return int(count_parameters(model)), model_diagram(model, types=types)


@st.cache_data(max_entries=MAX_DATASETS, show_spinner="Preprocessing…")
def input_specs(digest: str, schema_text: str, data_config_text: str, _dataset: Any) -> dict[str, Any]:
    """``{modality: InputSpec}`` after preprocessing with the current options (for encoder menus)."""
    from fusion_core.config import DataConfig
    from fusion_core.modalities import prepare

    prepared = prepare(_dataset, DataConfig(**json.loads(data_config_text)))
    return prepared.input_specs()


@st.cache_data(max_entries=MAX_DATASETS, show_spinner="Predicting…")
def _predictions(run_key: str, digest: str, _run: Any, _source: str | tuple[str, ...]) -> Any:
    from fusion_core.predict import predict_source

    return predict_source(_run, list(_source) if isinstance(_source, tuple) else _source)


def predictions(run: Any, choice: DatasetChoice) -> Any:
    """``fusion_core.predict.predict_source`` of an uploaded set of new samples, once per run and upload."""
    return _predictions(f"{run.run_id}|{run.created}", choice.digest, run, choice.source)


def expected_inputs(run: Any) -> list[dict[str, str]]:
    """One row per modality the run was trained on: name, type and columns."""
    from fusion_core.predict import trained_schema

    return [
        {"modality": name, "type": spec.type, "columns": ", ".join(spec.columns) or name}
        for name, spec in trained_schema(run).items()
    ]


@st.cache_data(max_entries=8, show_spinner="Packing the run…")
def _run_zip(root: str, run_id: str, label: str) -> bytes:
    from fusion_core.portable import export_run
    from fusion_core.runs import RunStore

    return export_run(RunStore(root), run_id)


def run_zip(run_id: str) -> bytes:
    """The run as a zip to download (``fusion_core.portable.export_run``)."""
    from fusion_core.runs import RunStore

    store = RunStore(state.runs_root())
    label = next((row["label"] for row in store.list() if row["run_id"] == run_id), "")
    return _run_zip(str(store.root), run_id, label)


def import_run_zip(data: bytes, name: str) -> str:
    """Check and add an uploaded run zip to the app's run store; return the new run's id."""
    from fusion_core.portable import import_run
    from fusion_core.runs import RunStore

    return import_run(RunStore(state.runs_root(), workspace=state.workspace()), data, shown=name)


_device_found: str | None = None


def device_label(wait: bool = True) -> str | None:
    """What ``device="auto"`` resolves to here, e.g. 'CPU (2 threads)'.

    Finding it imports PyTorch, which takes seconds; with ``wait=False`` the label is
    returned only when it is already known, so a page can draw first and ask again later.
    """
    global _device_found
    if _device_found is None and wait:
        from fusion_core.device import describe_device, resolve_device

        _device_found = describe_device(resolve_device("auto"))
    return _device_found


# --- uploads --------------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]+")


def upload_digest(files: Sequence[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(files):
        digest.update(name.encode())
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def save_upload(files: Sequence[tuple[str, bytes]], uploads_root: Path | None = None) -> DatasetChoice:
    """Write uploaded ``(file name, bytes)`` pairs to a folder named by their digest; return the choice.

    One ``.zip`` is a bundle; one ``manifest.csv`` makes the folder a bundle; anything
    else is a set of per-modality files paired by id.
    """
    if not files:
        raise ValueError("no files to save")
    digest = upload_digest(files)
    folder = (uploads_root or session_uploads()) / digest[:32]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files:
        safe = _SAFE_NAME.sub("_", Path(name).name).lstrip(".") or "upload"
        target = folder / safe
        if not target.exists() or target.stat().st_size != len(data):
            target.write_bytes(data)
        paths.append(str(target))
    label = "+".join(Path(name).stem for name, _ in files)[:60]
    if len(paths) == 1 and paths[0].lower().endswith(".zip"):
        source: str | tuple[str, ...] = paths[0]
    elif len(paths) == 1 and Path(paths[0]).name == "manifest.csv":
        source = str(folder)
    else:
        source = tuple(sorted(paths))
    return DatasetChoice(kind="upload", label=label, source=source, digest=digest)


# --- a dataset as one bundle folder ---------------------------------------------------------------


def training_source(choice: DatasetChoice, edit: SchemaEdit, dataset: Any) -> str:
    """A ``DataConfig.source`` string that loads exactly ``dataset``: the sample name or bundle path
    when nothing was changed, otherwise a bundle folder written for it (see ``fusion_core.data.save_bundle``).

    Training jobs, the saved run's configuration and the command shown to repeat a run all use it,
    so a corrected schema or a set of per-modality files is reproduced from one path.
    """
    if isinstance(choice.source, str) and edit.is_empty():
        return choice.source
    key = hashlib.sha256(f"{dataset.content_hash}\n{schema_key(edit)}".encode()).hexdigest()[:24]
    name = choice.label if edit.is_empty() else f"{choice.label}-edited"
    folder = cache_dir() / "derived" / key / _safe_name(name)
    from fusion_core.data import save_bundle

    return str(save_bundle(dataset, folder))


def _safe_name(label: str) -> str:
    return _SAFE_NAME.sub("-", label).strip("-.") or "dataset"
