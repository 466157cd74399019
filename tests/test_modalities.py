"""Each modality type on tiny hand-made datasets: shapes, forms, masks, and state learned from training rows only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.io import wavfile
from sklearn.feature_extraction.text import TfidfVectorizer

from fusion_core.data.types import Dataset, ModalitySpec
from fusion_core.errors import ConfigError, DataError
from fusion_core.modalities import MODALITIES, augment_batch
from fusion_core.modalities.audio import clip_spectrogram, mel_filterbank
from fusion_core.options import describe_options


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits for a busy core
    yield
    torch.set_num_threads(threads)


def make_dataset(root: Path, table: dict, modalities: dict[str, tuple[str, list[str]]]) -> Dataset:
    frame = pd.DataFrame(table)
    n = len(frame)
    frame.insert(0, "id", [f"s{i}" for i in range(n)])
    frame["label"] = ["a" if i % 2 else "b" for i in range(n)]
    specs = {name: ModalitySpec(name, kind, columns) for name, (kind, columns) in modalities.items()}
    return Dataset("toy", root, frame, "id", "label", specs, content_hash=f"hash-{root.name}")


def fit_transform(kind: str, dataset: Dataset, train_rows, **options):
    preprocessor = MODALITIES.get(kind)(**options)
    spec = next(iter(dataset.modalities.values()))
    state = preprocessor.fit(dataset, spec, np.asarray(train_rows, dtype=np.int64))
    json.dumps(state)  # fitted state is plain data
    return state, preprocessor.transform(dataset, spec, state)


def write_png(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path.name


def write_wav(path: Path, samples: np.ndarray, rate: int) -> str:
    wavfile.write(path, rate, samples.astype(np.float32))
    return path.name


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


# --- every type: registered, documented options -------------------------------------------------


@pytest.mark.parametrize("kind", ["tabular", "image", "text", "audio", "series"])
def test_every_type_is_registered_and_documents_each_option(kind):
    cls = MODALITIES.get(kind)
    assert cls.title and cls.summary and len(cls.__doc__) > 400
    options = describe_options(cls)
    assert options
    for info in options:
        assert info.help, f"{kind} option {info.name} has no help text"


# --- tabular ------------------------------------------------------------------------------------


def test_tabular_imputes_scales_and_one_hot_encodes(tmp_path):
    dataset = make_dataset(
        tmp_path,
        {"age": [10.0, 20.0, np.nan, 40.0, 1000.0], "smoker": ["yes", None, "no", "yes", "no"]},
        {"clinical": ("tabular", ["age", "smoker"])},
    )
    state, prepared = fit_transform("tabular", dataset, [0, 1, 2, 3])
    assert prepared.form == "vector" and prepared.values.dtype == torch.float32
    assert prepared.values.shape == (5, 4)
    assert prepared.feature_names == ["age", "smoker=yes", "smoker=(missing)", "smoker=no"]
    train_age = np.array([10.0, 20.0, 20.0, 40.0])  # the NaN is filled with the training median, 20
    assert state["numeric"][0]["fill"] == 20.0
    assert state["numeric"][0]["center"] == pytest.approx(train_age.mean())
    assert state["numeric"][0]["scale"] == pytest.approx(train_age.std())
    expected_age = (np.array([10, 20, 20, 40, 1000]) - train_age.mean()) / train_age.std()
    np.testing.assert_allclose(prepared.values[:, 0].numpy(), expected_age, rtol=1e-5)
    np.testing.assert_array_equal(
        prepared.values[:, 1:].numpy(), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]]
    )
    assert prepared.present.dtype == torch.bool and prepared.present.all()


def test_tabular_statistics_and_categories_come_from_training_rows_only(tmp_path):
    dataset = make_dataset(
        tmp_path,
        {"x": [1.0, 2.0, 3.0, 1e6, 2e6, -1e6], "kind": ["p", "q", "p", "zzz", "zzz", "zzz"]},
        {"t": ("tabular", ["x", "kind"])},
    )
    state, prepared = fit_transform("tabular", dataset, [0, 1, 2], scale="minmax")
    assert state["numeric"][0]["center"] == 1.0 and state["numeric"][0]["scale"] == 2.0
    assert state["categorical"][0]["categories"] == ["p", "q"]
    assert prepared.feature_names == ["x", "kind=p", "kind=q"]
    # a category never seen in training has no column of its own: all zeros
    assert prepared.values[3:, 1:].abs().sum() == 0
    np.testing.assert_allclose(prepared.values[:3, 0].numpy(), [0.0, 0.5, 1.0])


def test_tabular_caps_categories_and_ordinal_codes(tmp_path):
    kinds = ["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"]
    dataset = make_dataset(tmp_path, {"kind": kinds, "n": np.arange(12.0)}, {"t": ("tabular", ["kind", "n"])})
    rows = np.arange(12)
    _, capped = fit_transform("tabular", dataset, rows, max_categories=2, scale="none")
    assert capped.feature_names == ["n", "kind=a", "kind=b", "kind=(other)"]
    np.testing.assert_array_equal(capped.values[:, 3].numpy(), [0] * 9 + [1] * 3)
    _, ordinal = fit_transform("tabular", dataset, rows, categories="ordinal", scale="none")
    assert ordinal.values.shape == (12, 2) and ordinal.feature_names == ["n", "kind"]
    np.testing.assert_array_equal(ordinal.values[:, 1].numpy(), [0] * 5 + [1] * 4 + [2] * 2 + [3])


def test_tabular_row_with_every_column_missing_is_absent(tmp_path):
    dataset = make_dataset(
        tmp_path,
        {"x": [1.0, np.nan, 3.0, np.nan], "kind": ["u", None, "", "v"]},
        {"t": ("tabular", ["x", "kind"])},
    )
    _, prepared = fit_transform("tabular", dataset, [0, 1, 2, 3], impute="mean")
    assert prepared.present.tolist() == [True, False, True, True]
    assert prepared.values[1].abs().sum() == 0


def test_tabular_rejects_a_category_cap_below_one():
    with pytest.raises(ConfigError, match=r"^tabular option max_categories must be at least 1, got 0$"):
        MODALITIES.get("tabular")(max_categories=0)


# --- image --------------------------------------------------------------------------------------


def image_dataset(tmp_path, pixels: list[np.ndarray | None]) -> Dataset:
    paths = [write_png(tmp_path / f"i{i}.png", p) if p is not None else "" for i, p in enumerate(pixels)]
    return make_dataset(tmp_path, {"img": paths}, {"scan": ("image", ["img"])})


def test_image_auto_grayscale_auto_size_normalised_and_absent_rows(tmp_path):
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (20, 20)) for _ in range(5)] + [None]
    dataset = image_dataset(tmp_path, pixels)
    state, prepared = fit_transform("image", dataset, [0, 1, 2, 3, 5])
    assert state["color"] == "grayscale" and state["size"] == 20
    assert prepared.form == "grid" and prepared.values.shape == (6, 1, 20, 20)
    assert prepared.values.dtype == torch.float32 and prepared.values.is_contiguous()
    assert prepared.present.tolist() == [True] * 5 + [False]
    assert prepared.values[5].abs().sum() == 0
    train = prepared.values[[0, 1, 2, 3]]
    assert float(train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(train.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    assert prepared.augment is None


def test_image_rgb_explicit_size_and_augment_flag(tmp_path):
    rng = np.random.default_rng(1)
    pixels = [rng.integers(0, 256, (30, 40, 3)) for _ in range(4)]
    dataset = image_dataset(tmp_path, pixels)
    state, prepared = fit_transform("image", dataset, [0, 1], size="12", augment=True)
    assert state["color"] == "rgb" and len(state["mean"]) == 3
    assert prepared.values.shape == (4, 3, 12, 12)
    assert prepared.augment == "image"
    _, flipping = fit_transform("image", dataset, [0, 1], color="grayscale", augment=True, augment_flip=True)
    assert flipping.values.shape == (4, 1, 35, 35)  # median side of 30 and 40
    assert flipping.augment == "image+flip"


def test_image_normalisation_comes_from_training_rows_only(tmp_path):
    dark = [np.full((10, 10), 51) for _ in range(3)]
    bright = [np.full((10, 10), 255) for _ in range(3)]
    dataset = image_dataset(tmp_path, dark + bright)
    state, prepared = fit_transform("image", dataset, [0, 1, 2])
    assert state["mean"] == [pytest.approx(0.2)]
    assert state["size"] == 10
    assert prepared.values[:3].abs().max() == 0  # constant training pixels: exactly the mean


def test_image_size_option_rejects_nonsense():
    with pytest.raises(
        ConfigError, match=r"^image option size must be 'auto' or a whole number from 4 to 256, got 'big'$"
    ):
        MODALITIES.get("image")(size="big")


def test_augment_batch_shifts_each_image_within_bounds_and_flips():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 20, 20)
    x[:, :, 10, 10] = 1.0  # one bright pixel in the middle of every image
    shifted = augment_batch("image", x)
    assert shifted.shape == x.shape and shifted.is_contiguous()
    position = shifted.flatten(1).argmax(dim=1)
    rows, cols = position // 20, position % 20
    assert shifted.flatten(1).sum(dim=1).eq(1).all()  # a 2-pixel shift keeps the pixel inside
    assert (rows - 10).abs().max() <= 2 and (cols - 10).abs().max() <= 2
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # each sample has its own shift
    assert augment_batch(None, x) is x

    asymmetric = torch.zeros(200, 1, 20, 20)
    asymmetric[:, :, :, :5] = 1.0  # bright on the left
    flipped = augment_batch("image+flip", asymmetric)
    right_heavy = flipped[..., 10:].sum(dim=(1, 2, 3)) > flipped[..., :10].sum(dim=(1, 2, 3))
    assert 60 < int(right_heavy.sum()) < 140


def test_augment_batch_rejects_unknown_kind():
    with pytest.raises(
        ConfigError, match=r"^unknown augmentation 'rotate'; choose one of: image, image\+flip$"
    ):
        augment_batch("rotate", torch.zeros(1, 1, 4, 4))


# --- text ---------------------------------------------------------------------------------------

TEXTS = ["Good dog, good!", "bad CAT", "good cat", "", "unseen words only", None]


def text_dataset(tmp_path, texts=TEXTS) -> Dataset:
    return make_dataset(tmp_path, {"note": texts}, {"note": ("text", ["note"])})


def test_text_bag_of_words_vocabulary_from_training_texts(tmp_path):
    state, prepared = fit_transform("text", text_dataset(tmp_path), [0, 1, 2, 3])
    assert prepared.form == "vector" and prepared.values.dtype == torch.float32
    assert state["vocabulary"] == ["bad", "cat", "dog", "good"]  # "unseen", "words", "only" are test-only
    assert prepared.feature_names == state["vocabulary"]
    np.testing.assert_array_equal(
        prepared.values.numpy(),
        [[0, 0, 1, 2], [1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    )
    assert prepared.present.tolist() == [True, True, True, False, True, False]


def test_text_tfidf_matches_scikit_learn_fitted_on_training_texts(tmp_path):
    texts = ["the cat sat", "the dog ran far", "a cat and a dog", "the end", "dog dog cat new"]
    state, prepared = fit_transform(
        "text", text_dataset(tmp_path, texts), [0, 1, 2, 3], representation="tfidf"
    )
    reference = TfidfVectorizer(token_pattern=r"(?u)\S+").fit(texts[:4])
    assert state["vocabulary"] == reference.get_feature_names_out().tolist()
    np.testing.assert_allclose(
        prepared.values.numpy(), reference.transform(texts).toarray(), rtol=1e-6, atol=1e-7
    )


def test_text_tokens_pad_unknown_and_auto_length(tmp_path):
    texts = ["a b c", "a b", "c c c c c c", "a zzz", "", "b " * 200]
    state, prepared = fit_transform("text", text_dataset(tmp_path, texts), [0, 1, 2], representation="tokens")
    assert prepared.form == "tokens" and prepared.values.dtype == torch.int64
    assert state["vocabulary"] == ["a", "b", "c"]  # each in two training texts; ties alphabetical
    assert prepared.vocab_size == 5
    assert state["max_length"] == 6  # 95th percentile of training lengths 3, 2, 6 → 5.7, rounded up
    assert prepared.values.shape == (6, 6)
    assert prepared.values[0].tolist() == [2, 3, 4, 0, 0, 0]
    assert prepared.values[3].tolist() == [2, 1, 0, 0, 0, 0]  # zzz is unknown
    assert prepared.values[5].tolist() == [3] * 6  # cut to max_length
    assert prepared.present.tolist() == [True, True, True, True, False, True]
    _, fixed = fit_transform(
        "text", text_dataset(tmp_path, texts), [0, 1, 2], representation="tokens", max_length=2
    )
    assert fixed.values.shape == (6, 2)


def test_text_options_change_the_vocabulary(tmp_path):
    texts = ["Good good", "GOOD-bye", "good day", "x"]
    state, _ = fit_transform("text", text_dataset(tmp_path, texts), [0, 1, 2], min_freq=2)
    assert state["vocabulary"] == ["good"]
    raw, _ = fit_transform(
        "text", text_dataset(tmp_path, texts), [0, 1, 2], lowercase=False, strip_punctuation=False
    )
    assert raw["vocabulary"] == ["GOOD-bye", "Good", "day", "good"]
    bigrams, prepared = fit_transform(
        "text", text_dataset(tmp_path, texts), [0, 1, 2], bigrams=True, max_vocab=3
    )
    assert len(bigrams["vocabulary"]) == 3 and prepared.values.shape == (4, 3)


def test_text_without_training_words_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"^text modality 'note' has no words in the training split"):
        fit_transform("text", text_dataset(tmp_path, ["!!!", "...", "real words"]), [0, 1])


# --- audio --------------------------------------------------------------------------------------


def audio_dataset(tmp_path, clips: list[tuple[np.ndarray, int] | None]) -> Dataset:
    paths = [write_wav(tmp_path / f"a{i}.wav", *c) if c is not None else "" for i, c in enumerate(clips)]
    return make_dataset(tmp_path, {"snd": paths}, {"voice": ("audio", ["snd"])})


def test_audio_log_mel_shapes_resampling_duration_and_absent(tmp_path):
    stereo = np.stack([tone(500, 1.0, 16000), tone(500, 1.0, 16000)], axis=1)
    clips = [(tone(300, 1.0, 8000), 8000), (stereo, 16000), (tone(900, 0.5, 8000), 8000), None]
    state, prepared = fit_transform("audio", audio_dataset(tmp_path, clips), [0, 1, 2, 3])
    assert state["duration"] == 1.0 and state["samples"] == 8000
    # 16 mel bands by default; 8000 samples, hop 256 (32 ms), centred frames: 8000 // 256 + 1 = 32 frames
    assert prepared.form == "grid" and prepared.values.shape == (4, 1, 16, 32)
    assert prepared.values.dtype == torch.float32 and prepared.values.is_contiguous()
    assert prepared.present.tolist() == [True, True, True, False]
    assert prepared.values[3].abs().sum() == 0
    _, spectrum = fit_transform(
        "audio",
        audio_dataset(tmp_path, clips),
        [0, 1],
        spectrogram="log_spectrogram",
        duration="0.25",
        sample_rate=4000,
        window_ms=64,
        hop_ms=16,
    )
    # 64 ms at 4 kHz = 256 samples (n_fft 256 → 129 bins); 1000 samples, hop 64 → 16 frames
    assert spectrum.values.shape == (4, 1, 129, 16)


def test_audio_normalisation_comes_from_training_clips_only(tmp_path):
    quiet = [(0.01 * tone(400, 0.5, 8000), 8000) for _ in range(3)]
    loud = [(0.9 * tone(400, 0.5, 8000), 8000) for _ in range(3)]
    state, prepared = fit_transform("audio", audio_dataset(tmp_path, quiet + loud), [0, 1, 2], n_mels=16)
    train = prepared.values[:3]
    assert float(train.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(prepared.values[3:].mean()) > 3.0  # loud test clips sit far above the training statistics
    assert len(state["mean"]) == 16


def test_clip_spectrogram_peaks_at_the_tone_and_denoise_removes_steady_noise():
    rate = 8000
    clip = tone(1000, 1.0, rate)
    result = clip_spectrogram(clip, rate, n_mels=40)  # default hop 32 ms: 8000 // 256 + 1 = 32 frames
    assert (
        result.values.shape == (40, 32) and result.frequencies.shape == (40,) and result.times.shape == (32,)
    )
    peak = result.frequencies[result.values.mean(axis=1).argmax()]
    assert 850 < peak < 1150

    rng = np.random.default_rng(0)
    noisy = 0.05 * rng.standard_normal(rate) + np.where(np.arange(rate) < rate // 5, clip, 0.0)
    plain = clip_spectrogram(noisy, rate, spectrogram="log_spectrogram").values
    cleaned = clip_spectrogram(noisy, rate, spectrogram="log_spectrogram", denoise=True).values
    # the noise-only frames at the end lose most of their energy; the tone at the start keeps its peak
    assert np.median(cleaned[:, -20:]) < np.median(plain[:, -20:]) - 3
    assert cleaned[:, :8].max() == pytest.approx(plain[:, :8].max(), abs=0.5)


def test_mel_filterbank_has_no_empty_band():
    filters = mel_filterbank(64, 256, 8000)
    assert filters.shape == (64, 129) and (filters.sum(dim=1) > 0).all()


def test_audio_options_are_checked():
    with pytest.raises(
        ConfigError, match=r"^audio option hop_ms must be between 0.5 and window_ms \(20.0\), got 30$"
    ):
        MODALITIES.get("audio")(window_ms=20.0, hop_ms=30)
    with pytest.raises(ConfigError, match=r"^audio option duration must be 'auto' or a number of seconds"):
        MODALITIES.get("audio")(duration="long")


# --- series -------------------------------------------------------------------------------------


def series_dataset(tmp_path, arrays: list[np.ndarray | None], suffix=".npy") -> Dataset:
    paths = []
    for i, array in enumerate(arrays):
        if array is None:
            paths.append(None)
        elif suffix == ".npy":
            np.save(tmp_path / f"s{i}.npy", array.astype(np.float32))
            paths.append(f"s{i}.npy")
        else:
            pd.DataFrame(array, columns=[f"c{j}" for j in range(array.shape[1])]).to_csv(
                tmp_path / f"s{i}.csv", index=False
            )
            paths.append(f"s{i}.csv")
    return make_dataset(tmp_path, {"ser": paths}, {"sensor": ("series", ["ser"])})


def test_series_pad_truncate_normalise_from_training_rows(tmp_path):
    rng = np.random.default_rng(0)
    train = [rng.normal(5.0, 2.0, (length, 2)) for length in (8, 10, 12)]
    test = [rng.normal(1000.0, 50.0, (10, 2)), None]
    state, prepared = fit_transform("series", series_dataset(tmp_path, train + test), [0, 1, 2])
    assert state["length"] == 10 and state["channels"] == 2
    assert prepared.form == "sequence" and prepared.values.shape == (5, 10, 2)
    assert prepared.values.dtype == torch.float32
    real = np.concatenate([a[:10] for a in train])
    np.testing.assert_allclose(state["mean"], real.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(state["std"], real.std(axis=0), rtol=1e-5)
    assert prepared.values[0, 8:].abs().sum() == 0  # the short series is zero-padded
    expected = (train[2][:10] - real.mean(axis=0)) / real.std(axis=0)
    np.testing.assert_allclose(prepared.values[2].numpy(), expected, rtol=1e-4)
    assert prepared.present.tolist() == [True, True, True, True, False]
    assert prepared.values[4].abs().sum() == 0


def test_series_csv_explicit_length_no_normalise_and_smoothing(tmp_path):
    ramp = np.stack([np.arange(6.0), np.array([0, 6, 0, 6, 0, 6.0])], axis=1)
    dataset = series_dataset(tmp_path, [ramp, ramp], suffix=".csv")
    _, raw = fit_transform("series", dataset, [0], length=8, normalise="none")
    assert raw.values.shape == (2, 8, 2)
    np.testing.assert_allclose(raw.values[0, :6].numpy(), ramp)
    _, smooth = fit_transform("series", dataset, [0], length=6, normalise="none", smoothing=3)
    np.testing.assert_allclose(smooth.values[0, 1:5, 1].numpy(), [2, 4, 2, 4])  # zig-zag averaged out
    np.testing.assert_allclose(
        smooth.values[0, :, 0].numpy(), [0.5, 1, 2, 3, 4, 4.5]
    )  # ends use real steps only


def test_series_with_a_different_channel_count_names_the_file(tmp_path):
    dataset = series_dataset(tmp_path, [np.zeros((5, 3)), np.zeros((5, 3)), np.zeros((5, 2))])
    with pytest.raises(
        DataError,
        match=r"^series s2\.npy has 2 channel\(s\) but 3 were expected \(every series must have the same channels\); "
        r"fix or remove that file$",
    ):
        fit_transform("series", dataset, [0, 1])
