"""Greenhouse harvests: a number to predict that needs two modalities multiplied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_tables


@SAMPLES.register("greenhouse-yield")
class GreenhouseYield(SampleDataset):
    """Synthetic, seeded: the harvest of a greenhouse bed is the product of its soil's nitrogen and
    the light it received, plus a little noise.

    The *soil* table holds nitrogen among three other soil readings; the *climate* table holds light
    among three other climate readings. The other readings carry no signal. Nitrogen and light are
    centred (negative means below the greenhouse's usual level), so either one alone says nothing
    about the harvest: a rich soil helps in bright beds and hurts in dark ones.
    """

    title = "Greenhouse yield: a number that needs both modalities multiplied"
    summary = (
        "1500 synthetic greenhouse beds: soil readings and climate readings; predict the harvest "
        "(a number, in kg), which grows with soil nitrogen times light."
    )
    lesson = (
        "Synergy in regression: neither modality alone predicts the harvest (R² near zero), and neither "
        "does late fusion, which only averages what each modality predicts on its own. Methods that let "
        "the modalities interact (concat with its hidden layer, tensor fusion's products) explain over "
        "90 % of the variance."
    )
    modalities = {"soil": "tabular", "climate": "tabular"}
    n_samples = 1500
    n_classes = 0  # a regression target: a number, no classes
    version = 1

    def build(self, out_dir: Path, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = self.n_samples
        nitrogen = rng.uniform(-1.5, 1.5, n)
        light = rng.uniform(-1.5, 1.5, n)
        harvest = 20.0 + 8.0 * nitrogen * light + rng.normal(0.0, 0.5, n)
        manifest = pd.DataFrame(
            {
                "id": sample_ids("bed", n),
                "harvest_kg": np.round(harvest, 3),
                "nitrogen": np.round(nitrogen, 4),
                "ph": np.round(rng.normal(6.5, 0.4, n), 3),
                "moisture": np.round(rng.uniform(20, 40, n), 2),
                "potassium": np.round(rng.normal(0, 1, n), 4),
                "light": np.round(light, 4),
                "temperature": np.round(rng.normal(22, 2, n), 2),
                "humidity": np.round(rng.uniform(50, 80, n), 2),
                "co2": np.round(rng.normal(600, 50, n), 1),
            }
        )
        schema = {
            "id": "id",
            "target": "harvest_kg",
            "task": "regression",
            "modalities": {
                "soil": {"type": "tabular", "columns": ["nitrogen", "ph", "moisture", "potassium"]},
                "climate": {"type": "tabular", "columns": ["light", "temperature", "humidity", "co2"]},
            },
        }
        write_tables(out_dir, manifest, schema)
