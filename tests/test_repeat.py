"""Repeat a run from its saved configuration: ``runs show ID`` then ``train --config FILE``."""

from __future__ import annotations

import json

import pytest

from fusion_core.cli import main
from fusion_core.config import ExperimentConfig


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train_json(capsys, *argv: str) -> dict:
    code, out, err = run_cli(capsys, "train", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_train_config_from_runs_show_repeats_the_run_exactly(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    first = train_json(
        capsys,
        "--data", "support-tickets", "--fusion", "gated", "--fusion-option", "dim=16",
        "--epochs", "2", "--seed", "5", "--runs-dir", runs,
    )  # fmt: skip
    code, shown, err = run_cli(capsys, "runs", "show", first["run_id"], "--runs-dir", runs)
    assert code == 0, err
    config = ExperimentConfig.from_json(shown)
    # every option is in it, defaults filled in: preprocessing, encoders, fusion and training options
    assert config.model.fusion_options == {"dim": 16, "absent": "zeros", "hidden": 64, "dropout": 0.1}
    assert set(config.model.encoders) == {"message", "account"}
    assert set(config.data.preprocessing) == {"message", "account"}
    assert config.data.preprocessing["message"]  # the text options with their defaults
    assert config.train.seed == 5 and config.train.epochs == 2
    path = tmp_path / "run-config.json"
    path.write_text(shown)
    again = train_json(capsys, "--config", str(path), "--runs-dir", runs)
    assert again["run_id"] != first["run_id"]
    assert again["metrics"] == first["metrics"]
    assert again["history"][-1]["train_loss"] == first["history"][-1]["train_loss"]
    code, shown_again, _ = run_cli(capsys, "runs", "show", again["run_id"], "--runs-dir", runs)
    assert json.loads(shown_again) == json.loads(shown)
    # a flag overrides the file
    other_seed = train_json(capsys, "--config", str(path), "--seed", "6", "--runs-dir", runs)
    assert other_seed["metrics"] != first["metrics"]


def test_a_config_naming_an_unknown_method_fails_with_one_line(tmp_path, capsys):
    config = ExperimentConfig()
    config.data.source = "cancer-views"
    config.model.fusion = "telepathy"
    path = tmp_path / "bad.json"
    path.write_text(config.to_json())
    code, out, err = run_cli(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "unknown fusion method 'telepathy'" in err


def test_config_files_ignore_unknown_keys_and_refuse_non_json(tmp_path, capsys):
    raw = json.loads(ExperimentConfig().to_json())
    raw["train"]["from_a_later_version"] = 1
    raw["extra"] = {}
    assert ExperimentConfig.from_dict(raw) == ExperimentConfig()
    path = tmp_path / "notes.json"
    path.write_text("epochs: 3")
    code, _, err = run_cli(capsys, "train", "--config", str(path))
    assert code == 2 and "is not a run configuration" in err and "runs show" in err


def test_train_without_data_or_config_says_what_it_needs(capsys):
    code, _, err = run_cli(capsys, "train", "--fusion", "concat")
    assert code == 2 and "--config FILE" in err and len(err.strip().splitlines()) == 1


def test_runs_show_of_an_unknown_run_fails_with_one_line(tmp_path, capsys):
    code, out, err = run_cli(capsys, "runs", "show", "missing-run", "--runs-dir", str(tmp_path))
    assert code == 2 and out == "" and "no run 'missing-run'" in err
