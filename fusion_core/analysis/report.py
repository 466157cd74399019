"""Everything the analysis can say about one trained run, in one JSON-able dict.

``analyze_run`` re-creates the run's test data with the preprocessing it was
trained with (the saved, fitted state: nothing is re-learned), then asks each
analysis in turn: how much each modality contributes (masking and Shapley),
which weights the fusion method exposed, how the gradients were shared between
modalities, where the test samples lie in the fused space, and which samples
the model got wrong.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import torch

from fusion_core.analysis.contribution import modality_contribution, subset_errors
from fusion_core.analysis.forward import check_modalities, run_model
from fusion_core.analysis.gradients import gradient_summary
from fusion_core.analysis.misclassified import misclassified_samples
from fusion_core.analysis.projection import project_fused
from fusion_core.analysis.weights import collect_weights
from fusion_core.baselines import NO_MODEL_MESSAGE, is_baseline_method
from fusion_core.data.types import Dataset, PreparedData, Splits
from fusion_core.errors import ConfigError, DataError

MISCLASSIFIED_LIMIT = 24


def analyze_run(
    run: Any,
    dataset: Dataset | None = None,
    prepared: PreparedData | None = None,
    *,
    tsne: bool = True,
    shapley: bool = True,
    misclassified_limit: int = MISCLASSIFIED_LIMIT,
    seed: int = 0,
) -> dict:
    """Analyse a ``RunResult`` on its test samples; returns a JSON-able dict.

    The test data come from ``prepared`` when given (its rows are matched to the
    run's test ids), else from ``dataset`` (or the run's own data source, loaded
    again) transformed with the run's saved preprocessing state.

    Keys: ``run`` (id, label, method, dataset, macro-F1), ``contribution``,
    ``weights``, ``gradients``, ``projection``, ``misclassified`` and
    ``summary`` (the plain-words notes, in reading order).
    """
    if is_baseline_method(run.method):
        raise ConfigError(f"run {run.label!r} {NO_MODEL_MESSAGE}")
    model = getattr(run, "model", None)
    if model is None:
        raise ConfigError(
            "this run has no trained model to analyse; load it with RunStore.load(run_id) or train it again"
        )
    if dataset is None and prepared is None:
        dataset = _loaded_dataset(run)
    data, rows = data_for_run(run, dataset=dataset, prepared=prepared)
    check_modalities(model, data)
    outputs = run_model(model, data, rows)
    contribution = modality_contribution(model, data, rows, shapley=shapley)
    if data.task == "regression":
        return _regression_analysis(run, model, data, rows, contribution)
    weights = collect_weights(model, data, rows, outputs=outputs)
    gradients = gradient_summary(run.history)
    projection = project_fused(model, data, rows, tsne=tsne, seed=seed, outputs=outputs)
    misclassified = misclassified_samples(
        run.y_true,
        run.y_pred,
        run.probabilities,
        run.test_ids,
        run.class_names,
        dataset=dataset,
        prepared=data if dataset is None else None,
        limit=misclassified_limit,
    )
    n_wrong = int(np.sum(np.asarray(run.y_true) != np.asarray(run.y_pred)))
    return {
        "run": {
            **_run_header(run),
            "macro_f1": float(run.metrics.get("macro_f1", contribution["full"])),
            "test_samples": len(run.test_ids),
            "misclassified": n_wrong,
        },
        "contribution": contribution,
        "weights": weights,
        "gradients": gradients,
        "projection": projection,
        "misclassified": misclassified,
        "summary": [
            contribution["note"],
            gradients["note"],
            weights["note"],
            f"{n_wrong} of {len(run.test_ids)} test samples are misclassified",
        ],
    }


def _run_header(run: Any) -> dict[str, Any]:
    return {"run_id": run.run_id, "label": run.label, "method": run.method, "dataset": run.dataset_name}


def _regression_analysis(
    run: Any, model: Any, data: PreparedData, rows: torch.Tensor, contribution: dict
) -> dict:
    """A regression run's analysis: contributions in R², the error with each subset of modalities
    (RMSE in the target's units) and the gradient note; class-based views do not apply."""
    gradients = gradient_summary(run.history)
    return {
        "run": {
            **_run_header(run),
            "task": "regression",
            "r2": run.metrics.get("r2"),
            "test_samples": len(run.test_ids),
        },
        "contribution": contribution,
        "subset_errors": subset_errors(model, data, rows),
        "gradients": gradients,
        "summary": [contribution["note"], gradients["note"]],
    }


_LOADED: dict[str, Dataset] = {}


def _loaded_dataset(run: Any) -> Dataset:
    source = run.config.data.source
    if source not in _LOADED:
        from fusion_core.data import load_dataset

        _LOADED.clear()
        _LOADED[source] = load_dataset(source)
    return _LOADED[source]


def data_for_run(
    run: Any, *, dataset: Dataset | None = None, prepared: PreparedData | None = None
) -> tuple[PreparedData, torch.Tensor]:
    """The run's test samples as ``PreparedData`` plus the rows to analyse.

    With ``prepared``: that data and the rows holding the run's test ids (its
    own test split when the ids are not all there). Otherwise the test rows of
    ``dataset`` (default: the run's data source) are transformed with the run's
    saved preprocessing state, exactly as in training.
    """
    if prepared is not None:
        positions = {sample_id: i for i, sample_id in enumerate(prepared.ids)}
        if all(sample_id in positions for sample_id in run.test_ids):
            return prepared, torch.tensor([positions[s] for s in run.test_ids], dtype=torch.long)
        return prepared, prepared.splits.test
    if dataset is None:
        dataset = _loaded_dataset(run)
    from fusion_core.modalities import transform_with_state

    positions = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
    missing = [sample_id for sample_id in run.test_ids if sample_id not in positions]
    if missing:
        raise DataError(
            f"the dataset lacks {len(missing)} of the run's {len(run.test_ids)} test samples "
            f"(e.g. {missing[0]!r}); analyse the run with the dataset it was trained on"
        )
    table_rows = [positions[sample_id] for sample_id in run.test_ids]
    subset = dataclasses.replace(dataset, table=dataset.table.iloc[table_rows].reset_index(drop=True))
    preprocessing = getattr(run, "preprocessing", None) or run.config.data.preprocessing
    modalities = transform_with_state(subset, run.preprocessing_state, preprocessing)
    n = len(table_rows)
    everything = torch.arange(n)
    if run.task == "regression":
        values = pd.to_numeric(subset.table[subset.target], errors="coerce").to_numpy(dtype=np.float32)
        return PreparedData(
            dataset_name=dataset.name,
            modalities=modalities,
            labels=torch.from_numpy(values),
            class_names=[],
            ids=list(run.test_ids),
            splits=Splits(train=everything[:0], val=everything[:0], test=everything),
            state=run.preprocessing_state,
            preprocessing=preprocessing,
            content_hash=dataset.content_hash,
            task="regression",
            target_stats=tuple(run.target_scale),
        ), everything
    lookup = {name: i for i, name in enumerate(run.class_names)}
    raw_labels = subset.table[subset.target].astype(str)
    unknown = sorted(set(raw_labels) - set(lookup))
    if unknown:
        raise DataError(
            f"the dataset has class {unknown[0]!r}, which the run was not trained on; "
            "analyse the run with the dataset it was trained on"
        )
    data = PreparedData(
        dataset_name=dataset.name,
        modalities=modalities,
        labels=torch.tensor(raw_labels.map(lookup).to_numpy(), dtype=torch.long),
        class_names=list(run.class_names),
        ids=list(run.test_ids),
        splits=Splits(train=everything[:0], val=everything[:0], test=everything),
        state=run.preprocessing_state,
        preprocessing=preprocessing,
        content_hash=dataset.content_hash,
    )
    return data, everything
