"""Uploads that cannot hurt the server: a 1 GiB bomb, the hostile corpus through the app, session folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from app_helpers import new_app, open_page
from bundle_factory import write_bundle, zip_folder
from test_data_validation import CORPUS, HOSTILE

from ui import state
from ui.cache import SESSION_PREFIX, remove_stale_sessions

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
import json, sys, time
from fusion_core.data import load_dataset
from fusion_core.errors import DataError, user_message
start = time.perf_counter()
try:
    load_dataset(sys.argv[1])
    outcome = "accepted"
except DataError as exc:
    outcome = user_message(exc)
# VmHWM is this process's own peak since it started; ru_maxrss would carry over the peak of the
# process that launched it (Linux keeps it across exec), here the whole test session's.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - start, "outcome": outcome, "peak_kb": peak_kb}))
"""


@pytest.fixture(scope="module")
def gigabyte_bomb(tmp_path_factory) -> Path:
    """A valid bundle plus an unreferenced member of 1 GiB of zeros (about 1 MB packed), built here, never committed."""
    folder = write_bundle(tmp_path_factory.mktemp("bomb"), n=12, modalities=("tabular",), name="bomb")
    path = zip_folder(folder)
    chunk = bytes(16 * 1024**2)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            for _ in range(64):
                member.write(chunk)
    assert path.stat().st_size < 5 * 1024**2
    return path


@pytest.mark.slow  # a Python process that imports the data layer, and 1 GiB compressed once
@pytest.mark.parametrize(
    ("limit_mb", "refusal"),
    [(None, "would unpack to 1.0 GB, over the limit of 512.0 MB"), ("4096", "a zip bomb is refused")],
    ids=["total-size-limit", "compression-ratio-limit"],
)
def test_a_gigabyte_of_zeros_is_refused_fast_in_little_memory_writing_nothing(
    gigabyte_bomb, tmp_path, limit_mb, refusal
):
    cache = tmp_path / "cache"
    env = {"FUSION_EXPLORER_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    if limit_mb:  # with the total allowed, the compression ratio alone must stop it
        env["FUSION_EXPLORER_MAX_UNPACKED_MB"] = limit_mb
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(gigabyte_bomb)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert refusal in measured["outcome"]
    assert measured["seconds"] < 10
    assert measured["peak_kb"] < 1024**2  # KiB: under 1 GiB for the whole process, imports included
    written = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert written == []


APP_CASES = [
    (build, expected)
    for build, expected in CORPUS
    if build.__name__ not in {"unknown_dataset_name", "symlink_to_outside_file", "folder_without_manifest"}
]
"""Every corpus case a browser can upload: a name is not an upload, and zipping a folder resolves its links."""


def _as_upload(paths: list[Path], tmp_path: Path) -> list[tuple[str, bytes, str]]:
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            path = zip_folder(path, tmp_path / f"{path.name}-upload.zip")
        files.append((path.name, path.read_bytes(), "application/octet-stream"))
    return files


def test_every_hostile_upload_gets_an_error_in_the_app_and_the_app_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    at = open_page(new_app(), "data")
    assert len(APP_CASES) >= 40
    for index, (build, _) in enumerate(APP_CASES):
        case = tmp_path / f"case{index}"
        case.mkdir()
        with monkeypatch.context() as patch:
            files = _as_upload(build(case, patch), case)
            at.file_uploader(key="data_upload").set_value(files).run(timeout=30)
            errors = [e.value for e in at.error]
        assert [e.value for e in at.exception] == [], build.__name__
        assert len(errors) == 1 and errors[0].startswith("That upload could not be used"), (
            build.__name__,
            errors,
        )
        assert "\n" not in errors[0] and str(tmp_path) not in errors[0] and " object at 0x" not in errors[0]
        assert at.session_state[state.DATASET] == state.default_dataset(), build.__name__
    # the app works afterwards: a good upload is read and reported
    good = zip_folder(write_bundle(tmp_path / "good", n=30, modalities=("tabular", "text"), name="fine"))
    at.file_uploader(key="data_upload").set_value([("fine.zip", good.read_bytes(), "application/zip")]).run()
    assert [e.value for e in at.error] == []
    assert at.session_state[state.DATASET].label == "fine"


def test_markup_in_a_label_is_shown_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    (build,) = [b for b, _ in HOSTILE if b.__name__ == "label_in_markdown"]
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(_as_upload(build(tmp_path, monkeypatch), tmp_path)).run()
    (error,) = [e.value for e in at.error]
    assert r"\*\*bold\*\* \[link\](javascript:alert(1))" in error  # escaped: no bold, no link
    assert "**bold**" not in error.replace("\\*", "")


def test_uploads_land_in_a_session_folder_and_stale_ones_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    bundle = zip_folder(write_bundle(tmp_path, n=30, modalities=("tabular",), name="mine"))
    at = open_page(new_app(), "data")
    at.file_uploader(key="data_upload").set_value(
        [("mine.zip", bundle.read_bytes(), "application/zip")]
    ).run()
    source = Path(at.session_state[state.DATASET].source)
    session = source.parents[1]
    assert session.name.startswith(SESSION_PREFIX) and session.parent == tmp_path / "cache" / "uploads"
    assert (session / source.parent.name / "mine.zip").is_file()

    # When a tab disconnects, Streamlit clears that session's resource caches, which runs on_release.
    # AppTest runs every script under the session id "test session id".
    from streamlit.runtime import caching

    caching.clear_session_resource_cache("test session id")
    assert not session.exists()

    stale = session.parent / f"{SESSION_PREFIX}left-by-a-stopped-server"
    stale.mkdir()
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    fresh = session.parent / f"{SESSION_PREFIX}in-use"
    fresh.mkdir()
    assert remove_stale_sessions(session.parent) == [stale]
    assert fresh.is_dir() and not stale.exists()


def test_labels_with_markup_are_plain_text_in_the_misclassified_gallery(tmp_path, monkeypatch):
    from test_data_validation import MARKUP_LABEL

    from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
    from fusion_core.experiment import run_experiment
    from fusion_core.runs import RunStore

    classes = (MARKUP_LABEL, "<b>bold</b>", "https://example.com")
    bundle = write_bundle(tmp_path, n=45, modalities=("tabular", "text"), classes=classes)
    config = ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="concat", embedding_dim=4),
        train=TrainConfig(epochs=1, lr=1e-7, device="cpu"),  # an untrained model: mistakes are certain
    )
    run = run_experiment(config, store=RunStore(tmp_path / "runs"))
    assert (run.y_true != run.y_pred).any()
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path / "cache"))
    at = open_page(new_app(), "results")
    cards = [m.value for m in at.markdown if "predicted" in m.value]
    assert cards
    for card in cards:
        assert "[link](" not in card and "<b>" not in card and "https://" not in card
        assert "**bold**" not in card.replace("\\*", "")
    assert any(r"\*\*bold\*\* \[link\](javascript:alert(1))" in card for card in cards)
