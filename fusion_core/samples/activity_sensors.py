"""What is this person doing? A phone's accelerometer trace plus who they are and where the phone sits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_npy, write_tables

ACTIVITIES = ("sit", "stand", "walk", "stairs", "jog", "cycle")
PLACEMENTS = ("wrist", "pocket", "bag")
PER_CLASS = 300
STEPS = 128
RATE_HZ = 25.0

SEATED = {"sit": True, "stand": False, "walk": False, "stairs": False, "jog": False, "cycle": True}
# Which sensor axis gravity falls on, by placement, when upright and when seated. Every axis is
# "upright" for one placement and "seated" for another, so orientation alone cannot tell sitting
# from standing: the placement column has to.
GRAVITY_AXIS = {"wrist": (0, 2), "pocket": (1, 0), "bag": (2, 1)}  # (upright, seated)
# How strongly the phone picks up body movement at each placement.
PLACEMENT_GAIN = {"wrist": 1.5, "pocket": 1.0, "bag": 0.45}

# Steps per second at a height of 172 cm (taller people take slower steps) and bounce in g.
CADENCE_HZ = {"walk": 1.8, "stairs": 1.45, "jog": 2.4, "cycle": 1.2}
BOUNCE_G = {"walk": 0.35, "stairs": 0.5, "jog": 0.85, "cycle": 0.25}
# Heart-rate rise above resting, in beats per minute, for an average subject.
EFFORT_BPM = {"sit": 2.0, "stand": 7.0, "walk": 25.0, "stairs": 45.0, "jog": 65.0, "cycle": 42.0}


@SAMPLES.register("activity-sensors")
class ActivitySensors(SampleDataset):
    """Synthetic accelerometer recordings of six activities, with a table about each subject.

    *motion* (series, 128 steps at 25 Hz x 3 axes, in g): gravity along one axis
    plus the body's rhythm. Where gravity falls depends on where the phone is
    carried, how hard the trace bounces depends on the placement too, and how
    fast it bounces depends on the subject's height.
    *subject* (tabular): age, height, weight, resting heart rate, heart rate
    during the recording and the phone's placement (wrist, pocket, bag).
    """

    title = "Activity: motion sensor + subject"
    summary = (
        "1,800 synthetic 5-second accelerometer traces (3 axes) of six activities (sit, stand, walk, "
        "stairs, jog, cycle), each with a table row about the subject and where the phone was carried."
    )
    lesson = (
        "The same trace means different things for different people: a tall person's jog can bounce like "
        "a short person's walk, and a phone in a pocket while sitting is tilted like one on a wrist "
        "while standing. The subject table (height, placement, heart rate) disambiguates the series, "
        "so fusion that lets one modality reinterpret the other wins."
    )
    modalities = {"motion": "series", "subject": "tabular"}
    n_samples = PER_CLASS * len(ACTIVITIES)
    n_classes = len(ACTIVITIES)
    version = 2

    def build(self, out_dir: Path, seed: int) -> None:
        rng = np.random.default_rng(seed)
        labels = rng.permutation(np.repeat(np.arange(len(ACTIVITIES)), PER_CLASS))
        activities = np.asarray(ACTIVITIES)[labels]
        ids = sample_ids("rec", len(labels))

        subject = subjects(activities, rng)
        traces = motion_traces(activities, subject["placement"], subject["height_cm"], rng)

        (out_dir / "series").mkdir()
        series_paths = [f"series/{sample_id}.npy" for sample_id in ids]
        for trace, path in zip(traces, series_paths, strict=True):
            write_npy(out_dir / path, trace)

        manifest = pd.DataFrame({"id": ids, "label": activities, "motion": series_paths, **subject})
        schema = {
            "id": "id",
            "target": "label",
            "modalities": {
                "motion": {"type": "series", "column": "motion"},
                "subject": {"type": "tabular", "columns": list(subject)},
            },
        }
        write_tables(out_dir, manifest, schema)


def subjects(activities: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One subject row per recording; the heart rate rises with effort, more for the less fit."""
    count = len(activities)
    age = rng.integers(18, 76, size=count)
    height = rng.uniform(150.0, 200.0, size=count)
    weight = (height / 100.0) ** 2 * rng.uniform(19.0, 32.0, size=count)
    resting = rng.uniform(50.0, 85.0, size=count)
    unfitness = 1.0 + (resting - 65.0) / 60.0 + (age - 45.0) / 150.0
    effort = np.array([EFFORT_BPM[a] for a in activities])
    heart_rate = (
        resting + effort * unfitness * rng.uniform(0.8, 1.2, size=count) + rng.normal(0.0, 5.0, count)
    )
    return {
        "age": age,
        "height_cm": np.round(height, 1),
        "weight_kg": np.round(weight, 1),
        "resting_hr": np.round(resting).astype(int),
        "heart_rate": np.round(heart_rate).astype(int),
        "placement": rng.choice(PLACEMENTS, size=count),
    }


def motion_traces(
    activities: np.ndarray, placements: np.ndarray, heights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Float32 traces (N, STEPS, 3) in g: gravity on a placement-dependent axis plus rhythmic motion."""
    count = len(activities)
    t = np.arange(STEPS) / RATE_HZ
    seated = np.array([SEATED[a] for a in activities])
    axis = np.array([GRAVITY_AXIS[p][int(s)] for p, s in zip(placements, seated, strict=True)])

    gravity = np.zeros((count, 3))
    gravity[np.arange(count), axis] = 1.0
    gravity += rng.normal(0.0, 0.2, size=(count, 3))  # the phone is never perfectly aligned
    gravity /= np.linalg.norm(gravity, axis=1, keepdims=True)

    cadence = np.array([CADENCE_HZ.get(a, 0.0) for a in activities])
    cadence *= (172.0 / heights) ** 1.5 * rng.uniform(0.92, 1.08, size=count)
    gain = np.array([PLACEMENT_GAIN[p] for p in placements])
    bounce = np.array([BOUNCE_G.get(a, 0.0) for a in activities]) * gain * rng.uniform(0.8, 1.2, size=count)
    bounce[activities == "cycle"] *= np.where(placements[activities == "cycle"] == "pocket", 2.0, 0.5)
    impact = np.where(activities == "cycle", 0.0, rng.uniform(0.3, 0.6, size=count))  # feet hitting ground

    phase = 2 * np.pi * cadence[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, size=(count, 1))
    rhythm = (np.sin(phase) + impact[:, None] * np.sin(2 * phase)) * bounce[:, None]
    sway = 0.4 * bounce[:, None] * np.sin(phase / 2 + rng.uniform(0, 2 * np.pi, size=(count, 1)))
    sway_axis = (axis + rng.integers(1, 3, size=count)) % 3

    traces = gravity[:, None, :] * (1.0 + rhythm[:, :, None])
    traces[np.arange(count), :, sway_axis] += sway
    traces += rng.normal(0.0, 0.05, size=traces.shape)  # sensor noise
    return traces.astype(np.float32)
