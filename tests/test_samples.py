"""The bundled sample datasets: listing, generation, reproducibility, caching on disk, and their lessons."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import wavfile

import fusion_core
from fusion_core.data.readers import read_audio, read_image, read_series
from fusion_core.errors import DataError
from fusion_core.modalities import MODALITIES
from fusion_core.samples import (
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    SAMPLES,
    build_sample,
    list_samples,
    sample_builder,
    sample_path,
    samples_dir,
)
from fusion_core.samples.base import MARKER_FILE, write_png, write_wav

REPO = Path(__file__).resolve().parents[1]
# Building digits-audio writes ~3,600 files (about 3 s on a busy machine); the others take under a second.
SLOW_TO_BUILD = {"digits-audio"}
EXPECTED = [
    "activity-sensors",
    "cancer-views",
    "digits-audio",
    "greenhouse-yield",
    "parcel-scanner",
    "shapes-captions",
    "support-tickets",
]


def every_sample():
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TO_BUILD else name
        for name in sorted(SAMPLES.names())
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build each sample at most once for this module, on demand."""
    root = tmp_path_factory.mktemp("samples")
    folders: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in folders:
            folders[name] = build_sample(name, root)
        return folders[name]

    return get


def file_digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- listing ---------------------------------------------------------------------------------------


def test_list_samples_describes_every_dataset_without_generating_any(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))
    infos = list_samples()
    assert sorted(info.name for info in infos) == EXPECTED
    assert infos[0].name == DEFAULT_SAMPLE == "digits-audio"
    for info in infos:
        cls = SAMPLES.get(info.name)
        assert info.title and info.summary and info.lesson, info.name
        assert info.lesson.count(".") <= 3, f"{info.name}: a lesson is one to three sentences"
        assert info.modalities == cls.modalities and len(info.modalities) >= 2
        assert set(info.modalities.values()) <= set(MODALITIES.names())
        assert (info.samples, info.classes) == (cls.n_samples, cls.n_classes)
        assert 500 <= info.samples <= 2000 and (2 <= info.classes <= 10 or info.classes == 0)  # 0: regression
    assert {kind for info in infos for kind in info.modalities.values()} == set(MODALITIES.names())
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_is_a_data_error_listing_the_valid_names(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))
    message = (
        "unknown sample dataset 'digits'; choose one of: "
        "activity-sensors, cancer-views, digits-audio, greenhouse-yield, parcel-scanner, shapes-captions, "
        "support-tickets"
    )
    with pytest.raises(DataError) as caught:
        sample_path("digits")
    assert str(caught.value) == message
    with pytest.raises(DataError, match="^unknown sample dataset 'nope'; choose one of: "):
        sample_builder("nope")


def test_samples_dir_is_the_environment_variable_or_the_checkout_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path / "here"))
    assert samples_dir() == tmp_path / "here"
    monkeypatch.delenv("FUSION_EXPLORER_SAMPLES")
    assert samples_dir() == Path(fusion_core.__file__).resolve().parents[1] / "sample_data" / "generated"
    assert samples_dir() == REPO / "sample_data" / "generated"


# --- every bundle is valid -------------------------------------------------------------------------


