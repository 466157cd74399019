"""A run's network as an ONNX file, written by the exporter that ships with PyTorch.

The ONNX model takes the inputs *after* preprocessing (what ``prepare`` or
``fusion_core.predict`` makes from raw samples): for each modality, one input
named after it and one bool presence mask named ``<modality>_present``, all with
a dynamic batch size; it returns ``logits`` ``(N, C)``. ``check_parity`` runs the
file with onnxruntime on the run's test split and reports the largest absolute
difference from PyTorch's logits.

The ``onnx``, ``onnxscript`` and ``onnxruntime`` packages are an optional extra
(``pip install "fusion-explorer[onnx]"``); nothing else in the project needs them,
so they are imported only here, when an export is asked for.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fusion_core.errors import ConfigError
from fusion_core.experiment import RunResult
from fusion_core.model import FusionModel
from fusion_core.predict import check_predictable

PRESENT_SUFFIX = "_present"
OUTPUT_NAME = "logits"
REGRESSION_TOLERANCE = 1e-4
"""Largest difference of a regression's standardised output that still counts as the same prediction."""
EXTRA_PACKAGES = ("onnx", "onnxscript", "onnxruntime")

__all__ = ["OnnxParity", "check_parity", "export_onnx", "input_names", "parity_on_test_split"]


class _ByPosition(nn.Module):
    """The model with one positional tensor per input, as exporters want: values, then masks."""

    def __init__(self, model: FusionModel) -> None:
        super().__init__()
        self.model = model
        self.names = list(model.modality_names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        count = len(self.names)
        inputs = dict(zip(self.names, tensors[:count], strict=True))
        masks = dict(zip(self.names, tensors[count:], strict=True))
        return self.model(inputs, masks)


def input_names(model: FusionModel) -> list[str]:
    """The ONNX input names, in order: every modality, then every presence mask."""
    return [*model.modality_names, *(f"{name}{PRESENT_SUFFIX}" for name in model.modality_names)]


def _require_packages() -> None:
    missing = [name for name in EXTRA_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"exporting to ONNX needs the package(s) {', '.join(missing)}; install them with "
            "pip install 'fusion-explorer[onnx]' (or: pip install onnx onnxscript onnxruntime)"
        )


def _example(model: FusionModel, batch: int = 2) -> tuple[torch.Tensor, ...]:
    values = []
    for name in model.modality_names:
        spec = model.specs[name]
        if spec.form == "tokens":
            values.append(torch.ones((batch, *spec.shape), dtype=torch.long))
        else:
            values.append(torch.zeros((batch, *spec.shape), dtype=torch.float32))
    masks = [torch.ones(batch, dtype=torch.bool) for _ in model.modality_names]
    return (*values, *masks)


def export_onnx(run: RunResult, path: str | os.PathLike[str]) -> Path:
    """Write the run's network to ``path`` as one ONNX file; return the path.

    Raises:
        ConfigError: the run has no network, the extra packages are missing, or the
            method uses an operation the exporter cannot translate (the message says which).
    """
    check_predictable(run)
    _require_packages()
    model: FusionModel = run.model
    model.eval()
    wrapper = _ByPosition(model).eval()
    example = _example(model)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    dynamic = (tuple({0: batch} for _ in example),)  # one entry: the *tensors of forward
    path = Path(path).expanduser()
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper,
                example,
                input_names=input_names(model),
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dynamic,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            program.save(str(path), external_data=False)
    except Exception as exc:  # the exporter raises many types; the user needs the first line only
        raise ConfigError(
            f"fusion method {run.method!r} with these encoders cannot be exported to ONNX by PyTorch's "
            f"exporter ({_reason(exc)}); use 'fusion-explorer predict' with this run, or export a run of "
            "another method such as concat, late, attention or gated"
        ) from None
    return path


def _reason(exc: Exception) -> str:
    """The line of an exporter error that says what failed (its summary, else its first line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if "## Exception summary" in lines:
        following = lines[lines.index("## Exception summary") + 1 :]
        if following:
            return following[0].replace("<class '", "").replace("'>", "")[:200]
    return (lines or [type(exc).__name__])[0][:200]


@dataclass
class OnnxParity:
    """How closely the ONNX file reproduces PyTorch on some rows."""

    rows: int
    max_abs_diff: float
    same_predictions: bool


def check_parity(
    run: RunResult,
    path: str | os.PathLike[str],
    inputs: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
) -> OnnxParity:
    """Run the ONNX file with onnxruntime on ``inputs``/``masks`` and compare with the PyTorch model."""
    _require_packages()
    import onnxruntime

    model: FusionModel = run.model
    model.eval()
    with torch.inference_mode():
        expected = model(inputs, masks).float().numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {name: inputs[name].numpy() for name in model.modality_names}
    feed |= {f"{name}{PRESENT_SUFFIX}": masks[name].bool().numpy() for name in model.modality_names}
    (got,) = session.run([OUTPUT_NAME], feed)
    return OnnxParity(
        rows=len(expected),
        max_abs_diff=float(np.abs(got - expected).max()) if len(expected) else 0.0,
        same_predictions=_same_predictions(got, expected),
    )


def _same_predictions(got: np.ndarray, expected: np.ndarray) -> bool:
    """The same class for every row; for one output (a regression's standardised value), the same
    value to within 1e-4 of the target's standard deviation."""
    if expected.shape[1:] == (1,):
        return bool(np.allclose(got, expected, rtol=0.0, atol=REGRESSION_TOLERANCE))
    return bool((got.argmax(1) == expected.argmax(1)).all())


def parity_on_test_split(run: RunResult, path: str | os.PathLike[str]) -> OnnxParity:
    """``check_parity`` on the run's own test split (its data source must still be there)."""
    from fusion_core.analysis.report import data_for_run

    data, rows = data_for_run(run)
    inputs = {name: data.modalities[name].values[rows] for name in run.model.modality_names}
    masks = {name: data.modalities[name].present[rows] for name in run.model.modality_names}
    return check_parity(run, path, inputs, masks)
