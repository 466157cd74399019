"""Plotly figures that the app's pages and the CLI both draw, in one style.

Every function here is pure: it takes plain numbers (lists, arrays, the records
that training, the analysis and the run store hand back) and returns a
``plotly.graph_objects.Figure``. Nothing here imports the web app's framework,
so the same figure can be shown in the app or written to an HTML file with
:func:`write_html`. Records from training (``EpochLog``) may arrive as
dataclasses or, after a round trip through JSON, as dicts; both are accepted.

- ``style``: the palette, the colour of each kind of method, the layout;
- ``run``: one run (confusion matrix, per-class scores, curves, ROC);
- ``comparison``: several runs (scores by method, gain over a single modality, tuning, efficiency);
- ``previews``: raw inputs (series, spectrograms);
- ``analysis``: contributions, Shapley values, weights, gradients, projections, the lab;
- ``regression``: predicted against true, residuals, error per modality subset;
- ``robustness``: the score against growing damage, per modality or run by run.
"""

from fusion_core.plots.analysis import (
    contribution_figure,
    gradient_figure,
    lab_figure,
    projection_figure,
    shapley_figure,
    weight_label,
    weights_figure,
)
from fusion_core.plots.comparison import (
    SCORES_TITLE,
    efficiency_figure,
    gain_over_baseline_figure,
    mean_per_class_f1,
    method_scores_figure,
    per_class_heatmap_figure,
    score_groups,
    tuning_history_figure,
)
from fusion_core.plots.previews import (
    series_figure,
    spectrogram_figure,
)
from fusion_core.plots.regression import (
    predicted_vs_true_figure,
    residuals_figure,
    subset_error_figure,
)
from fusion_core.plots.robustness import (
    robustness_figure,
    robustness_overlay_figure,
)
from fusion_core.plots.run import (
    class_balance_figure,
    confusion_matrix_figure,
    per_class_metrics_figure,
    roc_figure,
    roc_points,
    training_curves_figure,
)
from fusion_core.plots.style import (
    BASELINE_COLOR,
    F1_COLOR,
    FUSION_COLOR,
    METRIC_COLORS,
    METRIC_TITLES,
    NEGATIVE_COLOR,
    NEURAL_GROUP,
    PALETTE,
    POSITIVE_COLOR,
    SK_COLOR,
    SK_GROUP,
    SK_PALETTE,
    TRAIN_COLOR,
    VAL_COLOR,
    as_text,
    color,
    is_baseline,
    is_classical,
    write_html,
)

__all__ = [
    "predicted_vs_true_figure",
    "residuals_figure",
    "subset_error_figure",
    "BASELINE_COLOR",
    "F1_COLOR",
    "FUSION_COLOR",
    "METRIC_COLORS",
    "METRIC_TITLES",
    "NEGATIVE_COLOR",
    "NEURAL_GROUP",
    "PALETTE",
    "POSITIVE_COLOR",
    "SCORES_TITLE",
    "SK_COLOR",
    "SK_GROUP",
    "SK_PALETTE",
    "TRAIN_COLOR",
    "VAL_COLOR",
    "class_balance_figure",
    "color",
    "confusion_matrix_figure",
    "contribution_figure",
    "efficiency_figure",
    "gain_over_baseline_figure",
    "gradient_figure",
    "is_baseline",
    "is_classical",
    "lab_figure",
    "mean_per_class_f1",
    "method_scores_figure",
    "per_class_heatmap_figure",
    "per_class_metrics_figure",
    "projection_figure",
    "robustness_figure",
    "robustness_overlay_figure",
    "roc_figure",
    "roc_points",
    "score_groups",
    "series_figure",
    "shapley_figure",
    "spectrogram_figure",
    "training_curves_figure",
    "tuning_history_figure",
    "weight_label",
    "weights_figure",
    "as_text",
    "write_html",
]
