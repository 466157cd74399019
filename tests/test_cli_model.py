"""``fusion-explorer methods | train | compare | runs`` end to end, through ``main(argv)``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bundle_factory import write_views_bundle

from fusion_core.cli import main
from fusion_core.data.types import InputSpec
from fusion_core.encoders import ENCODERS, compatible_encoders
from fusion_core.fusion import FUSIONS, available_methods
from fusion_core.options import describe_options
from fusion_core.samples import list_samples

TRAIN_KEYS = {
    "run_id",
    "data",
    "fusion",
    "encoders",
    "metrics",
    "confusion_matrix",
    "history",
    "params",
    "train_seconds",
    "epochs_run",
    "device",
}
METRIC_KEYS = {
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "precision",
    "recall",
    "per_class",
    "confusion_matrix",
    "roc_auc",
}
SUMMARY_KEYS = {
    "method",
    "runs",
    "macro_f1_mean",
    "macro_f1_std",
    "accuracy_mean",
    "params",
    "train_seconds_mean",
    "gain_over_best_unimodal",
    "run_ids",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A small two-view tabular bundle (modalities "clinical" and "genomics", four classes)."""
    return write_views_bundle(tmp_path_factory.mktemp("data") / "views", 160, seed=2)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_methods_lists_fusion_methods_and_encoders(capsys):
    code, out, _ = run_cli(capsys, "methods", "--json")
    assert code == 0
    listing = json.loads(out)
    names = [m["name"] for m in listing["fusion_methods"]]
    assert {"concat", "early", "late", "tensor", "only:<modality>"} <= set(names)
    assert all(
        m["level"] in ("early", "intermediate", "late") and m["summary"] for m in listing["fusion_methods"]
    )
    mlp = next(e for e in listing["encoders"] if e["name"] == "mlp")
    assert "vector" in mlp["forms"] and "tabular" in mlp["modality_types"]
    assert {e["name"] for e in listing["encoders"]} == set(ENCODERS)

    code, out, _ = run_cli(capsys, "methods")
    assert code == 0 and "concat" in out and "Encoders" in out


def test_train_prints_metrics_and_saves_a_run(bundle, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "train", "--data", bundle, "--fusion", "concat", "--epochs", "3", "--runs-dir", str(tmp_path)
    )
    assert code == 0
    assert "macro F1" in out and "confusion matrix" in out
    assert "epoch   1/3" in err and "epoch   3/3" in err  # progress goes to stderr
    run_id = out.split("run id: ")[1].split()[0]

    code, out, _ = run_cli(capsys, "runs", "--runs-dir", str(tmp_path), "--json")
    assert code == 0
    assert [row["run_id"] for row in json.loads(out)] == [run_id]
    code, out, _ = run_cli(capsys, "runs", "--runs-dir", str(tmp_path))
    assert run_id in out and "concat" in out


