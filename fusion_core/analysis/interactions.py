"""The interaction lab: synthetic two-modality data whose label depends on the modalities in a chosen way.

Whether fusion helps, and which fusion, depends on *how* the label depends on
the modalities. Liang et al. (2023, "Quantifying & Modeling Multimodal
Interactions: An Information Decomposition Framework", NeurIPS) split what two
modalities A and B tell about a label into four parts:

- **redundancy**: information both carry (either one alone is enough);
- **uniqueness in A** / **uniqueness in B**: information only one of them carries;
- **synergy**: information that appears only when both are seen together, as in
  XOR: A's sign alone says nothing, B's sign alone says nothing, whether they
  agree says everything.

``make_interaction_data`` draws data with a chosen mix of the four. Each
sample has five hidden signed amounts (the sign a fair coin, the size between
0.5 and 1.5): ``r`` copied into both modalities, ``u_a`` only in A, ``u_b``
only in B, and ``s_a`` in A with ``s_b`` in B. The label is the sign of

    redundancy·r + uniqueness_a·u_a + uniqueness_b·u_b + synergy·(s_a·s_b)

so under pure synergy it is "do the signs of s_a and s_b agree?" (XOR) and each
modality alone is at chance. Each modality is a vector of its three amounts
plus Gaussian noise, followed by distractor dimensions of pure noise.

``run_lab`` trains a few methods on such data in seconds and reads the result
in one line.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from fusion_core.data.types import PreparedData, PreparedModality, Splits
from fusion_core.errors import ConfigError

COMPONENTS = ("redundancy", "uniqueness_a", "uniqueness_b", "synergy")
"""The four interaction weights, in the order the lab shows them."""

DEFAULT_METHODS = ("only:A", "only:B", "early", "concat", "late", "tensor")
"""The lab's default line-up: both single-modality baselines, then one method per family."""

SIGNAL_DIMS = 3
"""Hidden amounts per modality: A holds (r, u_a, s_a), B holds (r, u_b, s_b)."""

DISTRACTOR_DIMS = 5
"""Pure-noise dimensions appended to each modality, so the model must find the signal."""

CHANCE_F1 = 0.5
"""Macro-F1 of a coin toss on the lab's balanced binary label."""


@dataclass(frozen=True)
class InteractionWeights:
    """How much the label depends on each kind of interaction (non-negative; only ratios matter)."""

    redundancy: float = 0.0
    uniqueness_a: float = 0.0
    uniqueness_b: float = 0.0
    synergy: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    """A classic lesson of the lab: the weights, what they mean, and what a learner should see."""

    name: str
    title: str
    description: str
    expected: str
    weights: InteractionWeights
    noise: float = 0.3
    n_samples: int = 1500


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="redundancy",
            title="Redundancy",
            description="Both modalities carry the same information about the label.",
            expected=(
                "every method, the single-modality baselines included, scores about the same: "
                "fusion adds no accuracy, but the model keeps working when one modality is missing"
            ),
            weights=InteractionWeights(redundancy=1.0),
        ),
        Preset(
            name="uniqueness-A",
            title="Uniqueness in A",
            description="Only modality A carries information; B is noise.",
            expected="only:A matches the fusion methods and only:B sits at chance: B adds nothing",
            weights=InteractionWeights(uniqueness_a=1.0),
        ),
        Preset(
            name="uniqueness-B",
            title="Uniqueness in B",
            description="Only modality B carries information; A is noise.",
            expected="only:B matches the fusion methods and only:A sits at chance: A adds nothing",
            weights=InteractionWeights(uniqueness_b=1.0),
        ),
        Preset(
            name="complementary",
            title="Complementary",
            description="A and B each carry a different half of the information, and the halves add up.",
            expected=(
                "each modality alone is right about three times in four; every fusion method, "
                "late fusion included, combines the halves and does better"
            ),
            weights=InteractionWeights(uniqueness_a=1.0, uniqueness_b=1.0),
        ),
        Preset(
            name="synergy",
            title="Synergy (XOR)",
            description="The label is whether A's and B's hidden signs agree: neither modality alone tells.",
            expected=(
                "both single-modality baselines and late fusion sit at chance; methods that mix features "
                "before deciding (early, concat, tensor) solve it"
            ),
            weights=InteractionWeights(synergy=1.0),
        ),
        Preset(
            name="mixed",
            title="A bit of everything",
            description="Redundancy, uniqueness in each modality and synergy, in equal measure.",
            expected=(
                "each modality alone gets part of the way; late fusion adds the unique parts but misses "
                "the synergy, so feature-level fusion comes out on top"
            ),
            weights=InteractionWeights(redundancy=1.0, uniqueness_a=1.0, uniqueness_b=1.0, synergy=1.0),
        ),
    )
}


