"""Read one media file safely: images, audio clips and series.

These readers are shared by validation (is every referenced file readable?),
preprocessing, and the app's previews. Each raises ``DataError`` naming the
file and what to do about it, never a library's own exception.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from fusion_core.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
SERIES_EXTENSIONS = (".npy", ".csv")

MAX_IMAGE_PIXELS = 40_000_000
"""Larger images are refused: a small file that decodes to a huge bitmap is a
decompression bomb. 40 megapixels is far above anything a small model uses."""

MAX_SERIES_VALUES = 50_000_000

MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 100, 1_000_000
"""An audio header outside these rates (Hz) is broken or forged; real recordings use 8 kHz to 384 kHz."""

T = TypeVar("T")


def read_image(path: Path, mode: str = "RGB") -> Image.Image:
    """Decode an image, refusing empty files and images over MAX_IMAGE_PIXELS."""
    return _with_image(path, lambda img: img.convert(mode))


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read an audio clip as float32 samples in [-1, 1], shape (samples, channels), and its rate."""
    data = _read_nonempty(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".wav":
            from scipy.io import wavfile

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", wavfile.WavFileWarning)
                rate, samples = wavfile.read(io.BytesIO(data))
        else:
            import soundfile

            samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"cannot read audio {path.name}: {exc}; use a PCM WAV, FLAC or OGG file") from None
    if not MIN_SAMPLE_RATE <= int(rate) <= MAX_SAMPLE_RATE:
        raise DataError(
            f"audio {path.name} says its sample rate is {int(rate):,} Hz, which is impossible (expected "
            f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz); export the recording again as a PCM WAV"
        )
    samples = _to_float(np.asarray(samples))
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.shape[0] == 0:
        raise DataError(f"audio {path.name} has no samples; remove it or replace it with a real recording")
    if not np.isfinite(samples).all():
        raise DataError(
            f"audio {path.name} holds NaN or infinite samples, which are refused; export the recording again"
        )
    return samples, int(rate)


def read_series(path: Path) -> np.ndarray:
    """Read a series as float32 (T, C): .npy without pickle, or .csv with one column per channel.

    Steps that are NaN in every channel are padding and dropped; any other NaN or infinity is refused.
    """
    data = _read_nonempty(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            if "pickle" in str(exc).lower():
                raise DataError(
                    f"series {path.name} is an object array that needs pickle, which is refused for "
                    "safety; save it with a numeric dtype (np.save(path, array.astype('float32')))"
                ) from None
            raise DataError(f"cannot read series {path.name}: {exc}") from None
        except Exception as exc:
            raise DataError(f"cannot read series {path.name}: {exc}; save it with np.save") from None
    elif suffix == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(data))
            array = frame.apply(pd.to_numeric, errors="raise").to_numpy()
        except Exception:
            raise DataError(
                f"cannot read series {path.name}: every column must be numeric (one column per channel)"
            ) from None
    else:
        raise DataError(f"series {path.name} has extension {suffix!r}; use .npy or .csv")
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"series {path.name} holds {array.dtype} values; it must be numeric")
    if array.size > MAX_SERIES_VALUES:
        raise DataError(
            f"series {path.name} has {array.size:,} values, over the limit of {MAX_SERIES_VALUES:,}"
        )
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim == 2 and array.size:
        padding = np.isnan(array).all(axis=1)  # a step with no value in any channel pads a shorter series
        if padding.any():
            array = array[~padding]
        if not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            raise DataError(
                f"series {path.name} holds {bad:,} NaN or infinite values, which are refused (not imputed; a "
                "step that is NaN in every channel is padding and skipped); replace them with real numbers"
            )
    if array.ndim != 2 or array.shape[0] == 0:
        raise DataError(
            f"series {path.name} has shape {array.shape}; expected (time steps, channels) or (time steps,)"
        )
    return array.astype(np.float32)


def _read_nonempty(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file {path.name} is missing; check the path in the manifest") from None
    except OSError as exc:
        raise DataError(f"cannot open {path.name}: {exc.strerror}") from None
    if not data:
        raise DataError(f"file {path.name} is empty; remove it or replace it")
    return data


def _to_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.uint8:
        return ((samples.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        return (samples.astype(np.float32) / scale).astype(np.float32)
    return samples.astype(np.float32)


def check_image(path: Path) -> tuple[int, int]:
    """Check that an image file opens and is within MAX_IMAGE_PIXELS without decoding its pixels.

    Returns ``(width, height)``. Validation calls this for every referenced image:
    reading the header and verifying the file is much cheaper than decoding it.
    """

    def verify(img: Image.Image) -> tuple[int, int]:
        size = img.size
        img.verify()
        return size

    return _with_image(path, verify)


def _with_image(path: Path, use: Callable[[Image.Image], T]) -> T:
    """Open ``path`` as an image, check its pixel count from the header, and apply ``use`` to it.

    Every way Pillow can fail on a corrupt, unknown or oversized file becomes a DataError
    naming the file.
    """
    data = _read_nonempty(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise DataError(
                        f"image {path.name} is {width}x{height} pixels, over the limit of "
                        f"{MAX_IMAGE_PIXELS:,}; resize it before uploading"
                    )
                return use(img)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            f"image {path.name} decodes to too many pixels (over {MAX_IMAGE_PIXELS:,}); "
            "resize it before uploading"
        ) from None
    except Image.UnidentifiedImageError:  # its message names a memory address, not the file
        raise DataError(
            f"cannot read image {path.name}: not a known image format; check that it is a valid image file"
        ) from None
    except Exception as exc:  # Pillow raises many kinds for corrupt data
        raise DataError(
            f"cannot read image {path.name}: {exc}; check that it is a valid image file"
        ) from None
