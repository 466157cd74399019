"""A map of the fused representation: every test sample as a point in 2-D.

The fused representation (``FusionOutput.fused``, the vector the head reads)
has tens or hundreds of dimensions. Two projections squeeze it into a plane:

- **PCA** keeps the two directions along which the samples vary most. It is
  linear and faithful to distances along those directions, but classes that
  differ in other directions may overlap.
- **t-SNE** (van der Maaten & Hinton, 2008) places samples so that close
  neighbours stay close. Clusters are meaningful; distances between clusters
  and cluster sizes are not.

Well-separated classes in the map mean the head's job is easy; misclassified
samples often sit on a boundary or inside another class's cluster.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits
from torch import nn

from fusion_core.analysis.forward import ModelOutputs, run_model
from fusion_core.data.types import PreparedData

MAX_TSNE_SAMPLES = 2000


def project_points(
    fused: np.ndarray, *, tsne: bool = True, max_tsne: int = MAX_TSNE_SAMPLES, seed: int = 0
) -> dict:
    """PCA (all rows) and t-SNE (at most ``max_tsne`` rows, chosen at random) of ``fused`` ``(n, D)``."""
    fused = np.nan_to_num(np.asarray(fused, dtype=np.float64).reshape(len(fused), -1))
    n, dim = fused.shape
    result: dict = {"n": int(n), "dim": int(dim), "pca": None, "tsne": None}
    if n < 3:
        return result
    components = min(2, dim, n)
    pca = PCA(n_components=components, random_state=seed).fit(fused)
    coords = pca.transform(fused)
    if components == 1:
        coords = np.concatenate([coords, np.zeros_like(coords)], axis=1)
    result["pca"] = {
        "x": coords[:, 0].tolist(),
        "y": coords[:, 1].tolist(),
        "explained": [float(v) for v in pca.explained_variance_ratio_],
    }
    if tsne and n >= 5:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(n, size=max_tsne, replace=False)) if n > max_tsne else np.arange(n)
        perplexity = float(min(30.0, max(2.0, (len(chosen) - 1) / 3)))
        # One thread: on a small, busy machine OpenMP threads spin against each other and t-SNE
        # of a few hundred points took 30 s instead of 2 s.
        with threadpool_limits(limits=1):
            embedded = TSNE(
                n_components=2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed
            ).fit_transform(fused[chosen])
        result["tsne"] = {"x": embedded[:, 0].tolist(), "y": embedded[:, 1].tolist(), "rows": chosen.tolist()}
    return result


def project_fused(
    model: nn.Module,
    data: PreparedData,
    rows: torch.Tensor | np.ndarray | None = None,
    *,
    tsne: bool = True,
    max_tsne: int = MAX_TSNE_SAMPLES,
    seed: int = 0,
    outputs: ModelOutputs | None = None,
) -> dict:
    """Run the model over ``rows`` (default: the test split) and project what the fusion step produced.

    Returns ``available``, ``pca`` and ``tsne`` coordinates (``tsne["rows"]``
    index into the other per-sample lists), ``y_true``, ``y_pred``, ``correct``,
    ``ids`` and ``class_names``. ``outputs`` reuses a forward pass already made
    over the same rows.
    """
    rows = data.splits.test if rows is None else torch.as_tensor(rows, dtype=torch.long)
    outputs = outputs if outputs is not None else run_model(model, data, rows)
    y_true = data.labels[rows].numpy()
    y_pred = outputs.predictions
    base = {
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "correct": (y_true == y_pred).tolist(),
        "ids": [data.ids[i] for i in rows.tolist()],
        "class_names": list(data.class_names),
    }
    if outputs.fused is None:
        return {"available": False, "note": f"{model.method} does not expose a fused representation", **base}
    return {
        "available": True,
        **project_points(outputs.fused, tsne=tsne, max_tsne=max_tsne, seed=seed),
        **base,
    }
