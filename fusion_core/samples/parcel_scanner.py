"""Parcels sorted by a label scanner that is nearly always right and a sensor array that needs learning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_tables

DESTINATIONS = ("north", "east", "south", "west")
SCANNER_COLUMNS = 8
SENSOR_COLUMNS = 16
SMUDGED = 0.15  # share of parcels whose label the scanner cannot read
SCANNER_NOISE = 0.5
SENSOR_BOOST = 2.0  # how much louder a destination's own sensor block is


@SAMPLES.register("parcel-scanner")
class ParcelScanner(SampleDataset):
    """Synthetic: a strong, easy modality that dominates training, and a weak one that needs learning.

    *scanner* (8 numbers) reads the destination from the parcel's label: each
    destination has its own well-separated mean, so a linear model reads it
    almost perfectly, except that 15% of labels are smudged and their scanner
    values are pure noise. *sensors* (16 numbers) come from four blocks of four
    vibration sensors; every value is zero-mean noise, and the block of the
    parcel's destination (its conveyor lane) is twice as loud. The destination
    is in the sensors' *spread*, not their mean, so no linear model reads it from
    the raw values: an encoder has to learn it, which takes longer than the
    scanner. That is what makes the scanner dominate.
    """

    title = "Parcel sorting: a scanner that dominates"
    summary = (
        "2000 synthetic parcels in 4 destinations: a label scanner that is easy and nearly always right "
        "(but 15% of labels are smudged) and a sensor array whose signal must be learned."
    )
    lesson = (
        "Modality imbalance. Trained together, the model leans on the easy scanner and the sensor "
        "encoder stays under-trained, although the sensors are what could rescue the smudged parcels. "
        "Probe each encoder, then retrain with gradient blending or OGM-GE (Train page, 'Modality "
        "imbalance remedies') and watch the sensors' own accuracy rise."
    )
    modalities = {"scanner": "tabular", "sensors": "tabular"}
    n_samples = 2000
    n_classes = 4
    version = 1

    def build(self, out_dir: Path, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = self.n_samples
        labels = rng.integers(0, len(DESTINATIONS), n)
        means = rng.normal(size=(len(DESTINATIONS), SCANNER_COLUMNS)) * 2.0
        scanner = means[labels] + SCANNER_NOISE * rng.normal(size=(n, SCANNER_COLUMNS))
        smudged = rng.random(n) < SMUDGED
        spread, centre = scanner.std(axis=0), scanner.mean(axis=0)
        scanner[smudged] = centre + spread * rng.normal(size=(int(smudged.sum()), SCANNER_COLUMNS))
        sensors = rng.normal(size=(n, SENSOR_COLUMNS))
        block = SENSOR_COLUMNS // len(DESTINATIONS)
        for k in range(len(DESTINATIONS)):
            rows = labels == k
            sensors[rows, k * block : (k + 1) * block] *= SENSOR_BOOST

        scanner_columns = [f"scan_{i}" for i in range(SCANNER_COLUMNS)]
        sensor_columns = [f"vibration_{i}" for i in range(SENSOR_COLUMNS)]
        manifest = pd.concat(
            [
                pd.DataFrame(
                    {"id": sample_ids("parcel", n), "destination": np.asarray(DESTINATIONS)[labels]}
                ),
                pd.DataFrame(np.round(scanner, 5), columns=scanner_columns),
                pd.DataFrame(np.round(sensors, 5), columns=sensor_columns),
            ],
            axis=1,
        )
        schema = {
            "id": "id",
            "target": "destination",
            "modalities": {
                "scanner": {"type": "tabular", "columns": scanner_columns},
                "sensors": {"type": "tabular", "columns": sensor_columns},
            },
        }
        write_tables(out_dir, manifest, schema)
