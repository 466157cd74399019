"""A new modality type is one class plus its registration: nothing else in the program changes.

The toy type below reads ``.toy`` files (numbers separated by spaces). Registered
from this test alone, it is recognised by schema inference, checked by
validation, described by the data report, prepared, trained by a fusion method
and by the sk: baselines, and listed by the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fusion_core.config import DataConfig, TrainConfig
from fusion_core.data import build_report, load_dataset
from fusion_core.data.types import Dataset, ModalitySpec, PreparedModality
from fusion_core.errors import DataError
from fusion_core.experiment import compare
from fusion_core.modalities import MODALITIES, prepare
from fusion_core.modalities.base import FeatureMatrix, ModalityType, column_values

WIDTH = 6


class ToyModality(ModalityType):
    """Readings stored as text files of numbers; the first WIDTH of them, scaled."""

    title = "Toy readings"
    summary = "The first few numbers of each .toy file, scaled by the training maximum."
    features_summary = "mean and maximum of all numbers in the file"
    extensions = (".toy",)
    shown_as = "series"
    forms = ("vector",)
    option_help = {"scale": "Divide by the largest training value."}

    def __init__(self, *, scale: bool = True) -> None:
        self.scale = bool(scale)

    @classmethod
    def check_files(cls, root: Path, paths: Iterable[str], spec: ModalitySpec) -> None:
        for path in paths:
            if not (root / path).read_text().split():
                raise DataError(f"toy file {path} holds no numbers; write at least one")

    def _numbers(self, dataset: Dataset, spec: ModalitySpec) -> tuple[list[np.ndarray], np.ndarray]:
        paths, present = column_values(dataset, spec.columns[0])
        numbers = [
            np.array(dataset.resolve(p).read_text().split(), dtype=float) if ok else np.zeros(1)
            for p, ok in zip(paths, present, strict=True)
        ]
        return numbers, present

    def fit(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        numbers, _ = self._numbers(dataset, spec)
        top = max(float(np.abs(numbers[row]).max()) for row in train_rows) if self.scale else 1.0
        return {"top": top or 1.0}

    def transform(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> PreparedModality:
        numbers, present = self._numbers(dataset, spec)
        values = np.zeros((len(numbers), WIDTH), dtype=np.float32)
        for row, item in enumerate(numbers):
            kept = item[:WIDTH] / state["top"]
            values[row, : kept.size] = kept
        return PreparedModality(
            name=spec.name,
            type=self.name,
            form="vector",
            values=torch.from_numpy(values),
            present=torch.from_numpy(present),
        )

    def extract(self, dataset: Dataset, spec: ModalitySpec, learned: dict[str, Any]) -> FeatureMatrix:
        numbers, present = self._numbers(dataset, spec)
        values = np.array([[item.mean(), item.max()] for item in numbers])
        return FeatureMatrix(values, present, ["mean", "max"])


@pytest.fixture
def toy_type(monkeypatch):
    """Register the toy type for this test only (the registry is restored afterwards)."""
    monkeypatch.setattr(ToyModality, "name", "toy", raising=False)
    monkeypatch.setitem(MODALITIES._entries, "toy", ToyModality)
    return ToyModality


def write_toy_bundle(root: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "toys"
    (folder / "readings").mkdir(parents=True)
    lines = ["id,label,reading,weight"]
    for i in range(n):
        label = i % 2
        numbers = rng.normal(3.0 * label, 1.0, size=int(rng.integers(8, 20)))
        (folder / "readings" / f"r{i}.toy").write_text(" ".join(f"{x:.3f}" for x in numbers))
        lines.append(f"t{i},{'low' if label == 0 else 'high'},readings/r{i}.toy,{rng.normal():.3f}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_a_toy_type_goes_through_inspect_prepare_and_train(toy_type, tmp_path):
    folder = write_toy_bundle(tmp_path)
    dataset = load_dataset(str(folder))  # no schema.json: the .toy extension is recognised
    assert dataset.modalities["reading"].type == "toy"
    report = build_report(dataset)
    assert [m.type for m in report.modalities] == ["toy", "tabular"]

    prepared = prepare(dataset, DataConfig(source=str(folder)), cache=False)
    assert prepared.modalities["reading"].values.shape == (60, WIDTH)
    assert json.dumps(prepared.state["reading"])  # the fitted state is plain data

    results = compare(DataConfig(source=str(folder)), "all", train=TrainConfig(epochs=3)).runs
    methods = {r.method for r in results}
    assert {"concat", "only:reading", "sk:logreg:only:reading", "sk:logreg:late"} <= methods
    best = max(r.metrics["macro_f1"] for r in results if r.method == "sk:logreg:only:reading")
    assert best > 0.9  # the class lives in the level of the readings, which the toy features carry


def test_a_toy_file_that_fails_its_check_is_a_data_error(toy_type, tmp_path):
    folder = write_toy_bundle(tmp_path, n=12)
    (folder / "readings" / "r3.toy").write_text("   ")
    with pytest.raises(DataError, match=r"toy file readings/r3\.toy holds no numbers"):
        load_dataset(str(folder))


def test_the_cli_lists_the_toy_type_where_it_lists_types(toy_type, capsys):
    from fusion_core.cli import main

    assert main(["methods", "--json"]) == 0
    encoders = json.loads(capsys.readouterr().out)["encoders"]
    mlp = next(e for e in encoders if e["name"] == "mlp")
    assert "toy" in mlp["modality_types"]


def test_a_type_without_a_feature_vector_says_so(toy_type, tmp_path, monkeypatch):
    monkeypatch.setattr(ToyModality, "extract", ModalityType.extract)
    folder = write_toy_bundle(tmp_path, n=20)
    # a comparison does not die of it: the baseline is skipped with the reason, the others run
    comparison = compare(
        DataConfig(source=str(folder)), "sk:logreg:only:reading,only:reading", train=TrainConfig(epochs=1)
    )
    assert [r.method for r in comparison.runs] == ["only:reading"]
    (problem,) = comparison.problems
    assert problem.method == "sk:logreg:only:reading" and problem.status == "skipped"
    assert re.search(r"modality type 'toy' has no feature vector.*--baselines none", problem.reason)
