"""build_model's choices and checks, FusionModel's forward pass, and describe_model."""

from __future__ import annotations

import pytest
import torch

from fusion_core.config import EncoderConfig, ModelConfig
from fusion_core.data.types import InputSpec
from fusion_core.encoders import ENCODERS
from fusion_core.errors import ConfigError
from fusion_core.fusion import available_methods
from fusion_core.model import FusionModel, build_model, count_parameters, describe_model

N = 4
SPECS = {
    "table": InputSpec("vector", (5,)),
    "image": InputSpec("grid", (1, 8, 8)),
    "text": InputSpec("tokens", (9,), vocab_size=15),
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small run steadily on one thread; two can stall badly on a busy two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(specs=SPECS, n: int = N, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    batch = {}
    for name, spec in specs.items():
        if spec.form == "tokens":
            ids = torch.randint(1, spec.vocab_size, (n, *spec.shape), generator=generator)
            ids[:, 6:] = 0
            batch[name] = ids
        else:
            batch[name] = torch.randn((n, *spec.shape), generator=generator)
    return batch


def encoder_names(model: FusionModel) -> dict[str, str]:
    return {name: encoder.name for name, encoder in model.encoders.items()}


def test_default_encoders_and_embedding_size():
    model = build_model(SPECS, 3, ModelConfig(fusion="concat", embedding_dim=24))
    assert isinstance(model, FusionModel)
    assert model.modality_names == ["table", "image", "text"]
    assert encoder_names(model) == {"table": "mlp", "image": "cnn", "text": "cnn1d"}
    assert {encoder.out_dim for encoder in model.encoders.values()} == {24}
    assert model.fusion.in_dims == {"table": 24, "image": 24, "text": 24}
    assert model(make_batch(), {}).shape == (N, 3)


def test_encoder_choices_and_options_are_applied():
    config = ModelConfig(
        fusion="gated",
        encoders={
            "text": EncoderConfig("gru", {"hidden": 7, "bidirectional": True}),
            "table": EncoderConfig("mlp", {"out_dim": 10}),
        },
    )
    model = build_model(SPECS, 2, config)
    assert encoder_names(model) == {"table": "mlp", "image": "cnn", "text": "gru"}
    assert model.encoders["text"].hidden == 7 and model.encoders["text"].bidirectional
    assert model.fusion.in_dims == {"table": 10, "image": 64, "text": 64}


def test_early_fusion_reads_raw_inputs_whatever_the_encoder_choice():
    config = ModelConfig(fusion="early", encoders={"image": EncoderConfig("cnn")})
    model = build_model(SPECS, 2, config)
    assert set(encoder_names(model).values()) == {"flatten"}
    assert model.fusion.in_dims == {"table": 5, "image": 64, "text": 15}


def test_single_modality_baseline_builds_only_its_encoder():
    model = build_model(SPECS, 2, ModelConfig(fusion="only:image"))
    assert model.modality_names == ["image"] and model.method == "only:image"
    batch = make_batch()
    logits = model(batch, {})
    other_text = {**batch, "text": make_batch(seed=1)["text"], "table": torch.zeros(N, 5)}
    assert torch.equal(model.eval()(other_text, {}), model(batch, {}))
    assert logits.shape == (N, 2)


def test_masks_default_to_present_and_zero_absent_embeddings():
    model = build_model(SPECS, 3, ModelConfig(fusion="concat")).eval()
    batch = make_batch()
    all_present = {name: torch.ones(N, dtype=torch.bool) for name in SPECS}
    with torch.no_grad():
        assert torch.equal(model(batch, {}), model(batch, all_present))
        assert torch.equal(model(batch), model(batch, all_present))
        features, _, _ = model.encode(
            batch, {**all_present, "image": torch.tensor([True, False, True, False])}
        )
    assert (features["image"][[1, 3]] == 0).all() and (features["image"][[0, 2]] != 0).any()


def test_sequences_reach_a_fusion_that_uses_them():
    model = build_model(SPECS, 2, ModelConfig(fusion="crossattn"))
    seen = {}

    def spy(module, args, kwargs):
        seen["sequences"] = args[2] if len(args) > 2 else kwargs.get("sequences")

    model.fusion.register_forward_pre_hook(spy, with_kwargs=True)
    batch = make_batch()
    model(batch, {})
    sequences = seen["sequences"]
    assert set(sequences) == {"text"}  # the cnn1d text encoder gives steps; mlp and cnn do not
    steps, padding = sequences["text"]
    assert steps.shape == (N, 9, 64) and torch.equal(padding, batch["text"] == 0)


def test_count_parameters_matches_the_description():
    model = build_model(SPECS, 3, ModelConfig(fusion="attention"))
    rows = describe_model(model)
    assert [row["kind"] for row in rows] == ["encoder", "encoder", "encoder", "fusion", "head"]
    assert sum(row["parameters"] for row in rows) == count_parameters(model)
    table, image, text, fusion, head = rows
    assert (image["name"], image["block"], image["input_shape"], image["output_shape"]) == (
        "image",
        "cnn",
        "(N, 1, 8, 8)",
        "(N, 64)",
    )
    assert fusion["inputs"] == ["table", "image", "text"] and fusion["output_shape"] == "(N, 64)"
    assert (head["inputs"], head["input_shape"], head["output_shape"]) == (["attention"], "(N, 64)", "(N, 3)")
    assert all(row["title"] for row in rows)


def test_late_fusion_is_described_decisions_first():
    model = build_model(SPECS, 3, ModelConfig(fusion="late", fusion_options={"combine": "weighted"}))
    rows = describe_model(model)
    assert [row["kind"] for row in rows] == ["encoder", "encoder", "encoder", "head", "fusion"]
    head, fusion = rows[-2:]
    assert head["output_shape"] == "(N, 3) + (N, 3) + (N, 3)"
    assert fusion["parameters"] == 3  # one learned weight per modality
    assert sum(row["parameters"] for row in rows) == count_parameters(model)


def test_describe_marks_step_outputs_for_sequence_fusion():
    rows = describe_model(build_model(SPECS, 2, ModelConfig(fusion="crossattn")))
    assert [row["output_shape"] for row in rows[:3]] == ["(N, 64)", "(N, 64)", "(N, T, 64)"]


@pytest.mark.parametrize(
    ("specs", "num_classes", "config", "message"),
    [
        (
            SPECS,
            2,
            ModelConfig(encoders={"audio": EncoderConfig("cnn")}),
            "an encoder is set for unknown modality 'audio'; modalities are: table, image, text",
        ),
        (
            SPECS,
            2,
            ModelConfig(encoders={"table": EncoderConfig("cnn")}),
            "encoder 'cnn' cannot read modality 'table', whose form is vector; encoders that fit: mlp, flatten",
        ),
        (
            SPECS,
            2,
            ModelConfig(encoders={"text": EncoderConfig("mlp")}),
            "encoder 'mlp' cannot read modality 'text', whose form is tokens; "
            "encoders that fit: cnn1d, lstm, gru, transformer, flatten",
        ),
        (
            SPECS,
            2,
            ModelConfig(encoders={"table": EncoderConfig("mlp", {"width": 3})}),
            "encoder 'mlp' has no option 'width'; valid options: hidden, layers, out_dim, dropout, linear_path",
        ),
        (
            SPECS,
            2,
            ModelConfig(fusion="late", fusion_options={"combine": "vote"}),
            "fusion 'late' option combine='vote' is not allowed; choose one of: mean, weighted, product",
        ),
        (
            SPECS,
            2,
            ModelConfig(fusion="only:audio"),
            "fusion 'only:audio' names unknown modality 'audio'; choose one of: only:table, only:image, only:text",
        ),
        (
            {"table": SPECS["table"]},
            2,
            ModelConfig(fusion="tensor"),
            "fusion 'tensor' needs at least 2 modalities, got 1: table",
        ),
        (SPECS, 1, ModelConfig(), "a classifier needs at least 2 classes, got 1; check the target column"),
        (
            {},
            2,
            ModelConfig(),
            "there are no modalities to build a model from; the dataset needs at least one",
        ),
        (
            {"a.b": SPECS["table"], "c": SPECS["table"]},
            2,
            ModelConfig(),
            "modality name 'a.b' must be non-empty and contain no '.'; rename the modality",
        ),
    ],
)
def test_bad_model_choices_are_explained(specs, num_classes, config, message):
    with pytest.raises(ConfigError) as error:
        build_model(specs, num_classes, config)
    assert str(error.value) == message


def test_unknown_fusion_lists_what_these_modalities_can_use():
    with pytest.raises(ConfigError) as error:
        build_model(SPECS, 2, ModelConfig(fusion="fancy"))
    valid = available_methods(list(SPECS))
    assert str(error.value) == f"unknown fusion method 'fancy'; choose one of: {', '.join(valid)}"
    assert "only:text" in valid


def test_unknown_encoder_lists_the_registered_ones():
    with pytest.raises(ConfigError) as error:
        build_model(SPECS, 2, ModelConfig(encoders={"image": EncoderConfig("resnet")}))
    assert str(error.value) == f"unknown encoder 'resnet'; choose one of: {', '.join(ENCODERS.names())}"


def test_model_rebuilt_from_its_config_loads_its_weights():
    torch.manual_seed(0)
    config = ModelConfig(fusion="lowrank", encoders={"text": EncoderConfig("transformer", {"layers": 1})})
    model = build_model(SPECS, 3, config).eval()
    rebuilt = build_model(model.specs, model.num_classes, model.config).eval()
    rebuilt.load_state_dict(model.state_dict())
    batch = make_batch()
    with torch.no_grad():
        assert torch.equal(model(batch, {}), rebuilt(batch, {}))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_every_method_runs_on_cuda():
    batch = {name: x.cuda() for name, x in make_batch().items()}
    masks = {name: torch.tensor([True, False, True, True], device="cuda") for name in SPECS}
    for method in available_methods(list(SPECS)):
        model = build_model(SPECS, 3, ModelConfig(fusion=method)).cuda()
        logits = model(batch, masks)
        logits.sum().backward()
        assert logits.device.type == "cuda" and torch.isfinite(logits).all(), method