@pytest.mark.parametrize("name", every_sample())
def test_sample_builds_a_bundle_that_matches_its_schema(name, built):
    folder = built(name)
    cls = SAMPLES.get(name)
    schema = json.loads((folder / "schema.json").read_text(encoding="utf-8"))
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)

    assert len(manifest) == cls.n_samples
    assert manifest[schema["id"]].is_unique
    labels = manifest[schema["target"]].astype(str)
    if schema.get("task") == "regression":  # a number per sample, no classes
        assert cls.n_classes == 0 and labels.nunique() > 0.9 * len(manifest)
    else:
        assert labels.nunique() == cls.n_classes
        assert labels.value_counts().min() >= 0.3 * len(manifest) / cls.n_classes  # no vanishing class
    assert {key: spec["type"] for key, spec in schema["modalities"].items()} == cls.modalities

    used = {schema["id"], schema["target"]}
    for key, spec in schema["modalities"].items():
        columns = spec.get("columns") or [spec["column"]]
        assert set(columns) <= set(manifest.columns), f"{key}: {columns}"
        used.update(columns)
        if spec["type"] in ("image", "audio", "series"):
            paths = manifest[spec["column"]]
            assert all((folder / path).is_file() for path in paths), f"{key}: a referenced file is missing"
            reader = {"image": read_image, "audio": read_audio, "series": read_series}[spec["type"]]
            for path in paths.iloc[:: max(1, len(paths) // 5)]:
                reader(folder / path)  # raises DataError when unreadable
        elif spec["type"] == "text":
            assert manifest[spec["column"]].str.split().str.len().mean() >= 3
    assert used == set(manifest.columns), "every manifest column belongs to a modality, the id or the target"


@pytest.mark.slow
def test_digits_audio_media_have_the_documented_shapes(built):
    folder = built("digits-audio")
    with Image.open(folder / "images" / "digit-0000.png") as image:
        assert (image.mode, image.size) == ("L", (16, 16))
    rate, clip = wavfile.read(folder / "audio" / "digit-0000.wav")
    assert (rate, clip.dtype, clip.shape) == (8000, np.int16, (4000,))


def test_activity_series_and_shape_photos_have_the_documented_shapes(built):
    trace = np.load(built("activity-sensors") / "series" / "rec-0000.npy", allow_pickle=False)
    assert (trace.dtype, trace.shape) == (np.float32, (128, 3))
    with Image.open(built("shapes-captions") / "photos" / "shape-0000.png") as image:
        assert (image.mode, image.size) == ("RGB", (32, 32))


# --- reproducibility -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", every_sample())
def test_same_seed_gives_identical_bytes(name, built, tmp_path):
    again = build_sample(name, tmp_path, seed=DEFAULT_SEED)
    digests = file_digests(built(name))
    assert len(digests) > 2
    assert file_digests(again) == digests


@pytest.mark.parametrize("name", ["activity-sensors", "support-tickets"])
def test_another_seed_gives_other_data(name, built, tmp_path):
    other = build_sample(name, tmp_path, seed=DEFAULT_SEED + 1)
    digests, other_digests = file_digests(built(name)), file_digests(other)
    assert digests.keys() == other_digests.keys()
    assert digests["manifest.csv"] != other_digests["manifest.csv"]


def test_png_and_wav_writers_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    write_png(tmp_path / "gray.png", gray)
    write_png(tmp_path / "rgb.png", rgb)
    with Image.open(tmp_path / "gray.png") as image:
        assert image.mode == "L" and np.array_equal(np.asarray(image), gray)
    with Image.open(tmp_path / "rgb.png") as image:
        assert image.mode == "RGB" and np.array_equal(np.asarray(image), rgb)

    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0])
    write_wav(tmp_path / "clip.wav", samples, 8000)
    rate, pcm = wavfile.read(tmp_path / "clip.wav")
    assert rate == 8000
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32767, 32767]


# --- building on first use, reuse, and safe rebuilds -----------------------------------------------


class CountBuilds:
    def __init__(self, monkeypatch, cls):
        self.calls = 0
        original = cls.build

        def counted(builder, out_dir, seed):
            self.calls += 1
            return original(builder, out_dir, seed)

        monkeypatch.setattr(cls, "build", counted)


def test_sample_path_builds_once_and_then_reuses_the_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))
    builds = CountBuilds(monkeypatch, SAMPLES.get("support-tickets"))

    folder = sample_path("support-tickets")
    assert folder == tmp_path / "support-tickets"
    assert (folder / "manifest.csv").is_file() and (folder / MARKER_FILE).is_file()
    stamp = (folder / "manifest.csv").stat()

    assert sample_path("support-tickets") == folder
    assert builds.calls == 1
    assert (folder / "manifest.csv").stat().st_mtime_ns == stamp.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["support-tickets"]  # no temporary folders left


def test_a_new_generator_version_rebuilds_a_stale_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))
    cls = SAMPLES.get("support-tickets")
    builds = CountBuilds(monkeypatch, cls)
    sample_path("support-tickets")
    monkeypatch.setattr(cls, "version", cls.version + 1)
    folder = sample_path("support-tickets")
    assert builds.calls == 2
    assert json.loads((folder / MARKER_FILE).read_text())["version"] == cls.version
    sample_path("support-tickets")
    assert builds.calls == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["support-tickets"]


def test_a_folder_without_the_completion_marker_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))
    half_written = tmp_path / "support-tickets"
    half_written.mkdir()
    (half_written / "manifest.csv").write_text("id,label\n")
    folder = sample_path("support-tickets")
    assert len(pd.read_csv(folder / "manifest.csv")) == 1500
    assert (folder / MARKER_FILE).is_file()


