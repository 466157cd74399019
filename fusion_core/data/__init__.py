"""Loading, validating, describing and splitting datasets.

A dataset arrives as a *bundle* (a folder or ``.zip`` with ``manifest.csv``,
optional ``schema.json`` and media files) or as several per-modality files
paired by id. ``load_dataset`` returns a validated ``Dataset``;
``build_report`` summarises it; ``make_splits`` / ``kfold_splits`` give the
stratified, seeded index splits every experiment uses.
"""

from fusion_core.data.bundle import load_bundle
from fusion_core.data.export import save_bundle
from fusion_core.data.paired import load_paired_files
from fusion_core.data.report import DataReport, ModalitySummary, build_report
from fusion_core.data.schema import infer_modalities, schema_dict, with_schema
from fusion_core.data.sources import load_dataset
from fusion_core.data.splits import kfold_splits, make_splits
from fusion_core.data.types import (
    FORMS,
    Dataset,
    InputSpec,
    ModalitySpec,
    PreparedData,
    PreparedModality,
    Splits,
)
from fusion_core.paths import cache_dir

__all__ = [
    "FORMS",
    "DataReport",
    "Dataset",
    "InputSpec",
    "ModalitySpec",
    "ModalitySummary",
    "PreparedData",
    "PreparedModality",
    "Splits",
    "build_report",
    "cache_dir",
    "infer_modalities",
    "kfold_splits",
    "load_bundle",
    "load_dataset",
    "load_paired_files",
    "make_splits",
    "save_bundle",
    "schema_dict",
    "with_schema",
]
