"""Looking inside trained fusion models, and a lab for the interactions that make fusion matter.

- ``contribution``: how much each modality is worth to a model (masking, exact Shapley values);
- ``weights``: the per-sample weights a method exposes (attention, gates, late-fusion weights), by class;
- ``gradients``: which modality's encoder received the gradient during training;
- ``projection``: the fused representation in 2-D (PCA, t-SNE);
- ``misclassified``: the test samples a model got wrong, ready to be looked at;
- ``interactions``: synthetic data with chosen redundancy, uniqueness and synergy, and the lab that trains on it;
- ``diagrams``: Graphviz diagrams of a built model and of the three fusion families;
- ``report``: ``analyze_run`` puts it all together for one run;
- ``glossary`` and ``figures``: the words and plots the app and the CLI share.
"""

from fusion_core.analysis.contribution import modality_contribution, shapley_values, subset_scores
from fusion_core.analysis.forward import ModelOutputs, run_model
from fusion_core.analysis.gradients import gradient_summary
from fusion_core.analysis.interactions import (
    PRESETS,
    InteractionWeights,
    LabResult,
    make_interaction_data,
    read_results,
    run_lab,
)
from fusion_core.analysis.misclassified import misclassified_samples
from fusion_core.analysis.projection import project_fused, project_points
from fusion_core.analysis.report import analyze_run, data_for_run
from fusion_core.analysis.weights import collect_weights

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
