"""Analysis of trained runs: contributions, Shapley values, weights, gradients, projections, mistakes, diagrams."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fusion_core.analysis import (
    analyze_run,
    collect_weights,
    gradient_summary,
    misclassified_samples,
    modality_contribution,
    project_fused,
    run_model,
    shapley_values,
)
from fusion_core.analysis.contribution import all_subsets
from fusion_core.analysis.diagrams import family_overview, method_diagram, model_diagram
from fusion_core.analysis.forward import subset_logits
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data.types import Dataset, InputSpec, ModalitySpec, PreparedData, PreparedModality, Splits
from fusion_core.experiment import run_experiment
from fusion_core.fusion import FUSIONS
from fusion_core.model import build_model, count_parameters, describe_model
from fusion_core.training import EpochLog

N_SAMPLES = 600
CLASSES = ["a", "b", "c"]


def _signal_and_noise(seed: int = 0) -> PreparedData:
    """Two vector modalities: "signal" decides the class (argmax of its first three numbers), "noise" is noise."""
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((N_SAMPLES, 6)).astype(np.float32)
    noise = rng.standard_normal((N_SAMPLES, 6)).astype(np.float32)
    labels = signal[:, :3].argmax(axis=1)
    order = rng.permutation(N_SAMPLES)
    present = torch.ones(N_SAMPLES, dtype=torch.bool)
    return PreparedData(
        dataset_name="signal-and-noise",
        modalities={
            "signal": PreparedModality(
                "signal", "tabular", "vector", torch.from_numpy(signal), present.clone()
            ),
            "noise": PreparedModality("noise", "tabular", "vector", torch.from_numpy(noise), present.clone()),
        },
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=list(CLASSES),
        ids=[f"s{i:03d}" for i in range(N_SAMPLES)],
        splits=Splits(
            train=torch.from_numpy(np.sort(order[:360])),
            val=torch.from_numpy(np.sort(order[360:450])),
            test=torch.from_numpy(np.sort(order[450:])),
        ),
    )


@pytest.fixture(scope="module")
def data() -> PreparedData:
    return _signal_and_noise()


@pytest.fixture(scope="module")
def concat_run(data):
    """A concat model trained briefly through the real experiment path (not saved)."""
    config = ExperimentConfig(
        data=DataConfig(source="signal-and-noise"),
        model=ModelConfig(fusion="concat", embedding_dim=16),
        train=TrainConfig(epochs=15, batch_size=64, lr=5e-3, device="cpu"),
    )
    return run_experiment(config, prepared=data)


def test_hiding_the_informative_modality_costs_the_most(concat_run, data):
    contribution = modality_contribution(concat_run.model, data)
    assert contribution["full"] > 0.8
    assert contribution["drop"]["signal"] > contribution["drop"]["noise"] + 0.3
    assert abs(contribution["drop"]["noise"]) < 0.1
    assert contribution["alone"]["signal"] > contribution["alone"]["noise"] + 0.3
    assert contribution["note"].startswith("hiding signal costs the most")
    # v(all) is exactly the run's own test score: the analysis re-runs the same model on the same rows
    assert contribution["full"] == pytest.approx(concat_run.metrics["macro_f1"], abs=1e-9)


def test_shapley_values_add_up_to_all_minus_none(concat_run, data):
    contribution = modality_contribution(concat_run.model, data)
    shapley = contribution["shapley"]
    assert set(shapley) == {"signal", "noise"}
    assert sum(shapley.values()) == pytest.approx(contribution["full"] - contribution["empty"], abs=1e-12)
    assert shapley["signal"] > shapley["noise"] + 0.3
    assert len(contribution["subsets"]) == 4


def test_shapley_values_of_known_games():
    names = ["a", "b", "c"]
    weights = {"a": 0.5, "b": 0.2, "c": 0.0}
    additive = {s: sum(weights[n] for n in s) for s in all_subsets(names)}
    assert shapley_values(additive, names) == pytest.approx(weights)

    both_needed = {s: 1.0 if {"a", "b"} <= s else 0.0 for s in all_subsets(names)}  # synergy of a and b
    assert shapley_values(both_needed, names) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})

    either_one = {s: 1.0 if s & {"a", "b"} else 0.0 for s in all_subsets(names)}  # redundancy of a and b
    assert shapley_values(either_one, names) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})


@pytest.mark.parametrize("method", ["attention", "late", "crossattn"])
def test_subset_scores_reuse_encoders_without_changing_results(data, method):
    torch.manual_seed(0)
    model = build_model(data.input_specs(), data.num_classes, ModelConfig(fusion=method, embedding_dim=8))
    subsets = all_subsets(list(data.modalities))
    fast = subset_logits(model, data, None, subsets)
    for subset in subsets:
        whole = run_model(model, data, present=subset, keep_details=False).logits
        np.testing.assert_allclose(fast[subset], whole, atol=1e-5)


def test_attention_weights_are_collected_per_sample_and_class(data):
    torch.manual_seed(0)
    model = build_model(
        data.input_specs(), data.num_classes, ModelConfig(fusion="attention", embedding_dim=8)
    )
    weights = collect_weights(model, data)
    assert weights["available"]
    kind = weights["kinds"]["attention"]
    assert kind["columns"] == ["signal", "noise"]
    values = np.asarray(kind["values"])
    assert values.shape == (len(data.splits.test), 2)
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-4)
    counts = sum(kind["by_class"][c]["signal"]["n"] for c in CLASSES)
    assert counts == len(data.splits.test)
    json.dumps(weights)


def test_late_fusion_exposes_each_modalitys_probability_of_the_true_class(data):
    model = build_model(data.input_specs(), data.num_classes, ModelConfig(fusion="late", embedding_dim=8))
    kinds = collect_weights(model, data)["kinds"]
    assert set(kinds) == {"weights", "probabilities of the true class"}
    values = np.asarray(kinds["probabilities of the true class"]["values"])
    assert values.shape == (len(data.splits.test), 2)
    assert ((values >= 0) & (values <= 1)).all()


def test_a_method_without_weights_says_so(concat_run, data):
    weights = collect_weights(concat_run.model, data)
    assert not weights["available"]
    assert weights["note"].startswith("concat exposes no per-sample weights")


@pytest.mark.parametrize("method", [m for m in FUSIONS.names() if m != "only"] + ["only:noise"])
def test_every_method_can_be_analysed(data, method):
    torch.manual_seed(0)
    model = build_model(data.input_specs(), data.num_classes, ModelConfig(fusion=method, embedding_dim=8))
    contribution = modality_contribution(model, data)
    shapley = contribution["shapley"]
    assert sum(shapley.values()) == pytest.approx(contribution["full"] - contribution["empty"], abs=1e-12)
    weights = collect_weights(model, data)
    assert weights["note"]
    if method == "only:noise":
        assert contribution["modalities"] == ["noise"]
        assert weights["note"].startswith("only:noise exposes no per-sample weights")
    projection = project_fused(model, data, tsne=False)
    assert projection["available"], f"{method} leaves no fused representation"
    assert len(projection["pca"]["x"]) == len(data.splits.test)
    json.dumps([contribution, weights, projection])


def _history(norms: list[dict[str, float]]) -> list[EpochLog]:
    return [
        EpochLog(
            epoch=i + 1,
            train_loss=1.0,
            val_loss=1.0,
            val_macro_f1=0.5,
            val_accuracy=0.5,
            grad_norms=n,
            seconds=float(i),
        )
        for i, n in enumerate(norms)
    ]


def test_a_dominant_modality_is_named_in_plain_words():
    summary = gradient_summary(_history([{"image": 8.0, "text": 1.0}, {"image": 6.0, "text": 2.0}]))
    assert summary["dominant"] == "image"
    assert summary["mean"] == {"image": 7.0, "text": 1.5}
    assert summary["ratio"] == pytest.approx(7.0 / 1.5)
    assert summary["note"].startswith("image dominated training: its encoder received 4.7 times the gradient")
    assert summary["remedy"] == "blend" and "--imbalance blend" in summary["recommendation"]
    assert TrainConfig(imbalance=summary["remedy"]).imbalance == "blend"  # a value training accepts

    balanced = gradient_summary([{"epoch": 1, "grad_norms": {"image": 2.0, "text": 1.0}}])  # a JSON record
    assert balanced["dominant"] is None
    assert "no single modality dominated training" in balanced["note"]
    assert balanced["remedy"] is None and balanced["recommendation"] == ""
    assert gradient_summary([])["note"] == "no gradient norms were recorded for this run"

    starved = gradient_summary([{"grad_norms": {"photo": 0.26, "caption": 0.01, "table": 0.2}}])
    assert starved["dominant"] is None and starved["starved"] == ["caption"]
    assert starved["note"] == (
        "photo and table shared the gradient (1.3 to 1), while caption received far less (caption: 26 times "
        "less than photo), so it learned little and the model may be ignoring it"
    )
    assert starved["remedy"] == "blend"


def test_the_real_trainer_records_norms_that_reveal_the_useful_modality(concat_run):
    summary = gradient_summary(concat_run.history)
    assert set(summary["norms"]) == {"signal", "noise"}
    assert len(summary["epochs"]) == concat_run.epochs_run
    assert summary["mean"]["signal"] > summary["mean"]["noise"]


def test_projection_of_the_fused_representation(concat_run, data):
    projection = project_fused(concat_run.model, data, tsne=True, max_tsne=100)
    n_test = len(data.splits.test)
    assert projection["available"] and projection["dim"] == 32  # two 16-wide embeddings, concatenated
    assert len(projection["pca"]["x"]) == n_test == len(projection["ids"])
    assert len(projection["tsne"]["x"]) == 100 and max(projection["tsne"]["rows"]) < n_test
    assert projection["correct"] == [
        t == p for t, p in zip(projection["y_true"], projection["y_pred"], strict=True)
    ]
    assert np.mean(projection["correct"]) == pytest.approx(concat_run.metrics["accuracy"])


def test_misclassified_samples_show_every_modality(tmp_path: Path):
    table = pd.DataFrame(
        {
            "id": ["x1", "x2", "x3"],
            "label": ["cat", "dog", "cat"],
            "photo": ["images/x1.png", "images/x2.png", ""],
            "note": ["a small cat", None, "sleeps all day"],
            "weight": [4.1, 20.5, np.nan],
        }
    )
    dataset = Dataset(
        name="pets",
        root=tmp_path,
        table=table,
        id_column="id",
        target="label",
        modalities={
            "photo": ModalitySpec("photo", "image", ["photo"]),
            "note": ModalitySpec("note", "text", ["note"]),
            "body": ModalitySpec("body", "tabular", ["weight"]),
        },
        content_hash="h",
    )
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    wrong = misclassified_samples(
        [0, 1, 0], [0, 0, 1], probabilities, ["x1", "x2", "x3"], ["cat", "dog"], dataset=dataset
    )
    assert [w["id"] for w in wrong] == ["x3", "x2"]  # most confident mistake first
    first = wrong[0]
    assert (first["true"], first["predicted"], first["confidence"]) == ("cat", "dog", 0.8)
    assert first["true_probability"] == pytest.approx(0.2)
    assert first["modalities"]["photo"] == {
        "type": "image",
        "shown_as": "image",
        "present": False,
        "path": None,
    }
    assert first["modalities"]["note"]["text"] == "sleeps all day"
    assert first["modalities"]["body"] == {
        "type": "tabular",
        "shown_as": "table",
        "present": False,
        "row": {"weight": None},
    }
    second = wrong[1]
    assert second["modalities"]["photo"]["path"] == str(tmp_path / "images/x2.png")
    assert second["modalities"]["note"]["present"] is False
    assert second["modalities"]["body"]["row"] == {"weight": 20.5}
    json.dumps(wrong)


_PARAMETERS = re.compile(r"([\d,]+) parameters?\b")


@pytest.mark.parametrize("method", FUSIONS.names())
def test_every_method_is_drawn_with_its_real_shapes_and_parameters(method):
    specs = {"table": InputSpec("vector", (8,)), "picture": InputSpec("grid", (1, 16, 16))}
    dot = method_diagram(specs, 3, method, embedding_dim=16)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    assert '"output" [label="class scores\\n(N, 3)"' in dot
    name = f"{method}:table" if getattr(FUSIONS.get(method), "per_modality_baseline", False) else method
    model = build_model(specs, 3, ModelConfig(fusion=name, embedding_dim=16))
    for modality, spec in model.specs.items():
        shape = "(N, " + ", ".join(map(str, spec.shape)) + ")"
        assert f'"input:{modality}" [label="{modality}\\n' in dot and shape in dot
    drawn = sum(int(m.replace(",", "")) for m in _PARAMETERS.findall(dot))
    assert drawn == count_parameters(model)
    for row in describe_model(model):
        assert f'"{row["kind"]}:{row["name"]}"' in dot


def test_family_overview_shows_the_three_levels():
    dot = family_overview()
    for title in ("Data level (early)", "Feature level (intermediate)", "Decision level (late)"):
        assert title in dot
    assert dot.count("subgraph cluster_") == 3


def test_analyze_run_is_json_and_consistent(concat_run, data):
    report = analyze_run(concat_run, prepared=data, tsne=False)
    text = json.dumps(report)
    assert json.loads(text)["run"]["method"] == "concat"
    assert report["run"]["misclassified"] == int((concat_run.y_true != concat_run.y_pred).sum())
    assert len(report["misclassified"]) == min(24, report["run"]["misclassified"])
    assert report["contribution"]["full"] == pytest.approx(report["run"]["macro_f1"], abs=1e-9)
    assert report["projection"]["tsne"] is None
    assert report["summary"][0] == report["contribution"]["note"]
    model_diagram(concat_run.model)  # a trained model draws as well as a fresh one


def test_a_run_without_a_model_cannot_be_analysed(concat_run, data):
    from dataclasses import replace

    from fusion_core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        analyze_run(replace(concat_run, model=None), prepared=data)
    assert str(caught.value) == (
        "this run has no trained model to analyse; load it with RunStore.load(run_id) or train it again"
    )


# --- the command line ---------------------------------------------------------------------------------


def _write_bundle(folder: Path) -> None:
    """A bundle with an informative table, a noise table and a short text per sample."""
    rng = np.random.default_rng(1)
    n = 240
    signal = rng.standard_normal((n, 3))
    labels = np.where(signal[:, 0] + signal[:, 1] > 0, "up", "down")
    words = np.array(["red", "green", "blue", "small", "large", "round"])
    table = pd.DataFrame(
        {
            "id": [f"r{i:03d}" for i in range(n)],
            "label": labels,
            "s1": signal[:, 0].round(4),
            "s2": signal[:, 1].round(4),
            "s3": signal[:, 2].round(4),
            "n1": rng.standard_normal(n).round(4),
            "n2": rng.standard_normal(n).round(4),
            "note": [" ".join(rng.choice(words, size=4)) for _ in range(n)],
        }
    )
    folder.mkdir()
    table.to_csv(folder / "manifest.csv", index=False)
    schema = {
        "modalities": {
            "signal": {"type": "tabular", "columns": ["s1", "s2", "s3"]},
            "noise": {"type": "tabular", "columns": ["n1", "n2"]},
            "note": {"type": "text", "column": "note"},
        }
    }
    (folder / "schema.json").write_text(json.dumps(schema))


def test_cli_analyze_reloads_a_saved_run(tmp_path: Path, capsys):
    from fusion_core.cli import main
    from fusion_core.runs import RunStore

    bundle = tmp_path / "bundle"
    _write_bundle(bundle)
    store = RunStore(tmp_path / "runs")
    config = ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="gated", embedding_dim=16),
        train=TrainConfig(epochs=12, batch_size=32, lr=5e-3, device="cpu"),
    )
    run = run_experiment(config, store=store)
    capsys.readouterr()

    assert (
        main(["analyze", "--run", run.run_id, "--runs-dir", str(tmp_path / "runs"), "--json", "--no-tsne"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    contribution = report["contribution"]
    assert contribution["modalities"] == ["signal", "noise", "note"]
    assert contribution["full"] == pytest.approx(run.metrics["macro_f1"], abs=1e-6)
    assert max(contribution["drop"], key=contribution["drop"].get) == "signal"
    assert sum(contribution["shapley"].values()) == pytest.approx(
        contribution["full"] - contribution["empty"]
    )
    assert "gates" in report["weights"]["kinds"]
    for sample in report["misclassified"]:
        assert sample["modalities"]["note"]["shown_as"] == "text"

    assert main(["analyze", "--run", run.run_id, "--runs-dir", str(tmp_path / "runs"), "--no-tsne"]) == 0
    text = capsys.readouterr().out
    assert "modality contribution (macro-F1 on the test split)" in text
    assert re.search(r"^signal\s+\d\.\d{3}\s+\d\.\d{3}\s+\+\d\.\d{3}\s+\d\.\d{3}$", text, re.MULTILINE)


def test_cli_analyze_unknown_run_is_a_one_line_error(tmp_path: Path, capsys):
    from fusion_core.cli import main

    assert main(["analyze", "--run", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err == "error: no run 'nope'; see 'fusion-explorer runs' for the saved run ids\n"
    )


@pytest.mark.slow
def test_cli_lab_prints_scores_and_the_reading(capsys):
    from fusion_core.cli import main

    assert main(["lab", "--preset", "uniqueness-B", "--methods", "only:A,only:B,concat", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["macro_f1"]) == ["only:A", "only:B", "concat"]
    assert result["macro_f1"]["only:B"] > 0.9 and result["macro_f1"]["only:A"] < 0.6
    assert result["reading"].startswith("uniqueness in B:")

    assert main(["lab", "--preset", "nope"]) == 2
    assert "unknown interaction preset 'nope'; choose one of: redundancy" in capsys.readouterr().err


def test_evidential_fusion_reports_each_samples_uncertainty_and_it_grows_when_modalities_go(data):
    config = ExperimentConfig(
        data=DataConfig(source="signal-and-noise"),
        model=ModelConfig(fusion="evidential", embedding_dim=16),
        train=TrainConfig(epochs=10, batch_size=64, lr=5e-3, device="cpu"),
    )
    model = run_experiment(config, prepared=data).model
    everything = run_model(model, data).insight["uncertainty"]
    nothing = run_model(model, data, present=[]).insight["uncertainty"]
    assert everything.shape == (len(data.splits.test),)
    assert ((everything > 0) & (everything < 1)).all()
    assert np.allclose(nothing, 1.0)  # no modality, no evidence: wholly unsure
    assert everything.mean() < 0.5


def test_contribution_note_says_each_cost_the_same_way():
    from fusion_core.analysis.contribution import contribution_note

    result = {
        "full": 0.89,
        "empty": 0.33,
        "without": {"image": 0.59, "table": 0.65},
        "drop": {"image": 0.30, "table": 0.24},
    }
    assert contribution_note(result) == (
        "hiding image costs the most (macro-F1 falls by 0.30, from 0.89 to 0.59); "
        "hiding table costs the least (macro-F1 falls by 0.24, from 0.89 to 0.65)"
    )


@pytest.mark.parametrize(
    ("family", "labels"),
    [
        ("early", ["A", "B", "join inputs", "one network", "class"]),
        ("intermediate", ["A", "B", "encoder A", "encoder B", "fuse features", "head", "class"]),
        (
            "late",
            [
                "A",
                "B",
                "encoder A",
                "encoder B",
                "classifier A",
                "classifier B",
                "combine decisions",
                "class",
            ],
        ),
    ],
)
def test_family_pictures_are_plain_svg_of_each_path(family, labels):
    import xml.etree.ElementTree as ElementTree

    from fusion_core.analysis.diagrams import family_svg

    root = ElementTree.fromstring(family_svg(family))
    namespace = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{namespace}svg"
    assert [text.text for text in root.iter(f"{namespace}text")] == labels
    # One arrow into every box but the two inputs, and two into the box where A and B meet.
    assert len(list(root.iter(f"{namespace}line"))) == len(labels) - 2 + 1
