"""Write small, valid dataset bundles for tests: every modality type, each carrying the label's signal.

``write_bundle``       a bundle folder (manifest.csv + media folders, optional schema.json)
``write_paired_files`` per-modality files paired by id (bundle format B)
``zip_folder``         zip a bundle folder

Every modality depends on the class, so a model that reads any one of them
can beat chance: tabular ``age`` grows with the class index, images are
brightest in the class's colour channel, notes contain a class word, audio
clips are tones whose pitch rises with the class, and series oscillate
faster for higher classes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.io import wavfile

ALL_MODALITIES = ("tabular", "image", "text", "audio", "series")
DEFAULT_CLASSES = ("cat", "dog", "fox")
CLASS_WORDS = ("purring", "barking", "howling", "chirping", "hissing", "growling")
FILLER_WORDS = [
    "today",
    "quietly",
    "near",
    "the",
    "old",
    "garden",
    "fence",
    "while",
    "morning",
    "light",
    "fell",
    "across",
    "wet",
    "grass",
    "and",
    "a",
    "small",
    "bird",
    "watched",
    "from",
    "the",
    "roof",
    "as",
    "neighbours",
    "walked",
    "past",
    "with",
    "coffee",
]
AUDIO_RATE = 8000


def write_bundle(
    tmp_path: Path,
    n: int = 30,
    modalities: Sequence[str] = ALL_MODALITIES,
    *,
    name: str = "bundle",
    classes: Sequence[str] = DEFAULT_CLASSES,
    seed: int = 0,
    schema: dict | None = None,
    absent: int = 0,
    id_column: str | None = "id",
    target: str = "label",
) -> Path:
    """Write a bundle folder ``tmp_path / name`` with ``n`` samples and return its path.

    ``modalities`` picks the types to include; their columns are ``age``, ``size``
    and ``color`` (tabular), ``image``, ``note`` (text), ``audio`` and ``series``.
    ``absent`` samples (the last ones) lack every non-tabular modality.
    ``schema`` is written as schema.json when given. ``id_column=None`` leaves the
    id column out.
    """
    unknown = set(modalities) - set(ALL_MODALITIES)
    if unknown:
        raise ValueError(f"unknown modality types {sorted(unknown)}; choose from {ALL_MODALITIES}")
    rng = np.random.default_rng(seed)
    folder = Path(tmp_path) / name
    folder.mkdir(parents=True, exist_ok=True)
    labels = _labels(n, classes, rng)
    ids = [f"s{i:03d}" for i in range(n)]
    columns: dict[str, list] = {}
    if id_column:
        columns[id_column] = ids
    columns[target] = [classes[k] for k in labels]
    if "tabular" in modalities:
        columns["age"] = [round(30 + 8 * k + rng.normal(0, 5), 1) for k in labels]
        columns["size"] = [int(rng.integers(1, 10)) for _ in labels]
        columns["color"] = [str(rng.choice(["red", "green", "blue"])) for _ in labels]
    media_writers = {"image": _write_image, "audio": _write_audio, "series": _write_series}
    media_folders = {"image": ("images", ".png"), "audio": ("audio", ".wav"), "series": ("series", ".npy")}
    for kind in ("image", "audio", "series"):
        if kind not in modalities:
            continue
        sub, suffix = media_folders[kind]
        (folder / sub).mkdir(exist_ok=True)
        paths = []
        for i, (sample_id, k) in enumerate(zip(ids, labels, strict=True)):
            if i >= n - absent:
                paths.append("")
                continue
            relative = f"{sub}/{sample_id}{suffix}"
            media_writers[kind](folder / relative, k, rng)
            paths.append(relative)
        columns[kind] = paths
    if "text" in modalities:
        columns["note"] = ["" if i >= n - absent else _note(k, rng) for i, k in enumerate(labels)]
    _write_csv(folder / "manifest.csv", columns)
    if schema is not None:
        (folder / "schema.json").write_text(json.dumps(schema, indent=2))
    return folder


def write_paired_files(
    tmp_path: Path,
    n: int = 30,
    *,
    classes: Sequence[str] = DEFAULT_CLASSES,
    seed: int = 0,
    zipped: bool = True,
    media: Sequence[str] = ("image",),
    extra_ids: int = 0,
) -> list[Path]:
    """Write per-modality files paired by id (format B) and return their paths.

    ``clinical.csv`` (id, label, age, bmi, smoker), ``notes.csv`` (id, note), and
    for each type in ``media`` a zip (or folder when ``zipped`` is False) of files
    named ``<id>.<ext>``: ``scans`` (image), ``voice`` (audio), ``motion`` (series).
    The first ``extra_ids`` ids exist only in ``clinical.csv``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(tmp_path) / "paired"
    folder.mkdir(parents=True, exist_ok=True)
    total = n + extra_ids
    labels = _labels(total, classes, rng)
    ids = [f"p{i:03d}" for i in range(total)]
    _write_csv(
        folder / "clinical.csv",
        {
            "id": ids,
            "label": [classes[k] for k in labels],
            "age": [round(40 + 8 * k + rng.normal(0, 5), 1) for k in labels],
            "bmi": [round(float(rng.normal(25, 3)), 1) for _ in labels],
            "smoker": [str(rng.choice(["yes", "no"])) for _ in labels],
        },
    )
    paired = list(zip(ids, labels, strict=True))[extra_ids:]
    _write_csv(
        folder / "notes.csv", {"id": [i for i, _ in paired], "note": [_note(k, rng) for _, k in paired]}
    )
    paths = [folder / "clinical.csv", folder / "notes.csv"]
    layout = {"image": ("scans", ".png", _write_image), "audio": ("voice", ".wav", _write_audio)}
    layout["series"] = ("motion", ".npy", _write_series)
    for kind in media:
        stem, suffix, writer = layout[kind]
        media_folder = folder / stem
        media_folder.mkdir(exist_ok=True)
        for sample_id, k in paired:
            writer(media_folder / f"{sample_id}{suffix}", k, rng)
        paths.append(zip_folder(media_folder) if zipped else media_folder)
    return paths


