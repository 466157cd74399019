"""Breast tumour biopsies seen through two overlapping tables of cell-nucleus measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_tables


@SAMPLES.register("cancer-views")
class CancerViews(SampleDataset):
    """Real data: scikit-learn's ``load_breast_cancer`` (Wisconsin diagnostic breast cancer).

    Ten properties of the cell nuclei in a fine-needle biopsy image (radius,
    texture, perimeter, area, smoothness, compactness, concavity, concave
    points, symmetry, fractal dimension) are each summarised three ways. The
    *typical_cells* view holds the ten means; the *extreme_cells* view holds
    the ten standard errors and the ten "worst" (mean of the three largest)
    values. Both views describe the same nuclei, so they overlap heavily.
    """

    title = "Breast cancer: two views of the same cells"
    summary = (
        "569 real biopsies (212 malignant, 357 benign) from the Wisconsin diagnostic breast cancer data, "
        "split into two tables: typical (mean) nucleus measurements and extreme (error, worst) ones."
    )
    lesson = (
        "Fusion cannot add what a modality already knows. Both views are strong and mostly redundant, so "
        "the fused model gains little over the better single view; its value is robustness when one "
        "view is missing or noisy, not a higher score."
    )
    modalities = {"typical_cells": "tabular", "extreme_cells": "tabular"}
    n_samples = 569
    n_classes = 2
    version = 2

    def build(self, out_dir: Path, seed: int) -> None:
        """The rows keep their original order; ``seed`` is unused because nothing is random."""
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        columns = [name.replace(" ", "_") for name in data.feature_names]
        features = pd.DataFrame(np.round(data.data, 6), columns=columns)
        typical = [c for c in columns if c.startswith("mean_")]
        extreme = [c for c in columns if c not in typical]

        manifest = pd.DataFrame(
            {
                "id": sample_ids("biopsy", len(data.target)),
                "diagnosis": np.asarray(data.target_names)[data.target],
            }
        )
        manifest = pd.concat([manifest, features], axis=1)
        schema = {
            "id": "id",
            "target": "diagnosis",
            "modalities": {
                "typical_cells": {"type": "tabular", "columns": typical},
                "extreme_cells": {"type": "tabular", "columns": extreme},
            },
        }
        write_tables(out_dir, manifest, schema)