def preset(name: str) -> Preset:
    """The preset called ``name``; ``ConfigError`` listing the valid names otherwise."""
    if name not in PRESETS:
        raise ConfigError(f"unknown interaction preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def make_interaction_data(
    *,
    redundancy: float = 0.0,
    uniqueness_a: float = 0.0,
    uniqueness_b: float = 0.0,
    synergy: float = 0.0,
    noise: float = 0.3,
    n_samples: int = 1500,
    seed: int = 0,
) -> PreparedData:
    """Two vector modalities "A" and "B" and a binary label built from the chosen interactions.

    The weights are non-negative and at least one must be positive; only their
    ratios matter. ``noise`` is the standard deviation of the Gaussian noise on
    every signal dimension (the hidden amounts have sizes between 0.5 and 1.5).
    The rows are split 60 / 20 / 20 into training, validation and test, each
    split holding both classes in the same proportion.
    """
    weights = InteractionWeights(redundancy, uniqueness_a, uniqueness_b, synergy)
    _check_arguments(weights, noise, n_samples)
    rng = np.random.default_rng(seed)

    hidden = rng.choice([-1.0, 1.0], size=(n_samples, 5)) * rng.uniform(0.5, 1.5, size=(n_samples, 5))
    r, u_a, u_b, s_a, s_b = hidden.T
    score = (
        weights.redundancy * r
        + weights.uniqueness_a * u_a
        + weights.uniqueness_b * u_b
        + weights.synergy * (s_a * s_b)
    )
    labels = (score > 0).astype(np.int64)

    def modality(signal: np.ndarray) -> np.ndarray:
        noisy = signal + noise * rng.standard_normal(signal.shape)
        distractors = rng.standard_normal((n_samples, DISTRACTOR_DIMS))
        return np.concatenate([noisy, distractors], axis=1).astype(np.float32)

    values_a = modality(np.stack([r, u_a, s_a], axis=1))
    values_b = modality(np.stack([r, u_b, s_b], axis=1))
    feature_names_a = ["r", "u_a", "s_a"] + [f"distractor_{i}" for i in range(DISTRACTOR_DIMS)]
    feature_names_b = ["r", "u_b", "s_b"] + [f"distractor_{i}" for i in range(DISTRACTOR_DIMS)]
    present = torch.ones(n_samples, dtype=torch.bool)

    settings = {**weights.as_dict(), "noise": noise, "n_samples": n_samples, "seed": seed}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return PreparedData(
        dataset_name="interaction-lab",
        modalities={
            "A": PreparedModality(
                "A",
                "tabular",
                "vector",
                torch.from_numpy(values_a),
                present.clone(),
                feature_names=feature_names_a,
            ),
            "B": PreparedModality(
                "B",
                "tabular",
                "vector",
                torch.from_numpy(values_b),
                present.clone(),
                feature_names=feature_names_b,
            ),
        },
        labels=torch.from_numpy(labels),
        class_names=["0", "1"],
        ids=[f"lab-{i:05d}" for i in range(n_samples)],
        splits=_stratified_splits(labels, rng),
        state={"interaction": settings},
        preprocessing={},
        content_hash=digest,
    )