def zip_folder(folder: Path, destination: Path | None = None) -> Path:
    """Zip the contents of ``folder`` (paths inside the zip relative to it); returns the zip's path."""
    folder = Path(folder)
    destination = Path(destination) if destination else folder.with_suffix(".zip")
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return destination


def _labels(n: int, classes: Sequence[str], rng: np.random.Generator) -> list[int]:
    labels = np.arange(n) % len(classes)
    rng.shuffle(labels)
    return [int(k) for k in labels]


def _note(k: int, rng: np.random.Generator) -> str:
    filler = rng.choice(FILLER_WORDS, size=5, replace=False)
    words = [*filler[:3], CLASS_WORDS[k % len(CLASS_WORDS)], *filler[3:]]
    return "the animal was " + " ".join(words)


def _write_image(path: Path, k: int, rng: np.random.Generator) -> None:
    pixels = rng.integers(0, 60, size=(8, 8, 3), dtype=np.uint8)
    pixels[..., k % 3] += 150
    Image.fromarray(pixels, "RGB").save(path)


def _write_audio(path: Path, k: int, rng: np.random.Generator) -> None:
    t = np.arange(800) / AUDIO_RATE
    wave = 0.5 * np.sin(2 * np.pi * 200 * (k + 1) * t) + 0.05 * rng.normal(size=t.shape)
    wavfile.write(path, AUDIO_RATE, (wave * 32000).astype(np.int16))


def _write_series(path: Path, k: int, rng: np.random.Generator) -> None:
    t = np.linspace(0, 1, 24)
    signal = np.stack([np.sin(2 * np.pi * (k + 1) * t), np.cos(2 * np.pi * (k + 1) * t)], axis=1)
    np.save(path, (signal + 0.1 * rng.normal(size=signal.shape)).astype(np.float32))


def _write_csv(path: Path, columns: dict[str, list]) -> None:
    import pandas as pd

    buffer = io.StringIO()
    pd.DataFrame(columns).to_csv(buffer, index=False)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def write_views_bundle(folder: Path, n: int, *, seed: int = 0) -> str:
    """Two tabular views, "clinical" and "genomics"; the class (four of them) needs both: 2 * bit_a + bit_b."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    table = pd.DataFrame({"id": [f"s{i:03d}" for i in range(n)], "label": [f"k{v}" for v in 2 * a + b]})
    for i in range(3):
        table[f"c{i}"] = a * (i == 0) * 2.0 + rng.normal(size=n)
        table[f"g{i}"] = b * (i == 0) * 2.0 + rng.normal(size=n)
    table.to_csv(folder / "manifest.csv", index=False)
    views = {"clinical": ["c0", "c1", "c2"], "genomics": ["g0", "g1", "g2"]}
    schema = {"modalities": {name: {"type": "tabular", "columns": cols} for name, cols in views.items()}}
    (folder / "schema.json").write_text(json.dumps(schema))
    return str(folder)
