"""Plain-words explanations that the app's pages and the CLI share.

Kept here, not in a page, so every place that shows a score can explain it
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    term: str
    short: str
    text: str


GLOSSARY: dict[str, Entry] = {
    entry.term: entry
    for entry in (
        Entry(
            term="precision",
            short="Of the samples the model put in a class, the share that truly belong there.",
            text=(
                "**Precision** of a class = correct predictions of that class ÷ all predictions of that "
                "class. High precision: when the model says *cat*, it is usually a cat. A model that "
                "says *cat* only when it is very sure has high precision but may miss many cats."
            ),
        ),
        Entry(
            term="recall",
            short="Of the samples that truly belong to a class, the share the model found.",
            text=(
                "**Recall** of a class = correct predictions of that class ÷ all samples truly of that "
                "class. High recall: the model finds most cats. A model that calls everything *cat* has "
                "perfect recall for cats and poor precision."
            ),
        ),
        Entry(
            term="f1",
            short="The balance of precision and recall for one class (their harmonic mean).",
            text=(
                "**F1** = 2 · precision · recall ÷ (precision + recall). It is high only when both are "
                "high: a model cannot buy a good F1 by being timid (high precision, low recall) or "
                "reckless (the reverse)."
            ),
        ),
        Entry(
            term="macro-F1",
            short="The F1 of every class, averaged with equal weight per class.",
            text=(
                "**Macro-F1** computes F1 for each class and takes the plain average, so a rare class "
                "counts as much as a common one. Accuracy can look good on unbalanced data by always "
                "guessing the common class; macro-F1 cannot. On two balanced classes, guessing scores "
                "about 0.5; a perfect model scores 1. Weighted-F1 instead weighs each class by its "
                "number of samples."
            ),
        ),
        Entry(
            term="accuracy",
            short="The share of all samples the model classified correctly.",
            text=(
                "**Accuracy** = correct predictions ÷ all predictions. Easy to read, but misleading "
                "when classes are unbalanced: with 95 % of samples in one class, always guessing it "
                "gives 95 % accuracy and a useless model."
            ),
        ),
        Entry(
            term="confusion matrix",
            short="A table counting, for each true class (rows), how often each class was predicted (columns).",
            text=(
                "In the **confusion matrix** each row is a true class and each column a predicted "
                "class; a cell counts the test samples with that truth and that prediction. The "
                "diagonal holds the correct predictions. A large cell off the diagonal names a pair of "
                "classes the model confuses: the first place to look at samples. Reading along a row "
                "gives recall, down a column precision."
            ),
        ),
    )
}


FAMILIES: dict[str, dict[str, str]] = {
    "early": {
        "title": "Data-level (early) fusion",
        "text": (
            "Join the raw or lightly processed inputs of every modality into one input and train one "
            "network on it. Simple, and the network can find interactions between modalities from the "
            "first layer on, but the inputs must line up and one noisy or huge modality can swamp the rest."
        ),
    },
    "intermediate": {
        "title": "Feature-level (intermediate) fusion",
        "text": (
            "Give each modality its own encoder that turns it into a feature vector, combine the "
            "vectors (concatenate, weigh, multiply, attend), then classify. The most common and most "
            "flexible family: each encoder suits its modality, and the combination step decides which "
            "interactions the model can learn."
        ),
    },
    "late": {
        "title": "Decision-level (late) fusion",
        "text": (
            "Train one classifier per modality and combine their decisions (average the probabilities, "
            "or weigh them). Robust to a missing modality and easy to extend, but it cannot learn "
            "interactions between modalities: each classifier decides alone."
        ),
    },
}
"""The three families the literature names, from data level to decision level (Baltrušaitis et al., 2019)."""

FAMILY_ORDER = ("early", "intermediate", "late")

BEGINNER_PATH: dict[str, dict[str, str]] = {
    "early": {
        "title": "Join the data",
        "sentence": (
            "Early fusion puts the raw inputs side by side and trains one network on them, so it can learn "
            "from any combination of the modalities."
        ),
        "preset": "synergy",
        "try": "Try it: only the pair tells",
    },
    "intermediate": {
        "title": "Join the features",
        "sentence": (
            "Intermediate fusion first turns each modality into features with an encoder of its own, then "
            "combines the features: the usual best start."
        ),
        "preset": "mixed",
        "try": "Try it: a bit of everything",
    },
    "late": {
        "title": "Join the decisions",
        "sentence": (
            "Late fusion trains a model per modality and combines their answers: it adds up what each one "
            "knows, but never sees the modalities together."
        ),
        "preset": "complementary",
        "try": "Try it: two halves of the answer",
    },
}
"""The Learn page's first screen: per family, a short title, one sentence and the lab preset that shows it."""


LAB_HELP: dict[str, str] = {
    "redundancy": (
        "How much of the label both modalities carry alike. Either one alone is then enough, and fusion "
        "adds robustness rather than accuracy."
    ),
    "uniqueness_a": "How much of the label only modality A carries. B knows nothing of this part.",
    "uniqueness_b": "How much of the label only modality B carries. A knows nothing of this part.",
    "synergy": (
        "How much of the label appears only when A and B are seen together (like XOR: the label is whether "
        "their hidden signs agree). Neither modality alone tells anything about this part."
    ),
    "noise": (
        "Standard deviation of the random noise added to every signal in A and B. More noise blurs the "
        "signals and lowers every score."
    ),
    "n_samples": "How many samples to draw (60 % train, 20 % validation, 20 % test). More samples, slower runs.",
    "methods": (
        "Which models to train. only:A and only:B see a single modality: they show what each one knows "
        "alone. The others fuse A and B in different ways."
    ),
    "epochs": "How many passes over the training samples each model makes. More epochs, slower runs.",
    "seed": "The random seed for drawing the data and initialising the models; change it to see the spread.",
}
"""Tooltips of the interaction lab's controls."""


def explain(term: str) -> str:
    """The long explanation of ``term`` (case-insensitive); a short note when it is unknown."""
    for key, entry in GLOSSARY.items():
        if key.lower() == term.lower():
            return entry.text
    return f"no explanation of {term!r} is available; known terms: {', '.join(GLOSSARY)}"