def _check_arguments(weights: InteractionWeights, noise: float, n_samples: int) -> None:
    for name, value in weights.as_dict().items():
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"{name.replace('_', ' ')} must be a number of at least 0, got {value}")
    if sum(weights.as_dict().values()) <= 0:
        raise ConfigError("all interaction weights are 0; give at least one of them a positive weight")
    if not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise must be a number of at least 0, got {noise}")
    if int(n_samples) != n_samples or n_samples < 100:
        raise ConfigError(f"the lab needs at least 100 samples, got {n_samples}")


def _stratified_splits(labels: np.ndarray, rng: np.random.Generator) -> Splits:
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_val = n_test = round(0.2 * len(rows))
        parts["test"].append(rows[:n_test])
        parts["val"].append(rows[n_test : n_test + n_val])
        parts["train"].append(rows[n_test + n_val :])
    return Splits(
        **{name: torch.from_numpy(np.sort(np.concatenate(chunks))) for name, chunks in parts.items()}
    )


# --- training the line-up --------------------------------------------------------------------------


@dataclass
class LabResult:
    """What one lab run found: macro-F1 per method on the test split, and the reading."""

    weights: dict[str, float]
    noise: float
    n_samples: int
    preset: str | None
    macro_f1: dict[str, float]
    accuracy: dict[str, float]
    seconds: dict[str, float]
    reading: str
    expected: str | None = None
    chance: float = CHANCE_F1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_lab(
    setting: str | Preset | InteractionWeights | Mapping[str, float],
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    epochs: int = 20,
    seed: int = 0,
    noise: float | None = None,
    n_samples: int | None = None,
    on_method: Callable[[int, int, str], None] | None = None,
) -> LabResult:
    """Train each method on interaction data and compare their macro-F1 on the test split.

    ``setting`` is a preset name, a ``Preset``, ``InteractionWeights`` or a dict
    of the four weights. ``noise`` and ``n_samples`` override the preset's.
    ``on_method(done, total, method)`` is called before each method trains.
    """
    chosen = _resolve_setting(setting)
    from sklearn.metrics import accuracy_score, f1_score

    from fusion_core.config import ModelConfig, TrainConfig
    from fusion_core.model import build_model
    from fusion_core.training import fit, predict

    noise = chosen.noise if noise is None else noise
    n_samples = chosen.n_samples if n_samples is None else n_samples
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise ConfigError("choose at least one method to train in the lab")
    data = make_interaction_data(**chosen.weights.as_dict(), noise=noise, n_samples=n_samples, seed=seed)
    test_rows = data.splits.test
    y_true = data.labels[test_rows].numpy()

    macro_f1: dict[str, float] = {}
    accuracy: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for done, method in enumerate(methods):
        if on_method is not None:
            on_method(done, len(methods), method)
        started = time.perf_counter()
        model = build_model(
            data.input_specs(), data.num_classes, ModelConfig(fusion=method, embedding_dim=32)
        )
        train = TrainConfig(epochs=epochs, batch_size=128, lr=1e-2, seed=seed, device="cpu", patience=10)
        fit(model, data, train)
        _, y_pred = predict(model, data, test_rows, device="cpu")
        macro_f1[method] = float(f1_score(y_true, y_pred, average="macro"))
        accuracy[method] = float(accuracy_score(y_true, y_pred))
        seconds[method] = time.perf_counter() - started
    return LabResult(
        weights=chosen.weights.as_dict(),
        noise=float(noise),
        n_samples=int(n_samples),
        preset=chosen.name or None,
        macro_f1=macro_f1,
        accuracy=accuracy,
        seconds=seconds,
        reading=read_results(macro_f1),
        expected=chosen.expected or None,
    )


