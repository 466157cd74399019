"""How much each modality's encoder knows on its own: a linear probe on its frozen embeddings.

A fused model can score well while one of its encoders has learned almost nothing:
when one modality dominates training, the others get little gradient. The fused
metrics do not show it; a probe does. For each modality, the trained encoder is
frozen, its embeddings of the training rows (where that modality is present) fit a
logistic regression, and the probe's accuracy on the test rows is what that encoder
alone makes linearly readable about the label.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fusion_core.data.types import PreparedData
from fusion_core.training import DeviceTensors, embeddings_in_batches, evaluation_batch_size

PROBE_MAX_ITER = 500


def probe_accuracy(model: torch.nn.Module, data: PreparedData) -> dict[str, float]:
    """Test accuracy of a linear probe on each modality's frozen encoder embeddings ``{name: accuracy}``.

    Fitted on the training rows and scored on the test rows where the modality is present
    (a modality absent from every training or test row is left out).
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    tensors = DeviceTensors.from_prepared(data, device)
    batch = evaluation_batch_size(data, 256)
    train_rows, test_rows = data.splits.train.to(device), data.splits.test.to(device)
    train = embeddings_in_batches(model, tensors, train_rows, batch)
    test = embeddings_in_batches(model, tensors, test_rows, batch)
    labels = data.labels.numpy()
    scores = {}
    for name in train:
        seen = tensors.present[name][train_rows].cpu().numpy()
        scored = tensors.present[name][test_rows].cpu().numpy()
        y_train = labels[data.splits.train.numpy()][seen]
        if not scored.any() or len(np.unique(y_train)) < 2:
            continue
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=PROBE_MAX_ITER))
        probe.fit(train[name].float().cpu().numpy()[seen], y_train)
        y_test = labels[data.splits.test.numpy()][scored]
        scores[name] = float(probe.score(test[name].float().cpu().numpy()[scored], y_test))
    return scores
