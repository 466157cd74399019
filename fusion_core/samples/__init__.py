"""Sample datasets that ship with Fusion Explorer, generated on first use.

Each dataset is one file in this package holding a builder registered in
``SAMPLES``; importing the package registers them all. ``list_samples()``
describes them without generating anything; ``sample_path(name)`` returns the
bundle folder, building it the first time.
"""

from fusion_core.samples import (  # noqa: F401  (importing registers the builders)
    activity_sensors,
    cancer_views,
    digits_audio,
    greenhouse_yield,
    parcel_scanner,
    shapes_captions,
    support_tickets,
)
from fusion_core.samples.base import (
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    SAMPLES,
    SampleDataset,
    SampleInfo,
    build_sample,
    list_samples,
    sample_builder,
    sample_path,
    samples_dir,
)

__all__ = [
    "DEFAULT_SAMPLE",
    "DEFAULT_SEED",
    "SAMPLES",
    "SampleDataset",
    "SampleInfo",
    "build_sample",
    "list_samples",
    "sample_builder",
    "sample_path",
    "samples_dir",
]
