"""ONNX export: parity with PyTorch under onnxruntime, the file's inputs, and a clear refusal."""

from __future__ import annotations

import pytest
import torch

from fusion_core.cli import main
from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.errors import ConfigError
from fusion_core.experiment import run_experiment
from fusion_core.fusion import Fusion, FusionOutput
from fusion_core.model import FusionModel
from fusion_core.onnx_export import PRESENT_SUFFIX, export_onnx, input_names, parity_on_test_split
from fusion_core.runs import RunStore

onnxruntime = pytest.importorskip("onnxruntime", reason="install the [onnx] extra to test ONNX export")

pytestmark = pytest.mark.slow
METHODS = ("concat", "late", "attention", "gated")
SAMPLES = ("cancer-views", "support-tickets")  # tabular + tabular; text + tabular with missing values
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("runs"))


# the zoo's attention, mixture, evidential and stacking methods, on the sample with missing values
MORE = [
    (method, "support-tickets")
    for method in ("mfb", "experts", "tokens", "perceiver", "evidential", "stacked")
]


@pytest.mark.parametrize(("method", "sample"), [(m, s) for s in SAMPLES for m in METHODS] + MORE)
def test_onnx_logits_match_pytorch_on_the_test_split(method, sample, store, tmp_path):
    config = ExperimentConfig(
        data=DataConfig(source=sample), model=ModelConfig(fusion=method), train=TrainConfig(epochs=1)
    )
    run = store.load(run_experiment(config, store=store).run_id)
    path = export_onnx(run, tmp_path / "model.onnx")
    parity = parity_on_test_split(run, path)
    print(
        f"ONNX parity {method:>9} on {sample:<16} {parity.rows} test rows: max |Δ logits| = {parity.max_abs_diff:.2e}"
    )
    assert parity.rows == len(run.test_ids)
    assert parity.max_abs_diff < TOLERANCE
    assert parity.same_predictions
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == input_names(run.model)
    assert all(
        name.endswith(PRESENT_SUFFIX) for name in input_names(run.model)[len(run.model.modality_names) :]
    )
    assert [o.name for o in session.get_outputs()] == ["logits"]


def test_export_onnx_on_the_command_line_prints_the_parity(store, tmp_path, capsys):
    config = ExperimentConfig(
        data=DataConfig(source="cancer-views"),
        model=ModelConfig(fusion="concat"),
        train=TrainConfig(epochs=1),
    )
    run_id = run_experiment(config, store=store).run_id
    target = tmp_path / "model.onnx"
    code = main(["export", "--run", run_id, "--onnx", str(target), "--runs-dir", str(store.root)])
    out = capsys.readouterr().out
    assert code == 0 and target.is_file()
    assert "max |logit difference|" in out and "same predicted classes: yes" in out


class DataDependentFusion(Fusion):
    """Branches on the values themselves, which an exported graph cannot hold."""

    name = "branchy"

    def __init__(self, in_dims, num_classes):
        super().__init__(in_dims, num_classes)
        self.fused_dim = sum(in_dims.values())
        self.head = torch.nn.Linear(self.fused_dim, num_classes)

    def fuse(self, features, masks, sequences=None):
        fused = torch.cat([features[m] for m in self.modality_names], dim=1)
        if fused.sum().item() > 0:  # Python control flow on a value: no graph can hold it
            fused = -fused
        return FusionOutput(self.head(fused), fused)


def test_a_method_the_exporter_cannot_translate_says_so_clearly(store, tmp_path):
    config = ExperimentConfig(
        data=DataConfig(source="cancer-views"),
        model=ModelConfig(fusion="concat"),
        train=TrainConfig(epochs=1),
    )
    run = run_experiment(config)
    fusion = DataDependentFusion(run.model.fusion.in_dims, len(run.class_names))
    run.model = FusionModel(dict(run.model.encoders), fusion).eval()
    run.method = "branchy"
    with pytest.raises(ConfigError) as error:
        export_onnx(run, tmp_path / "model.onnx")
    message = str(error.value)
    assert message.startswith("fusion method 'branchy' with these encoders cannot be exported to ONNX")
    assert "\n" not in message and "fusion-explorer predict" in message
