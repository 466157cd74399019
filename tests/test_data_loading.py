"""Loading bundles (folder, zip, per-modality files), inference of modalities, content hashes, with_schema."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from bundle_factory import write_bundle, write_paired_files, zip_folder
from PIL import Image

from fusion_core.cli import main
from fusion_core.data import (
    ModalitySpec,
    infer_modalities,
    load_bundle,
    load_dataset,
    load_paired_files,
    with_schema,
)
from fusion_core.errors import DataError

EXPECTED_TYPES = {
    "tabular": "tabular",
    "image": "image",
    "audio": "audio",
    "series": "series",
    "note": "text",
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))


def _types(dataset):
    return {name: spec.type for name, spec in dataset.modalities.items()}


def test_folder_bundle_with_every_modality_type(tmp_path):
    dataset = load_dataset(write_bundle(tmp_path, n=24, absent=2))
    assert _types(dataset) == EXPECTED_TYPES
    assert dataset.modalities["tabular"].columns == ["age", "size", "color"]
    assert len(dataset) == 24
    assert dataset.class_names == ["cat", "dog", "fox"]
    assert dataset.ids[:2] == ["s000", "s001"]
    assert dataset.label_indices().bincount().tolist() == [8, 8, 8]
    assert dataset.resolve(dataset.table.loc[0, "image"]).is_file()
    # the last two samples lack every non-tabular modality: their paths and text are missing values
    assert dataset.table["image"].isna().tolist() == [False] * 22 + [True] * 2
    assert dataset.table["note"].isna().sum() == 2


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_inspect_shows_every_modality_type(tmp_path, capsys, zipped):
    folder = write_bundle(tmp_path, n=15)
    source = zip_folder(folder) if zipped else folder
    assert main(["inspect", str(source)]) == 0
    out = capsys.readouterr().out
    for name, kind in EXPECTED_TYPES.items():
        assert any(line.split()[:2] == [name, kind] for line in out.splitlines()), (name, out)
    assert "samples    15" in out


def test_inspect_json_on_paired_files(tmp_path, capsys):
    paths = write_paired_files(tmp_path, n=18, media=("image", "audio", "series"), extra_ids=2)
    assert main(["inspect", *map(str, paths), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 18
    assert {m["name"]: m["type"] for m in report["modalities"]} == {
        "clinical": "tabular",
        "notes": "text",
        "scans": "image",
        "voice": "audio",
        "motion": "series",
    }
    assert report["notes"] == [
        "2 ids are not in every modality and were left out: 'p000' (no notes, scans, voice, motion), "
        "'p001' (no notes, scans, voice, motion)"
    ]


def test_zip_is_unpacked_once_into_the_cache(tmp_path):
    archive = zip_folder(write_bundle(tmp_path, n=12, modalities=("tabular", "image")))
    first = load_dataset(archive)
    assert first.root.parent == tmp_path / "cache" / "bundles"
    marker = first.root / "manifest.csv"
    stamp = marker.stat().st_mtime_ns
    second = load_dataset(archive)
    assert second.root == first.root
    assert marker.stat().st_mtime_ns == stamp
    assert second.content_hash == first.content_hash
    assert second.name == "bundle"


def test_zip_with_a_single_top_level_folder(tmp_path):
    folder = write_bundle(tmp_path, n=12, modalities=("tabular", "series"), name="study")
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                out.write(file, file.relative_to(tmp_path).as_posix())
        out.writestr("__MACOSX/study/._manifest.csv", b"resource fork")
    dataset = load_dataset(archive)
    assert dataset.root.name == "study"
    assert _types(dataset) == {"tabular": "tabular", "series": "series"}


def test_content_hash_is_stable_and_changes_with_any_byte(tmp_path):
    one = write_bundle(tmp_path / "a", n=12, modalities=("tabular", "image"))
    two = write_bundle(tmp_path / "b", n=12, modalities=("tabular", "image"))
    reference = load_bundle(one).content_hash
    assert load_bundle(two).content_hash == reference  # same bytes in another place
    image = two / "images" / "s005.png"
    pixels = np.asarray(Image.open(image)).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(image)
    assert load_bundle(two).content_hash != reference
    (one / "schema.json").write_text(
        json.dumps({"modalities": {"t": {"type": "tabular", "columns": ["age"]}}})
    )
    with_schema_file = load_bundle(one).content_hash
    assert with_schema_file != reference
    (one / "schema.json").write_text(
        json.dumps({"modalities": {"t": {"type": "tabular", "columns": ["size"]}}})
    )
    assert load_bundle(one).content_hash not in (reference, with_schema_file)


def test_manifest_without_id_numbers_rows(tmp_path):
    dataset = load_dataset(write_bundle(tmp_path, n=12, modalities=("tabular",), id_column=None))
    assert dataset.id_column == "id"
    assert dataset.ids[:3] == ["0", "1", "2"]
    assert dataset.notes == ["manifest.csv has no 'id' column; samples are numbered by row from 0"]


def test_backslash_paths_and_blank_values(tmp_path):
    folder = write_bundle(tmp_path, n=12, modalities=("image",))
    table = pd.read_csv(folder / "manifest.csv", dtype=str)
    table.loc[0, "image"] = table.loc[0, "image"].replace("/", "\\")
    table.loc[1, "image"] = "  "
    table.to_csv(folder / "manifest.csv", index=False)
    dataset = load_dataset(folder)
    assert dataset.table.loc[0, "image"] == "images/s000.png"
    assert pd.isna(dataset.table.loc[1, "image"])


def test_schema_json_with_two_tabular_views(tmp_path):
    folder = _clinical_genomics(tmp_path, id_column="patient_id", target="diagnosis")
    schema = {
        "id": "patient_id",
        "target": "diagnosis",
        "modalities": {
            "clinical": {"type": "tabular", "columns": ["age", "bmi", "smoker"]},
            "genomics": {"type": "tabular", "columns": ["g1", "g2", "g3"]},
        },
    }
    (folder / "schema.json").write_text(json.dumps(schema))
    dataset = load_dataset(folder)
    assert dataset.id_column == "patient_id" and dataset.target == "diagnosis"
    assert _types(dataset) == {"clinical": "tabular", "genomics": "tabular"}
    assert dataset.modalities["genomics"].columns == ["g1", "g2", "g3"]


def test_with_schema_splits_one_table_into_two_views(tmp_path):
    dataset = load_dataset(_clinical_genomics(tmp_path))
    assert dataset.target == "label" and _types(dataset) == {"tabular": "tabular"}
    split = with_schema(
        dataset,
        modalities={
            "clinical": {"type": "tabular", "columns": ["age", "bmi", "smoker"]},
            "genomics": ModalitySpec("genomics", "tabular", ["g1", "g2", "g3"]),
        },
    )
    assert _types(split) == {"clinical": "tabular", "genomics": "tabular"}
    assert split.content_hash != dataset.content_hash
    assert _types(dataset) == {"tabular": "tabular"}  # the original is untouched
    back = with_schema(split, modalities={"tabular": dataset.modalities["tabular"]})
    assert back.content_hash == dataset.content_hash
    with pytest.raises(DataError, match="column 'age' is in both modality 'clinical' and 'genomics'"):
        with_schema(
            dataset,
            modalities={
                "clinical": {"type": "tabular", "columns": ["age", "bmi"]},
                "genomics": {"type": "tabular", "columns": ["age", "g1"]},
            },
        )


def test_with_schema_picks_another_target(tmp_path):
    dataset = load_dataset(_clinical_genomics(tmp_path))
    relabelled = with_schema(dataset, target="smoker")
    assert relabelled.target == "smoker"
    assert relabelled.class_names == ["no", "yes"]
    assert "smoker" not in relabelled.modalities["tabular"].columns
    assert "label" not in relabelled.modalities["tabular"].columns
    with pytest.raises(
        DataError, match=r"^target column 'nope' is not in the dataset; choose one of: label, age"
    ):
        with_schema(dataset, target="nope")
    with pytest.raises(DataError, match="the label column 'label' cannot also be an input of modality 'm'"):
        with_schema(dataset, modalities={"m": {"type": "tabular", "columns": ["label", "age"]}})


def test_with_schema_changing_a_type_revalidates_files(tmp_path):
    dataset = load_dataset(write_bundle(tmp_path, n=12, modalities=("tabular", "text")))
    with pytest.raises(DataError, match=r"^path 'the animal was .*' in column 'note' is not an image file"):
        with_schema(dataset, modalities={"note": {"type": "image", "column": "note"}})
    with pytest.raises(DataError, match="modality 'note' of type text takes exactly one column, got 2"):
        with_schema(dataset, modalities={"note": {"type": "text", "columns": ["note", "color"]}})


def test_infer_modalities_picks_the_right_types(tmp_path):
    n = 40
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(n)],
            "label": ["a", "b"] * (n // 2),
            "height": rng.normal(size=n),
            "count": rng.integers(0, 5, size=n),
            "flag": [True, False] * (n // 2),
            "risk": rng.choice(["very high risk", "low risk", "moderate risk"], size=n),
            "city": [f"town{i}" for i in range(n)],
            "review": [
                f"this product number {i} was {w} and arrived late"
                for i, w in enumerate(["good", "bad"] * 20)
            ],
            "photo": [f"img/{i}.JPG" for i in range(n)],
            "clip": [f"snd/{i}.flac" for i in range(n)],
            "trace": [f"ts/{i}.csv" for i in range(n)],
            "blank": [None] * n,
        }
    )
    specs = infer_modalities(table, target="label", id_column="id", root=tmp_path)
    assert {name: (s.type, s.columns) for name, s in specs.items()} == {
        "tabular": ("tabular", ["height", "count", "flag", "risk", "city"]),
        "review": ("text", ["review"]),
        "photo": ("image", ["photo"]),
        "clip": ("audio", ["clip"]),
        "trace": ("series", ["trace"]),
    }
    # without a root (a plain table) paths are never taken for media
    assert infer_modalities(table[["id", "label", "photo"]], target="label", id_column="id", root=None) == {
        "tabular": ModalitySpec("tabular", "tabular", ["photo"])
    }


def test_paired_media_folders_and_single_table(tmp_path):
    paths = write_paired_files(tmp_path, n=12, zipped=False, media=("series",))
    dataset = load_paired_files(paths, name="study")
    assert dataset.name == "study"
    assert _types(dataset) == {"clinical": "tabular", "notes": "text", "motion": "series"}
    assert dataset.resolve(dataset.table.loc[0, "motion"]).is_file()
    assert dataset.notes == []
    table_only = load_dataset(paths[0])
    assert _types(table_only) == {"clinical": "tabular"}
    assert table_only.name == "clinical"


def test_paired_files_reuse_the_gathered_folder(tmp_path):
    paths = write_paired_files(tmp_path, n=12)
    first = load_paired_files(paths)
    second = load_paired_files(paths)
    assert first.root == second.root and first.content_hash == second.content_hash
    pd.read_csv(paths[1]).assign(note="changed text in every single row").to_csv(paths[1], index=False)
    assert load_paired_files(paths).content_hash != first.content_hash


def test_load_dataset_resolves_sample_names_first(tmp_path, monkeypatch):
    folder = write_bundle(tmp_path, n=12, modalities=("tabular",), name="toy")
    monkeypatch.setattr("fusion_core.data.sources.sample_names", lambda: ["toy-sample"])
    monkeypatch.setattr("fusion_core.data.sources.sample_folder", lambda name: folder)
    dataset = load_dataset("toy-sample")
    assert dataset.name == "toy-sample" and len(dataset) == 12


def _clinical_genomics(tmp_path, id_column="id", target="label"):
    """The two-view example of the dataset format: clinical measurements and gene expression."""
    rng = np.random.default_rng(1)
    n = 30
    labels = np.arange(n) % 2
    folder = tmp_path / "clinic"
    folder.mkdir()
    pd.DataFrame(
        {
            id_column: [f"p{i}" for i in range(n)],
            target: np.where(labels == 1, "sick", "well"),
            "age": rng.integers(20, 80, size=n),
            "bmi": rng.normal(25, 4, size=n).round(1),
            "smoker": rng.choice(["yes", "no"], size=n),
            "g1": rng.normal(size=n) + labels,
            "g2": rng.normal(size=n),
            "g3": rng.normal(size=n),
        }
    ).to_csv(folder / "manifest.csv", index=False)
    return folder
