"""Shapes described three ways: a skewed photo, a hasty caption and caliper measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_png, write_tables

# Every class is an outline family (round, four-sided, three-sided) in one of two
# proportions (even or elongated).
CLASSES = ("circle", "ellipse", "square", "rectangle", "triangle", "wedge")
FAMILY = {"circle": 0, "ellipse": 0, "square": 1, "rectangle": 1, "triangle": 2, "wedge": 2}
ELONGATED = {
    "circle": False,
    "ellipse": True,
    "square": False,
    "rectangle": True,
    "triangle": False,
    "wedge": True,
}
TRUE_ASPECT = 2.2  # length / width of the elongated shapes

COLOURS = {
    "red": (205, 45, 45),
    "green": (40, 160, 70),
    "blue": (45, 85, 200),
    "yellow": (220, 190, 30),
    "purple": (140, 60, 170),
    "orange": (230, 120, 30),
}
FAMILY_WORDS = (
    ("round", "curved", "smooth"),
    ("boxy", "four-cornered", "blocky"),
    ("pointy", "three-cornered", "sharp"),
)
PROPORTION_WORDS = (("even", "compact", "stubby"), ("long", "stretched", "narrow"))
THINGS = ("shape", "thing", "object", "piece", "token")
PLACES = (
    "near the top",
    "near the bottom",
    "on the left",
    "on the right",
    "in the middle",
    "off to one side",
)
OPENINGS = ("", "photo of", "there is", "looks like", "i see", "probably")

SIZE = 32
SUPERSAMPLE = 4
PER_CLASS = 250


@SAMPLES.register("shapes-captions")
class ShapesCaptions(SampleDataset):
    """Synthetic shapes: six classes = three outline families x two proportions.

    *photo* (32x32 RGB): a filled shape in a random colour, size, rotation and
    position over a noisy background. The camera stretches every photo by a
    random factor, so the outline family is clear but the true proportions are
    not.
    *caption* (text): a short hasty description that names the family about
    half the time and the proportions about half the time, each word wrong now
    and then.
    *measurements* (tabular): caliper readings: a noisy length-to-width ratio,
    area and perimeter, plus the colour (a column that carries no class
    information).
    """

    title = "Shapes: photo + caption + measurements"
    summary = (
        "1,500 synthetic shapes in six classes (circle, ellipse, square, rectangle, triangle, wedge), "
        "each with a stretched 32x32 photo, a hasty caption and a table of noisy measurements."
    )
    lesson = (
        "The class is split across modalities: the photo shows the outline but not the true "
        "proportions, the measurements give the proportions but only hint at the outline, and the "
        "caption gives a bit of each. Only a fused model has both halves of the answer."
    )
    modalities = {"photo": "image", "caption": "text", "measurements": "tabular"}
    n_samples = PER_CLASS * len(CLASSES)
    n_classes = len(CLASSES)
    version = 2

    def build(self, out_dir: Path, seed: int) -> None:
        rng = np.random.default_rng(seed)
        labels = rng.permutation(np.repeat(np.arange(len(CLASSES)), PER_CLASS))
        count = len(labels)
        ids = sample_ids("shape", count)
        classes = [CLASSES[i] for i in labels]
        colours = rng.choice(list(COLOURS), size=count)

        (out_dir / "photos").mkdir()
        photo_paths = [f"photos/{sample_id}.png" for sample_id in ids]
        for shape, colour, path in zip(classes, colours, photo_paths, strict=True):
            write_png(out_dir / path, draw_photo(shape, COLOURS[colour], rng))

        captions = [write_caption(shape, colour, rng) for shape, colour in zip(classes, colours, strict=True)]
        measurements = measure(classes, rng)

        manifest = pd.DataFrame(
            {
                "id": ids,
                "label": classes,
                "photo": photo_paths,
                "caption": captions,
                **measurements,
                "colour": colours,
            }
        )
        schema = {
            "id": "id",
            "target": "label",
            "modalities": {
                "photo": {"type": "image", "column": "photo"},
                "caption": {"type": "text", "column": "caption"},
                "measurements": {"type": "tabular", "columns": [*measurements, "colour"]},
            },
        }
        write_tables(out_dir, manifest, schema)


def outline(shape: str) -> np.ndarray:
    """Corner points of the shape around the origin, longest side along x, about unit size."""
    aspect = TRUE_ASPECT if ELONGATED[shape] else 1.0
    if FAMILY[shape] == 0:
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif FAMILY[shape] == 1:
        points = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    else:
        points = np.array([[-1.0, -0.87], [1.0, 0.0], [-1.0, 0.87]])
    return points * np.array([np.sqrt(aspect), 1.0 / np.sqrt(aspect)])


def draw_photo(shape: str, colour: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A 32x32 RGB photo: the outline stretched by the camera, turned a quarter turn or not, over noise."""
    points = outline(shape)
    stretch = np.exp(rng.uniform(-0.7, 0.7))  # the camera's random distortion
    points = points * np.array([np.sqrt(stretch), 1.0 / np.sqrt(stretch)])
    quarter_turns = rng.integers(0, 4)
    for _ in range(quarter_turns):
        points = points @ np.array([[0.0, -1.0], [1.0, 0.0]])
    points = points / np.abs(points).max()
    radius = rng.uniform(9.0, 13.0)
    centre = SIZE / 2 + rng.uniform(-2.0, 2.0, size=2)
    canvas = SIZE * SUPERSAMPLE
    corners = (points * radius + centre) * SUPERSAMPLE

    mask = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in corners.tolist()], fill=255)
    coverage = (
        np.asarray(mask, dtype=np.float64).reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))
    )
    coverage = coverage[:, :, None] / 255.0
    background = rng.uniform(170.0, 250.0, size=3)
    pixels = (1.0 - coverage) * background + coverage * np.asarray(colour, dtype=np.float64)
    pixels += rng.normal(0.0, 12.0, size=pixels.shape)
    return np.round(np.clip(pixels, 0, 255)).astype(np.uint8)