def _resolve_setting(setting: str | Preset | InteractionWeights | Mapping[str, float]) -> Preset:
    if isinstance(setting, Preset):
        return setting
    if isinstance(setting, str):
        return preset(setting)
    if isinstance(setting, InteractionWeights):
        return Preset(name="", title="Custom", description="", expected="", weights=setting)
    if isinstance(setting, Mapping):
        unknown = sorted(set(setting) - set(COMPONENTS))
        if unknown:
            raise ConfigError(
                f"unknown interaction weight {unknown[0]!r}; choose among: {', '.join(COMPONENTS)}"
            )
        weights = InteractionWeights(**{k: float(v) for k, v in setting.items()})
        return Preset(name="", title="Custom", description="", expected="", weights=weights)
    raise ConfigError("give the lab a preset name or a dict of the four interaction weights")


# --- reading the results ---------------------------------------------------------------------------

NEAR_CHANCE = 0.6
"""Macro-F1 at or below this counts as "near chance" on the lab's binary label."""

CLEAR_GAP = 0.07
"""A difference in macro-F1 larger than this is a clear difference; within ``SAME`` is a tie."""

SAME = 0.05


def read_results(macro_f1: Mapping[str, float]) -> str:
    """One plain sentence that says what the scores show about the data and the methods."""
    if not macro_f1:
        return "no method was trained"
    a, b = macro_f1.get("only:A"), macro_f1.get("only:B")
    fused = {m: f for m, f in macro_f1.items() if not m.startswith("only:")}
    if not fused:
        return _read_unimodal_only(a, b)
    best_method = max(fused, key=fused.__getitem__)
    best = fused[best_method]
    if best <= NEAR_CHANCE:
        return (
            f"no method beat chance (best {best_method} at {best:.2f}): the label is drowned in noise, "
            "or the models need more samples or epochs"
        )
    if a is None or b is None:
        return f"{best_method} did best at {best:.2f}; train both single-modality baselines to see what fusion adds"

    late = fused.get("late")
    best_single = max(a, b)
    if a <= NEAR_CHANCE and b <= NEAR_CHANCE and best - best_single > CLEAR_GAP:
        if late is not None and late <= NEAR_CHANCE:
            return (
                f"synergy: each modality alone is at chance (A {a:.2f}, B {b:.2f}) and so is late fusion "
                f"({late:.2f}), which cannot represent synergy because each single-modality classifier sees "
                f"nothing; {best_method} mixes the features before deciding and reaches {best:.2f}"
            )
        return (
            f"synergy: each modality alone is at chance (A {a:.2f}, B {b:.2f}), yet fused they reach "
            f"{best:.2f} ({best_method}): only the combination carries the label"
        )
    for strong, weak, f_strong, f_weak in (("A", "B", a, b), ("B", "A", b, a)):
        if f_weak <= NEAR_CHANCE and best - f_strong <= SAME:
            return (
                f"uniqueness in {strong}: {strong} alone ({f_strong:.2f}) is as good as the best fusion "
                f"({best_method}, {best:.2f}) and {weak} alone is at chance ({f_weak:.2f}): "
                f"{weak} adds nothing here"
            )
    if abs(a - b) <= SAME and best - best_single <= SAME:
        return (
            f"redundancy: either modality alone (A {a:.2f}, B {b:.2f}) does as well as fusion "
            f"({best_method}, {best:.2f}): the modalities tell the same story, so fusion buys robustness "
            "to a missing modality, not accuracy"
        )
    if best - best_single > CLEAR_GAP:
        if late is not None and best - late > CLEAR_GAP:
            return (
                f"synergy on top of complementary information: fusion beats the best single modality "
                f"({best_single:.2f}) and {best_method} ({best:.2f}) beats late fusion ({late:.2f}), which "
                "only adds up what each modality says on its own"
            )
        return (
            f"complementary information: each modality knows part of the answer (A {a:.2f}, B {b:.2f}) "
            f"and fusion puts the parts together ({best_method}, {best:.2f})"
        )
    return (
        f"fusion adds little: the best single modality scores {best_single:.2f} and the best fusion "
        f"({best_method}) {best:.2f}"
    )


def _read_unimodal_only(a: float | None, b: float | None) -> str:
    scores = ", ".join(f"{name} alone {f:.2f}" for name, f in (("A", a), ("B", b)) if f is not None)
    return f"{scores}; add a fusion method to see what combining the modalities adds"