def test_train_json_has_the_documented_keys(bundle, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "train",
        "--data",
        bundle,
        "--fusion",
        "only:genomics",
        "--encoder",
        "genomics=mlp",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--seed",
        "4",
        "--device",
        "cpu",
        "--runs-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0 and err == ""
    report = json.loads(out)
    assert set(report) >= TRAIN_KEYS
    assert set(report["metrics"]) >= METRIC_KEYS
    assert report["fusion"] == "only:genomics" and report["encoders"] == {"genomics": "mlp"}
    assert report["epochs_run"] == len(report["history"]) == 2
    assert np.array(report["confusion_matrix"]).shape == (4, 4)
    assert report["device"].startswith("CPU")


def test_weight_averaging_is_set_from_the_command_line(bundle, tmp_path, capsys):
    common = ["train", "--data", bundle, "--fusion", "concat", "--epochs", "2", "--runs-dir", str(tmp_path)]
    code, out, _ = run_cli(capsys, *common, "--json")
    assert code == 0 and "running average of the weights (half-life 0.5 epochs)" in json.loads(out)["budget"]
    code, out, _ = run_cli(capsys, *common, "--average-weights", "0", "--json")
    assert code == 0 and "the best epoch's weights are kept" in json.loads(out)["budget"]
    line = one_error_line(capsys, *common, "--average-weights", "-1")
    assert "half-life must be 0 (off) or a positive number of epochs" in line


def test_compare_prints_a_ranking(bundle, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "compare",
        "--data",
        bundle,
        "--methods",
        "concat,late,only:clinical",
        "--epochs",
        "2",
        "--runs-dir",
        str(tmp_path),
    )
    assert code == 0
    assert "[3/3]" in err  # one progress line per finished run
    assert "vs best unimodal [95% CI]" in out and "budget: Train until validation macro-F1" in out
    assert all(method in out for method in ("concat", "late", "only:clinical"))

    code, out, _ = run_cli(
        capsys, "compare", "--data", bundle, "--methods", "concat,only:clinical", "--seeds", "2", "--epochs", "2",
        "--runs-dir", str(tmp_path), "--json",
    )  # fmt: skip
    report = json.loads(out)
    rows = report["methods"]
    assert {row["method"] for row in rows} == {"concat", "only:clinical"}
    assert all(set(row) >= SUMMARY_KEYS and row["runs"] == 2 and len(row["run_ids"]) == 2 for row in rows)
    concat = next(row for row in rows if row["method"] == "concat")
    difference = concat["vs_best_unimodal"]
    assert difference["reference"] == "only:clinical" and difference["pairs"] == 2
    assert difference["low"] <= difference["mean"] <= difference["high"]
    assert report["problems"] == [] and report["verdict"]


# -- bad input: one line, exit status 2 ----------------------------------------------------------


def test_unknown_fusion_method(bundle, capsys):
    valid = ", ".join(available_methods(["clinical", "genomics"]))
    line = one_error_line(capsys, "train", "--data", bundle, "--fusion", "magic")
    assert line == f"error: unknown fusion method 'magic'; choose one of: {valid}"
    line = one_error_line(capsys, "compare", "--data", bundle, "--methods", "concat,magic")
    assert line == f"error: unknown fusion method 'magic'; choose 'all' or some of: {valid}"


def test_encoder_that_does_not_fit_the_modality(bundle, capsys):
    fitting = ", ".join(compatible_encoders(InputSpec("vector", (3,))))
    line = one_error_line(
        capsys, "train", "--data", bundle, "--fusion", "concat", "--encoder", "clinical=cnn"
    )
    assert line == (
        f"error: encoder 'cnn' cannot read modality 'clinical', whose form is vector; encoders that fit: {fitting}"
    )


def test_unknown_encoder_and_unknown_modality(bundle, capsys):
    line = one_error_line(
        capsys, "train", "--data", bundle, "--fusion", "concat", "--encoder", "clinical=resnet"
    )
    assert line == f"error: unknown encoder 'resnet'; choose one of: {', '.join(ENCODERS)}"
    line = one_error_line(capsys, "train", "--data", bundle, "--fusion", "concat", "--encoder", "scans=cnn")
    assert line == (
        "error: --encoder names modality 'scans', which this dataset does not have; "
        "its modalities are: clinical, genomics"
    )


def test_bad_key_value_pairs(bundle, capsys):
    line = one_error_line(capsys, "train", "--data", bundle, "--fusion", "concat", "--encoder", "clinical")
    assert line == "error: --encoder takes MODALITY=ENCODER, got 'clinical'"
    line = one_error_line(
        capsys, "train", "--data", bundle, "--fusion", "concat", "--fusion-option", "hidden"
    )
    assert line == "error: --fusion-option takes KEY=VALUE, got 'hidden'"
    valid = ", ".join(info.name for info in describe_options(FUSIONS.get("concat")))
    line = one_error_line(
        capsys, "train", "--data", bundle, "--fusion", "concat", "--fusion-option", "depth=3"
    )
    assert line == f"error: fusion 'concat' has no option 'depth'; valid options: {valid}"


def test_missing_data_file(tmp_path, capsys):
    line = one_error_line(capsys, "train", "--data", str(tmp_path / "nowhere.zip"), "--fusion", "concat")
    assert "nowhere.zip" in line


def test_unusable_paths_give_one_error_line_not_a_traceback(bundle, tmp_path, capsys):
    too_long = "x" * 300  # the operating system refuses the name itself
    line = one_error_line(capsys, "train", "--data", too_long, "--fusion", "concat")
    assert line == f"error: cannot use {too_long}: File name too long; check the path"
    (tmp_path / "runs").write_text("a file, not a folder")
    line = one_error_line(
        capsys, "train", "--data", bundle, "--fusion", "concat", "--runs-dir", str(tmp_path / "runs")
    )
    assert (
        line
        == f"error: the runs folder {tmp_path / 'runs'} is a file; give the path of a folder for saved runs"
    )


# -- every sample dataset, a couple of epochs ----------------------------------------------------

SAMPLES = [info.name for info in list_samples()]


@pytest.mark.slow
@pytest.mark.parametrize("sample", SAMPLES)
def test_train_on_each_sample_dataset(sample, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "train",
        "--data",
        sample,
        "--fusion",
        "concat",
        "--epochs",
        "2",
        "--runs-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    info = next(i for i in list_samples() if i.name == sample)
    assert set(report["encoders"]) == set(info.modalities)
    if report["task"] == "regression":  # a number per sample: no classes, no confusion matrix
        assert info.classes == 0 and set(report["metrics"]) == {"r2", "mae", "rmse"}
        assert set(report) >= TRAIN_KEYS and report["confusion_matrix"] is None
        return
    assert set(report) >= TRAIN_KEYS and set(report["metrics"]) >= METRIC_KEYS
    assert np.array(report["confusion_matrix"]).shape == (info.classes, info.classes)


@pytest.mark.slow
@pytest.mark.parametrize("sample", SAMPLES)
def test_compare_on_each_sample_dataset(sample, tmp_path, capsys):
    first = next(iter(next(i for i in list_samples() if i.name == sample).modalities))
    code, out, _ = run_cli(
        capsys, "compare", "--data", sample, "--methods", f"late,only:{first}", "--epochs", "2",
        "--runs-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)["methods"]
    assert {row["method"] for row in rows} == {"late", f"only:{first}"}
    if rows[0]["metric"] == "r2":  # a regression sample ranks by R² and reports errors in its units
        regression_keys = SUMMARY_KEYS - {"macro_f1_mean", "macro_f1_std", "accuracy_mean"}
        assert all(
            set(row) >= regression_keys | {"r2_mean", "r2_std", "mae_mean", "rmse_mean"} for row in rows
        )
        return
    assert all(set(row) >= SUMMARY_KEYS for row in rows)
