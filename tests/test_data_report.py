"""The data report: classes, modalities, absences, notes, and warnings about leaks, rare classes, missing values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from bundle_factory import write_bundle, write_paired_files

from fusion_core.data import build_report, load_dataset, load_paired_files


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))


def _table_bundle(tmp_path, columns: dict, n: int):
    folder = tmp_path / "table"
    folder.mkdir()
    pd.DataFrame({"id": [f"r{i}" for i in range(n)], **columns}).to_csv(folder / "manifest.csv", index=False)
    return load_dataset(folder)


def test_report_describes_classes_modalities_and_absences(tmp_path):
    report = build_report(load_dataset(write_bundle(tmp_path, n=30, absent=3)))
    assert report.name == "bundle" and report.samples == 30 and report.target == "label"
    assert report.classes == {"cat": 10, "dog": 10, "fox": 10}
    by_name = {m.name: m for m in report.modalities}
    assert {name: m.type for name, m in by_name.items()} == {
        "tabular": "tabular",
        "image": "image",
        "audio": "audio",
        "series": "series",
        "note": "text",
    }
    assert by_name["tabular"].absent == 0 and by_name["image"].absent == 3 and by_name["note"].absent == 3
    assert by_name["image"].examples == ["images/s000.png", "images/s001.png", "images/s002.png"]
    assert by_name["tabular"].examples[0].startswith("age=")
    assert (
        "modality 'image' is absent for 3 samples (10.0%); the model sees a zero mask for them"
        in report.warnings
    )
    assert not any("predicts the label" in w for w in report.warnings)


def test_report_serialises_to_json_and_text(tmp_path):
    report = build_report(load_dataset(write_bundle(tmp_path, n=12, modalities=("tabular", "image"))))
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["classes"] == {"cat": 4, "dog": 4, "fox": 4}
    assert [m["name"] for m in as_dict["modalities"]] == ["tabular", "image"]
    text = report.to_text()
    lines = text.splitlines()
    assert lines[:3] == ["dataset    bundle", "samples    12", "label      label"]
    assert any(line.split()[:3] == ["cat", "4", "33.3%"] for line in lines)
    assert any(line.split()[:4] == ["image", "image", "0", "image"] for line in lines)


def test_pairing_notes_reach_the_report(tmp_path):
    dataset = load_paired_files(write_paired_files(tmp_path, n=12, extra_ids=5))
    report = build_report(dataset)
    assert report.samples == 12
    assert report.notes == [
        "5 ids are not in every modality and were left out: e.g. 'p000' (no notes, scans), "
        "'p001' (no notes, scans), 'p002' (no notes, scans)"
    ]


def test_leaky_columns_are_flagged_and_informative_ones_are_not(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, size=n)
    columns = {
        "label": np.array(["a", "b", "c"])[y],
        "score_after_diagnosis": y * 10 + rng.normal(0, 1, size=n),  # separates the classes completely
        "code": np.array(["A1", "B7", "C3"])[y],  # a category that is the label in disguise
        "blood_pressure": y * 1.0 + rng.normal(0, 1, size=n),  # informative, overlapping
        "region": np.where(rng.random(n) < 0.8, np.array(["n", "s", "e"])[y], "w"),  # informative, 80%
        "noise": rng.normal(size=n),
    }
    report = build_report(_table_bundle(tmp_path, columns, n))
    flagged = sorted(w.split("'")[1] for w in report.warnings if "predicts the label almost perfectly" in w)
    assert flagged == ["code", "score_after_diagnosis"]
    assert (
        "column 'code' predicts the label almost perfectly on its own (100.0% accuracy from its values alone); "
        "check that it is not derived from the label (a leak), or every fusion method will look equally perfect"
    ) in report.warnings


def test_leak_check_ignores_small_datasets(tmp_path):
    y = np.arange(12) % 2
    report = build_report(_table_bundle(tmp_path, {"label": y, "x": y * 5.0}, 12))
    assert not any("predicts the label" in w for w in report.warnings)


def test_rare_class_missing_values_id_like_and_constant_columns(tmp_path):
    n = 500
    rng = np.random.default_rng(1)
    labels = np.array(["common"] * 497 + ["rare"] * 3)
    age = rng.normal(50, 10, size=n)
    age[:8] = np.nan
    columns = {
        "label": labels,
        "age": age,
        "name": [f"person {i}" for i in range(n)],
        "site": ["clinic"] * n,
    }
    report = build_report(_table_bundle(tmp_path, columns, n))
    assert report.warnings == [
        "class 'rare' has only 3 samples (0.6% of the data); its scores will be noisy; consider class "
        "weighting or collecting more samples",
        "column 'age' has 8 missing values (1.6%); they will be imputed",
        "column 'name' has a different value in almost every row, like an id; as a category it cannot "
        "generalise to new samples, so leave it out of the modalities",
        "column 'site' has the same value in every row; it carries no information",
    ]
    tabular = next(m for m in report.modalities if m.name == "tabular")
    assert tabular.missing_values == {"age": 8}
