"""``load_dataset``: one entry point for sample datasets, bundles and per-modality files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fusion_core.data.bundle import load_bundle
from fusion_core.data.paired import load_paired_files
from fusion_core.data.types import Dataset
from fusion_core.errors import DataError


def load_dataset(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, require_labels: bool = True
) -> Dataset:
    """Load a dataset from a sample name, a bundle path, or a list of per-modality files.

    - a sample dataset name (see ``fusion-explorer datasets``) is built on first use;
    - a path to a folder or ``.zip`` holding ``manifest.csv`` is loaded as a bundle;
    - a list or tuple of paths (CSV tables, zips or folders of media files) is
      paired by id; a single ``.csv`` path is read the same way, as one table.

    ``require_labels=False`` loads new data to predict, whose label column may be absent or partly empty.
    """
    if isinstance(source, list | tuple):
        return load_paired_files(list(source), require_labels=require_labels)
    if not isinstance(source, str | os.PathLike):
        raise DataError(
            f"cannot load a dataset from a {type(source).__name__}; give a sample name, a path, or a list of paths"
        )
    text = os.fspath(source)
    samples = sample_names()
    if isinstance(source, str) and text in samples:
        return load_bundle(sample_folder(text), name=text, require_labels=require_labels)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_file() and path.suffix.lower() == ".csv":
            return load_paired_files([path], require_labels=require_labels)
        return load_bundle(path, require_labels=require_labels)
    available = f"one of: {', '.join(samples)}" if samples else "none are installed"
    raise DataError(
        f"unknown dataset {text!r}: it is not a sample dataset ({available}) and no file or folder exists "
        "at that path; give an existing path to a bundle folder or .zip"
    )


def sample_names() -> list[str]:
    """Names of the sample datasets, or an empty list when the samples package is not installed."""
    try:
        from fusion_core.samples import list_samples
    except ImportError:
        return []
    return [info.name for info in list_samples()]


def sample_folder(name: str) -> Path:
    """The bundle folder of a sample dataset, built on first use."""
    from fusion_core.samples import sample_path

    return sample_path(name)
