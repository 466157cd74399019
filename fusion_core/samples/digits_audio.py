"""Handwritten digits you can see and hear: a half-hidden picture and a hummed tone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_png, write_tables, write_wav

# Digits that share a tone. Each pair is one the degraded pictures rarely confuse,
# so the picture settles what the tone leaves open, and the tone settles what
# the occlusion hides.
TONE_PAIRS = ((0, 3), (1, 5), (2, 4), (6, 9), (7, 8))
TONE_HZ = (330.0, 440.0, 587.0, 784.0, 1047.0)
RATE = 8000
CLIP_SECONDS = 0.5
IMAGE_SIZE = 16


@SAMPLES.register("digits-audio")
class DigitsAudio(SampleDataset):
    """Real handwritten digits (scikit-learn's ``load_digits``), each paired with a synthetic tone.

    The picture is the 8x8 scan upscaled to 16x16, with pixel noise and a
    random blank rectangle over about a third of it. The tone's pitch tells
    which of five pairs the digit belongs to (0/3, 1/5, 2/4, 6/9, 7/8), with
    jitter, random harmonics and background noise; it cannot tell the two
    digits of a pair apart.
    """

    title = "Digits: picture + tone"
    summary = (
        "1,797 real handwritten digits (0-9), each a partly covered 16x16 picture paired with a "
        "half-second tone whose pitch names a pair of digits."
    )
    lesson = (
        "Each modality alone is informative but incomplete: the picture is partly hidden, and the tone "
        "only narrows the digit down to two. Combined, each resolves what the other leaves open, so "
        "fusion clearly beats the best single modality."
    )
    modalities = {"image": "image", "audio": "audio"}
    n_samples = 1797
    n_classes = 10
    version = 2

    def build(self, out_dir: Path, seed: int) -> None:
        from sklearn.datasets import load_digits

        rng = np.random.default_rng(seed)
        digits = load_digits()
        labels = digits.target.astype(int)
        count = len(labels)
        ids = sample_ids("digit", count)

        pictures = degraded_pictures(digits.images, rng)
        clips = tone_clips(labels, rng)

        (out_dir / "images").mkdir()
        (out_dir / "audio").mkdir()
        image_paths = [f"images/{sample_id}.png" for sample_id in ids]
        audio_paths = [f"audio/{sample_id}.wav" for sample_id in ids]
        for picture, clip, image_path, audio_path in zip(
            pictures, clips, image_paths, audio_paths, strict=True
        ):
            write_png(out_dir / image_path, picture)
            write_wav(out_dir / audio_path, clip, RATE)

        manifest = pd.DataFrame({"id": ids, "label": labels, "image": image_paths, "audio": audio_paths})
        schema = {
            "id": "id",
            "target": "label",
            "modalities": {
                "image": {"type": "image", "column": "image"},
                "audio": {"type": "audio", "column": "audio"},
            },
        }
        write_tables(out_dir, manifest, schema)


def degraded_pictures(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Upscale 8x8 scans (0-16) to 16x16 uint8, blank a random rectangle, add pixel noise."""
    count = len(images)
    pictures = np.repeat(np.repeat(images.astype(np.float64), 2, axis=1), 2, axis=2) / 16.0
    heights = rng.integers(8, 11, size=count)
    widths = rng.integers(8, 11, size=count)
    tops = rng.integers(0, IMAGE_SIZE - heights + 1)
    lefts = rng.integers(0, IMAGE_SIZE - widths + 1)
    rows = np.arange(IMAGE_SIZE)
    covered_rows = (rows >= tops[:, None]) & (rows < (tops + heights)[:, None])
    covered_cols = (rows >= lefts[:, None]) & (rows < (lefts + widths)[:, None])
    pictures[covered_rows[:, :, None] & covered_cols[:, None, :]] = 0.0
    pictures += rng.normal(0.0, 0.18, size=pictures.shape)
    return np.round(np.clip(pictures, 0.0, 1.0) * 255.0).astype(np.uint8)


def tone_clips(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half-second clips: a hummed tone at the pitch of the digit's pair, with noise."""
    count = len(labels)
    pair_of_digit = np.empty(10, dtype=int)
    for pair, digits in enumerate(TONE_PAIRS):
        pair_of_digit[list(digits)] = pair
    pitch = np.asarray(TONE_HZ)[pair_of_digit[labels]] * rng.uniform(0.96, 1.04, size=count)

    steps = int(RATE * CLIP_SECONDS)
    t = np.arange(steps) / RATE
    onset = rng.uniform(0.0, 0.15, size=count)[:, None]
    length = rng.uniform(0.2, 0.33, size=count)[:, None]
    into = (t[None, :] - onset) / length  # 0..1 while the tone sounds
    envelope = np.where((into >= 0) & (into <= 1), np.sin(np.pi * np.clip(into, 0, 1)) ** 0.5, 0.0)

    phase = 2 * np.pi * pitch[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, size=(count, 1))
    overtone = rng.uniform(0.0, 0.6, size=(count, 1))
    tone = (np.sin(phase) + overtone * np.sin(2 * phase)) / (1.0 + overtone)
    loudness = rng.uniform(0.3, 0.8, size=(count, 1))
    noise_level = rng.uniform(0.05, 0.35, size=(count, 1))
    clips = loudness * envelope * tone + noise_level * rng.normal(0.0, 1.0, size=(count, steps))
    return np.clip(clips, -1.0, 1.0)