def test_a_crash_during_the_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))

    def crash(builder, out_dir, seed):
        (out_dir / "manifest.csv").write_text("id,label\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(SAMPLES.get("support-tickets"), "build", crash)
    with pytest.raises(KeyboardInterrupt):
        sample_path("support-tickets")
    assert list(tmp_path.iterdir()) == []


def test_a_build_that_loses_the_race_keeps_the_winners_bundle(tmp_path, monkeypatch):
    """Two processes building at once: the second to finish finds a complete bundle and discards its own."""
    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(tmp_path))
    cls = SAMPLES.get("support-tickets")
    original = cls.build

    def build_while_another_process_finishes(builder, out_dir, seed):
        original(builder, out_dir, seed)
        monkeypatch.setattr(cls, "build", original)
        build_sample("support-tickets", tmp_path, seed=5)  # the other process wins the rename

    monkeypatch.setattr(cls, "build", build_while_another_process_finishes)
    folder = sample_path("support-tickets")
    assert json.loads((folder / MARKER_FILE).read_text())["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["support-tickets"]


# --- the generate script ---------------------------------------------------------------------------


def test_generate_script_rebuilds_named_datasets_and_rejects_unknown_ones(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("generate", REPO / "sample_data" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    builds = CountBuilds(monkeypatch, SAMPLES.get("cancer-views"))

    assert generate.main(["--out", str(tmp_path), "cancer-views"]) == 0
    assert generate.main(["--out", str(tmp_path), "cancer-views"]) == 0
    assert builds.calls == 2, "the script rebuilds even an up-to-date bundle"
    assert len(pd.read_csv(tmp_path / "cancer-views" / "manifest.csv")) == 569
    assert "built 1 dataset(s)" in capsys.readouterr().out

    assert generate.main(["--out", str(tmp_path), "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown sample dataset 'nope'; choose one of: ")


# --- each dataset teaches its lesson (a quick scikit-learn probe) ----------------------------------


def probe_f1(features: np.ndarray, labels: np.ndarray) -> float:
    """Macro-F1 of a linear probe (shrinkage LDA: closed form, so fast and deterministic), 3-fold."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    return f1_score(labels, cross_val_predict(model, features, labels, cv=folds), average="macro")


def test_cancer_views_are_redundant(built):
    manifest = pd.read_csv(built("cancer-views") / "manifest.csv")
    schema = json.loads((built("cancer-views") / "schema.json").read_text())
    labels = manifest["diagnosis"].to_numpy()
    views = {key: manifest[spec["columns"]].to_numpy() for key, spec in schema["modalities"].items()}
    single = max(probe_f1(view, labels) for view in views.values())
    fused = probe_f1(np.hstack(list(views.values())), labels)
    assert single > 0.9
    assert abs(fused - single) < 0.03


def test_support_tickets_fuse_better_than_either_modality(built):
    from sklearn.feature_extraction.text import CountVectorizer

    manifest = pd.read_csv(built("support-tickets") / "manifest.csv", keep_default_na=False)
    labels = manifest["label"].to_numpy()
    words = CountVectorizer(binary=True).fit_transform(manifest["message"]).toarray()
    account = pd.get_dummies(manifest.drop(columns=["id", "label", "message"]), dtype=float).to_numpy()
    text_f1, account_f1 = probe_f1(words, labels), probe_f1(account, labels)
    fused_f1 = probe_f1(np.hstack([words, account]), labels)
    assert 0.4 < text_f1 < 0.75 and 0.4 < account_f1 < 0.75
    assert fused_f1 > max(text_f1, account_f1) + 0.08


@pytest.mark.slow
def test_digits_audio_fusion_clearly_beats_the_best_single_modality(built):
    folder = built("digits-audio")
    manifest = pd.read_csv(folder / "manifest.csv")
    labels = manifest["label"].to_numpy()
    pixels = np.stack(
        [np.asarray(Image.open(folder / p), dtype=np.float32).ravel() for p in manifest["image"]]
    )
    clips = np.stack([wavfile.read(folder / p)[1].astype(np.float32) for p in manifest["audio"]])
    frames = clips.reshape(len(clips), -1, 250)
    spectrum = np.log1p((np.abs(np.fft.rfft(frames, axis=2)) ** 2).mean(axis=1))
    image_f1, audio_f1 = probe_f1(pixels, labels), probe_f1(spectrum, labels)
    fused_f1 = probe_f1(np.hstack([pixels, spectrum]), labels)
    assert 0.5 < image_f1 <= 0.75 and 0.3 < audio_f1 <= 0.6
    assert fused_f1 >= 0.9


# --- the data loader reads every sample --------------------------------------------------------------


@pytest.mark.parametrize("name", every_sample())
def test_load_dataset_reads_each_sample_with_its_modality_types(name, built, monkeypatch):
    from fusion_core.data import load_dataset

    monkeypatch.setenv("FUSION_EXPLORER_SAMPLES", str(built(name).parent))
    dataset = load_dataset(name)
    cls = SAMPLES.get(name)
    assert dataset.name == name
    assert len(dataset) == cls.n_samples
    assert len(dataset.class_names) == cls.n_classes
    assert {key: spec.type for key, spec in dataset.modalities.items()} == cls.modalities
