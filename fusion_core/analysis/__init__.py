"""Looking inside trained fusion models, and a lab for the interactions that make fusion matter.

- ``contribution``: how much each modality is worth to a model (masking, exact Shapley values);
- ``weights``: the per-sample weights a method exposes (attention, gates, late-fusion weights), by class;
- ``gradients``: which modality's encoder received the gradient during training;
- ``projection``: the fused representation in 2-D (PCA, t-SNE);
- ``misclassified``: the test samples a model got wrong, ready to be looked at;
- ``interactions``: synthetic data with chosen redundancy, uniqueness and synergy, and the lab that trains on it;
- ``diagrams``: Graphviz diagrams of a built model and of the three fusion families;
- ``report``: ``analyze_run`` puts it all together for one run;
- ``glossary``: the words the app and the CLI share (the figures live in ``fusion_core.plots``).
"""

from importlib import import_module
from typing import Any

# Names are imported when first used, not with the package: most of these modules need PyTorch
# (about 3 s to import on a 2-core laptop), and the app's first page only needs ``diagrams`` and
# ``glossary``, which do not. ``from fusion_core.analysis import analyze_run`` works as usual.
_HOMES = {
    "modality_contribution": "contribution",
    "shapley_values": "contribution",
    "subset_scores": "contribution",
    "ModelOutputs": "forward",
    "run_model": "forward",
    "gradient_summary": "gradients",
    "PRESETS": "interactions",
    "InteractionWeights": "interactions",
    "LabResult": "interactions",
    "make_interaction_data": "interactions",
    "read_results": "interactions",
    "run_lab": "interactions",
    "misclassified_samples": "misclassified",
    "project_fused": "projection",
    "project_points": "projection",
    "analyze_run": "report",
    "data_for_run": "report",
    "collect_weights": "weights",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'fusion_core.analysis' has no attribute {name!r}")
    return getattr(import_module(f"fusion_core.analysis.{_HOMES[name]}"), name)


__all__ = [
    "PRESETS",
    "InteractionWeights",
    "LabResult",
    "ModelOutputs",
    "analyze_run",
    "collect_weights",
    "data_for_run",
    "gradient_summary",
    "make_interaction_data",
    "misclassified_samples",
    "modality_contribution",
    "project_fused",
    "project_points",
    "read_results",
    "run_lab",
    "run_model",
    "shapley_values",
    "subset_scores",
]
