"""A corrected or assembled dataset written as a bundle loads back as the same data."""

from __future__ import annotations

from bundle_factory import write_bundle, write_paired_files

from fusion_core.data import ModalitySpec, load_bundle, load_paired_files, save_bundle, with_schema


def test_corrected_schema_survives_a_round_trip(tmp_path):
    dataset = load_bundle(write_bundle(tmp_path, n=24, modalities=("tabular", "image", "text")))
    corrected = with_schema(
        dataset,
        modalities={
            "body": ModalitySpec("body", "tabular", ["age", "size"]),
            "look": ModalitySpec("look", "tabular", ["color"]),
            "picture": ModalitySpec("picture", "image", ["image"]),
            "note": ModalitySpec("note", "text", ["note"]),
        },
    )

    reloaded = load_bundle(save_bundle(corrected, tmp_path / "out"))

    assert {n: (m.type, m.columns) for n, m in reloaded.modalities.items()} == {
        n: (m.type, m.columns) for n, m in corrected.modalities.items()
    }
    assert reloaded.ids == corrected.ids
    assert reloaded.label_indices().tolist() == corrected.label_indices().tolist()
    for relative in reloaded.table["image"]:
        assert reloaded.resolve(relative).read_bytes() == corrected.resolve(relative).read_bytes()


def test_paired_files_become_one_bundle(tmp_path):
    dataset = load_paired_files(write_paired_files(tmp_path, n=24))
    folder = save_bundle(dataset, tmp_path / "bundle")

    reloaded = load_bundle(folder)

    assert set(reloaded.modalities) == set(dataset.modalities)
    assert len(reloaded) == len(dataset)
    assert save_bundle(dataset, folder) == folder  # complete bundles are reused, not rewritten