def write_caption(shape: str, colour: str, rng: np.random.Generator) -> str:
    """A hasty caption: sometimes names the family and the proportions, sometimes wrongly."""
    words = []
    if rng.random() < 0.6:
        words.append(colour)
    if rng.random() < 0.5:
        proportion = int(ELONGATED[shape]) if rng.random() > 0.15 else int(not ELONGATED[shape])
        words.append(rng.choice(PROPORTION_WORDS[proportion]))
    if rng.random() < 0.5:
        family = FAMILY[shape] if rng.random() > 0.15 else (FAMILY[shape] + rng.integers(1, 3)) % 3
        words.append(rng.choice(FAMILY_WORDS[family]))
    words.append(rng.choice(THINGS))
    article = "an" if words[0][0] in "aeiou" else "a"
    caption = " ".join(part for part in (rng.choice(OPENINGS), article, *words) if part)
    if rng.random() < 0.6:
        caption += f" {rng.choice(PLACES)}"
    return caption


def measure(classes: list[str], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Caliper readings with measurement noise: length/width ratio, area and perimeter."""
    count = len(classes)
    aspect = np.array([TRUE_ASPECT if ELONGATED[shape] else 1.0 for shape in classes])
    family = np.array([FAMILY[shape] for shape in classes])
    width = rng.uniform(1.0, 3.0, size=count)  # cm, the short side
    length = width * aspect
    fill = np.array([np.pi / 4, 1.0, 0.5])[family]  # share of the bounding box the outline covers
    area = fill * width * length
    # Perimeter of the outline inside a width x length box (the triangle's base is the width).
    perimeter = np.select(
        [family == 0, family == 1],
        [np.pi * np.sqrt((width**2 + length**2) / 2), 2 * (width + length)],
        default=width + 2 * np.hypot(length, width / 2),
    )
    return {
        "length_ratio": np.round(aspect * np.exp(rng.normal(0.0, 0.25, size=count)), 3),
        "area_cm2": np.round(area * np.exp(rng.normal(0.0, 0.1, size=count)), 2),
        "perimeter_cm": np.round(perimeter * np.exp(rng.normal(0.0, 0.1, size=count)), 2),
    }
