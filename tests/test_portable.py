"""Run zips: export, the model card, and a corpus of hostile zips that import must refuse untouched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from fusion_core.cli import main
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.errors import DataError
from fusion_core.experiment import run_experiment
from fusion_core.model import build_model
from fusion_core.portable import MODEL_CARD, export_run, import_run, model_card
from fusion_core.runs import RunStore

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "fusion-explorer-pickle-ran"


class Exploit:
    """Unpickling this would run a shell command; a run zip must never get that far."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[RunStore, str, bytes]:
    store = RunStore(tmp_path_factory.mktemp("runs"))
    config = ExperimentConfig(
        data=DataConfig(source="cancer-views"),
        model=ModelConfig(fusion="concat"),
        train=TrainConfig(epochs=1),
    )
    run = run_experiment(config, store=store)
    return store, run.run_id, export_run(store, run.run_id)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(files: dict[str, bytes], extra: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # duplicate names are part of the corpus
        for name, data in files.items():
            archive.writestr(name, data)
        for info, data in extra:
            archive.writestr(info, data)
    return buffer.getvalue()


def edited(files: dict[str, bytes], name: str, change) -> dict[str, bytes]:
    raw = json.loads(files[name])
    change(raw)
    return {**files, name: json.dumps(raw).encode()}


def state_dict_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def other_shape_weights(store: RunStore, run_id: str) -> bytes:
    run = store.load(run_id)
    other = build_model(run.input_specs, len(run.class_names), ModelConfig(fusion="concat", embedding_dim=8))
    return state_dict_bytes(other.state_dict())


def hostile_corpus(store: RunStore, run_id: str, good: bytes) -> dict[str, tuple[bytes, str]]:
    """name → (zip bytes, a phrase the refusal must contain)."""
    files = members(good)
    without = {k: v for k, v in files.items() if k != "config.json"}
    link = zipfile.ZipInfo("config.json")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    stored = zipfile.ZipInfo("history.json")
    stored.compress_type = zipfile.ZIP_STORED
    return {
        "not a zip": (b"this is plain text, not a zip archive at all", "is not a zip file"),
        "truncated zip": (good[: len(good) // 2], "zip"),
        "path traversal": (rezip(files, [("../escaped.json", b"{}")]), "path outside"),
        "absolute path": (rezip(files, [("/tmp/escaped.json", b"{}")]), "path outside"),
        "nested folder": (rezip(files, [("sub/config.json", b"{}")]), "path outside"),
        "unexpected member": (rezip(files, [("payload.py", b"import os")]), "unexpected file 'payload.py'"),
        "pickled weights": (
            rezip({**files, "model.pt": state_dict_bytes({"weight": Exploit()})}),
            "not a plain state dict",
        ),
        "weights for another shape": (
            rezip({**files, "model.pt": other_shape_weights(store, run_id)}),
            "do not fit the network",
        ),
        "unknown method": (
            rezip(edited(files, "config.json", lambda c: c["model"].update(fusion="telepathy"))),
            "unknown fusion method 'telepathy'",
        ),
        "oversized member": (
            rezip({k: v for k, v in files.items() if k != "history.json"}, [(stored, b"7" * (17 << 20))]),
            "over the 16 MB limit",
        ),
        "zip bomb": (rezip({**files, "predictions.csv": b"\0" * (40 << 20)}), "zip bomb"),
        "duplicate member": (rezip(files, [("metrics.json", files["metrics.json"])]), "twice"),
        "missing config": (rezip(without), "lacks config.json"),
        "symlink member": (
            rezip({k: v for k, v in files.items() if k != "config.json"}, [(link, b"/etc")]),
            "link",
        ),
        "damaged JSON": (rezip({**files, "run.json": b"{not json"}), "run.json is not"),
        "no weights": (rezip({k: v for k, v in files.items() if k != "model.pt"}), "no weights"),
        "unknown class in predictions": (
            rezip(edited(files, "run.json", lambda r: r.update(class_names=["x", "y"]))),
            "classes",
        ),
    }


def snapshot(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_hostile_zips_are_refused_with_clear_errors_and_the_store_is_unchanged(exported, tmp_path):
    store, run_id, good = exported
    corpus = hostile_corpus(store, run_id, good)
    assert len(corpus) >= 10
    # a store that already holds a run, and an empty one
    target = RunStore(tmp_path / "target")
    import_run(target, good)
    for root in (target.root, tmp_path / "empty"):
        before = snapshot(root)
        for name, (data, phrase) in corpus.items():
            with pytest.raises(DataError) as error:
                import_run(RunStore(root), data, shown="upload.zip")
            message = str(error.value)
            assert phrase in message, f"{name}: {message}"
            assert "\n" not in message and "Traceback" not in message, name
            assert snapshot(root) == before, f"{name} changed the store"
    assert not MARKER.exists(), "a pickled payload ran"


def test_hostile_zip_on_the_command_line_is_one_line_and_exit_2(exported, tmp_path, capsys):
    store, run_id, good = exported
    data, phrase = hostile_corpus(store, run_id, good)["path traversal"]
    path = tmp_path / "evil.zip"
    path.write_bytes(data)
    code = main(["import", str(path), "--runs-dir", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and phrase in captured.err
    assert snapshot(tmp_path / "runs") == {}


def test_an_exported_zip_imports_with_its_id_then_under_a_new_one(exported, tmp_path):
    store, run_id, good = exported
    assert set(members(good)) == {
        "config.json",
        "metrics.json",
        "history.json",
        "preprocessing_state.json",
        "input_specs.json",
        "run.json",
        "predictions.csv",
        "model.pt",
        MODEL_CARD,
    }
    target = RunStore(tmp_path / "target")
    first, second = import_run(target, good), import_run(target, good)
    assert first == run_id and second != run_id
    assert {row["run_id"] for row in target.list()} == {first, second}
    again = target.load(second)
    original = store.load(run_id)
    assert again.metrics == original.metrics and again.run_id == second
    for key, value in original.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], value)


def test_the_model_card_says_what_the_model_is_and_how_to_repeat_and_feed_it(exported):
    store, run_id, good = exported
    card = members(good)[MODEL_CARD].decode()
    run = store.load(run_id)
    assert card == model_card(run)
    assert "cancer-views" in card and "concat" in card
    assert "## Confusion matrix" in card
    header = "| true \\ predicted | " + " | ".join(run.class_names) + " |"
    assert header in card
    for name, row in zip(run.class_names, run.metrics["confusion_matrix"], strict=True):
        assert f"| {name} | " + " | ".join(map(str, row)) + " |" in card
    assert f"| macro F1 | {run.metrics['macro_f1']:.4f} |" in card
    assert "fusion-explorer train --config config.json" in card
    for name in run.input_specs:
        assert f"`{name}_present`" in card


def test_user_text_in_the_model_card_cannot_break_its_tables(exported):
    store, run_id, _ = exported
    run = store.load(run_id)
    run.label = "a | b\n# heading"
    card = model_card(run)
    assert "# Model card: a \\| b \\# heading" in card
