"""`fusion-explorer datasets` and `fusion-explorer inspect` from the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from bundle_factory import write_bundle, write_paired_files

from fusion_core.cli import main
from fusion_core.samples import list_samples


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))


@dataclass
class FakeInfo:
    name: str
    title: str
    summary: str
    lesson: str
    modalities: dict
    samples: int
    classes: int


FAKE_SAMPLES = [
    FakeInfo(
        "toy-pair", "Toy pair", "Two views.", "Fusion helps.", {"scan": "image", "notes": "text"}, 120, 3
    ),
    FakeInfo("toy-sensor", "Toy sensor", "One view.", "Sequences.", {"motion": "series"}, 80, 2),
]


def test_datasets_lists_each_sample_with_modalities_sizes_and_classes(monkeypatch, capsys):
    monkeypatch.setattr("fusion_core.cli.data_commands.sample_infos", lambda: FAKE_SAMPLES)
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "modalities", "samples", "classes", "title"]
    assert lines[1].split() == ["toy-pair", "scan", "(image),", "notes", "(text)", "120", "3", "Toy", "pair"]
    assert lines[2].split() == ["toy-sensor", "motion", "(series)", "80", "2", "Toy", "sensor"]


def test_datasets_json(monkeypatch, capsys):
    monkeypatch.setattr("fusion_core.cli.data_commands.sample_infos", lambda: FAKE_SAMPLES)
    assert main(["datasets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in listed] == ["toy-pair", "toy-sensor"]
    assert listed[0]["modalities"] == {"scan": "image", "notes": "text"}
    assert listed[1]["samples"] == 80 and listed[1]["classes"] == 2


def test_datasets_lists_the_real_samples(capsys):
    assert main(["datasets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in listed] == [info.name for info in list_samples()]


def test_inspect_with_another_target(tmp_path, capsys):
    folder = write_bundle(tmp_path, n=15, modalities=("tabular",))
    assert main(["inspect", str(folder), "--target", "color", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "color"
    assert sorted(report["classes"]) == ["blue", "green", "red"]
    assert report["modalities"][0]["columns"] == ["age", "size"]


def test_inspect_paired_files_with_a_custom_id_column(tmp_path, capsys):
    import pandas as pd

    paths = write_paired_files(tmp_path, n=12, media=())
    for path in paths:
        pd.read_csv(path).rename(columns={"id": "subject"}).to_csv(path, index=False)
    assert main(["inspect", *map(str, paths), "--id-column", "subject"]) == 0
    out = capsys.readouterr().out
    assert "samples    12" in out
    assert any(line.split()[:2] == ["notes", "text"] for line in out.splitlines())


def test_inspect_id_column_needs_per_modality_files(tmp_path, capsys):
    folder = write_bundle(tmp_path, n=12, modalities=("tabular",))
    assert main(["inspect", str(folder), "--id-column", "x"]) == 2
    assert capsys.readouterr().err == (
        'error: --id-column applies to per-modality files; name a bundle\'s id column in schema.json as "id"\n'
    )


@pytest.mark.slow  # builds each sample dataset on first use and reads every file once
@pytest.mark.parametrize("info", list_samples(), ids=lambda info: info.name)
def test_inspect_each_sample_dataset(info, capsys):
    assert main(["inspect", info.name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == info.name
    assert report["samples"] == info.samples
    assert len(report["classes"]) == info.classes
    assert {m["name"]: m["type"] for m in report["modalities"]} == info.modalities
    assert not any("predicts the label almost perfectly" in w for w in report["warnings"])
