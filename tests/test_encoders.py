"""Every registered encoder on every form it accepts: shapes, padding, options and errors."""

from __future__ import annotations

import math

import pytest
import torch

from fusion_core.data.types import FORMS, InputSpec
from fusion_core.encoders import ENCODERS, Encoder, compatible_encoders, create_encoder, default_encoder
from fusion_core.errors import ConfigError
from fusion_core.options import describe_options

N = 5
VALID_TOKENS = 5  # per row of the token batch, before the padding
SPECS = {
    "vector": InputSpec("vector", (10,)),
    "grid": InputSpec("grid", (1, 12, 10)),  # a spectrogram: 12 frequency bins, 10 frames
    "sequence": InputSpec("sequence", (15, 3)),
    "tokens": InputSpec("tokens", (12,), vocab_size=30),
}
CASES = [(name, form) for name, cls in ENCODERS.items() for form in sorted(cls.accepts)]
SEQUENCE_CASES = [(name, form) for name, form in CASES if ENCODERS.get(name).gives_sequence]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small run steadily on one thread; two can stall badly on a busy two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_input(spec: InputSpec, n: int = N, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if spec.form == "tokens":
        ids = torch.randint(1, spec.vocab_size, (n, *spec.shape), generator=generator)
        ids[:, VALID_TOKENS:] = 0
        ids[1, 2:] = 0  # a shorter text
        ids[2] = 0  # an empty text
        return ids
    return torch.randn((n, *spec.shape), generator=generator)


def accepts_option(name: str, option: str) -> bool:
    return any(info.name == option for info in describe_options(ENCODERS.get(name)))


@pytest.mark.parametrize(("name", "form"), CASES)
def test_encoder_gives_one_vector_per_sample(name, form):
    options = {"out_dim": 24} if accepts_option(name, "out_dim") else {}
    encoder = create_encoder(name, SPECS[form], **options)
    out = encoder(make_input(SPECS[form]))
    assert out.shape == (N, encoder.out_dim)
    assert torch.isfinite(out).all()
    if options:
        assert encoder.out_dim == 24


@pytest.mark.parametrize(("name", "form"), CASES)
def test_encoder_follows_the_module_dtype(name, form):
    encoder = create_encoder(name, SPECS[form]).double()
    x = make_input(SPECS[form])
    out = encoder(x if form == "tokens" else x.double())
    assert out.dtype == torch.float64


@pytest.mark.parametrize(("name", "form"), SEQUENCE_CASES)
def test_sequence_encoder_gives_steps_and_padding(name, form):
    spec = SPECS[form]
    encoder = create_encoder(name, spec, out_dim=16)
    x = make_input(spec)
    steps, padding = encoder.forward_sequence(x)
    if name == "transformer" and form == "grid":
        expected_steps = (12 // 4) * (10 // 4)  # 4×4 patches
    elif form == "grid":
        expected_steps = 10  # one step per frame
    else:
        expected_steps = spec.shape[0]
    assert steps.shape == (N, expected_steps, 16)
    assert padding.shape == (N, expected_steps) and padding.dtype == torch.bool
    if form == "tokens":
        assert torch.equal(padding, x == 0)
        assert (steps[padding] == 0).all()
    else:
        assert not padding.any()


@pytest.mark.parametrize("name", [name for name, form in SEQUENCE_CASES if form == "tokens"])
def test_padding_does_not_change_the_embedding(name):
    torch.manual_seed(0)
    encoder = create_encoder(name, SPECS["tokens"]).eval()
    padded = make_input(SPECS["tokens"])[[0, 3, 4]]  # rows with exactly VALID_TOKENS real tokens
    trimmed = padded[:, :VALID_TOKENS]
    with torch.no_grad():
        assert torch.allclose(encoder(padded), encoder(trimmed), atol=1e-5)
        steps, _ = encoder.forward_sequence(padded)
        trimmed_steps, _ = encoder.forward_sequence(trimmed)
    assert torch.allclose(steps[:, :VALID_TOKENS], trimmed_steps, atol=1e-5)


def test_bidirectional_recurrent_encoders_ignore_padding_too():
    for name in ("lstm", "gru"):
        encoder = create_encoder(name, SPECS["tokens"], bidirectional=True, layers=2).eval()
        padded = make_input(SPECS["tokens"])[[0, 3]]
        with torch.no_grad():
            full, short = encoder(padded), encoder(padded[:, :VALID_TOKENS])
        assert torch.allclose(full, short, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "options", "map_cells"),
    [
        ((1, 16, 16), {}, 4 * 4),  # stride 2 → 8×8, max-pool → 4×4: already the coarse map
        ((3, 64, 48), {}, 4 * 4),  # 32×24 → 16×12, averaged to 4×4
        ((1, 12, 10), {"first_stride": 1}, 3 * 2),  # max-pools: 6×5 → 3×2, smaller than the map
        ((1, 16, 16), {"pooled_size": 1}, 1),  # a global average
        ((1, 1, 7), {"blocks": 3}, 1 * 4),  # one row: never halved; its 7 columns averaged to 4
        ((2, 1, 1), {}, 1),  # a single cell
    ],
)
def test_cnn_keeps_a_coarse_map_of_any_grid(shape, options, map_cells):
    encoder = create_encoder("cnn", InputSpec("grid", shape), out_dim=8, **options)
    x = make_input(InputSpec("grid", shape))
    features = encoder.features(x)
    channels = 16 * 2 ** (options.get("blocks", 2) - 1)
    assert features.shape == (N, channels * map_cells)
    out = encoder(x)
    assert out.shape == (N, 8) and torch.isfinite(out).all()


def test_flatten_turns_tokens_into_word_counts():
    encoder = create_encoder("flatten", InputSpec("tokens", (5,), vocab_size=6))
    counts = encoder(torch.tensor([[3, 3, 5, 0, 0], [0, 0, 0, 0, 0]]))
    expected = torch.zeros(2, 6)
    expected[0, 3], expected[0, 5] = math.log(3), math.log(2)
    assert torch.allclose(counts, expected)


def test_flatten_passes_grids_through():
    x = make_input(SPECS["grid"])
    assert torch.equal(create_encoder("flatten", SPECS["grid"])(x), x.reshape(N, -1))


@pytest.mark.parametrize("form", FORMS)
def test_compatible_encoders_accept_the_form_and_start_with_the_default(form):
    names = compatible_encoders(SPECS[form])
    assert names[0] == default_encoder(SPECS[form])
    assert sorted(names) == sorted(name for name, cls in ENCODERS.items() if form in cls.accepts)


def test_default_encoders():
    assert {form: default_encoder(spec) for form, spec in SPECS.items()} == {
        "vector": "mlp",
        "grid": "cnn",
        "sequence": "cnn1d",
        "tokens": "cnn1d",
    }


def test_encoder_that_cannot_read_the_form_names_those_that_can():
    with pytest.raises(ConfigError) as error:
        create_encoder("cnn", SPECS["tokens"])
    assert str(error.value) == (
        "encoder 'cnn' cannot read a tokens input; encoders that fit: cnn1d, lstm, gru, transformer, flatten"
    )


def test_unknown_encoder_lists_the_registered_ones():
    with pytest.raises(ConfigError) as error:
        create_encoder("resnet", SPECS["grid"])
    assert str(error.value) == f"unknown encoder 'resnet'; choose one of: {', '.join(ENCODERS.names())}"


@pytest.mark.parametrize(
    ("name", "form", "options", "message"),
    [
        (
            "mlp",
            "vector",
            {"width": 3},
            "encoder 'mlp' has no option 'width'; valid options: hidden, layers, out_dim, dropout, linear_path",
        ),
        ("mlp", "vector", {"hidden": 0}, "encoder 'mlp' option hidden must be at least 1, got 0"),
        ("gru", "sequence", {"dropout": 1.5}, "encoder 'gru' option dropout must be in [0, 1), got 1.5"),
        (
            "cnn1d",
            "tokens",
            {"pool": "sum"},
            "encoder 'cnn1d' option pool='sum' is not allowed; choose one of: max, mean",
        ),
        (
            "transformer",
            "tokens",
            {"width": 30},
            "encoder 'transformer' option width=30 must be divisible by heads=4",
        ),
        ("cnn", "grid", {"first_stride": 3}, "encoder 'cnn' option first_stride must be 1 or 2, got 3"),
        ("cnn", "grid", {"pooled_size": 0}, "encoder 'cnn' option pooled_size must be at least 1, got 0"),
    ],
)
def test_bad_options_are_explained(name, form, options, message):
    with pytest.raises(ConfigError) as error:
        create_encoder(name, SPECS[form], **options)
    assert str(error.value) == message


def test_options_given_as_text_are_converted():
    encoder = create_encoder("lstm", SPECS["sequence"], hidden="8", bidirectional="true")
    assert encoder.hidden == 8 and encoder.bidirectional


def test_tokens_without_a_vocabulary_are_refused():
    with pytest.raises(ConfigError, match="^a tokens input needs a vocabulary size; prepare the text"):
        create_encoder("cnn1d", InputSpec("tokens", (12,)))


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_teaches_itself(name):
    cls = ENCODERS.get(name)
    assert cls.title and cls.summary and cls.__doc__ and len(cls.__doc__) > 100
    assert cls.accepts and cls.accepts <= set(FORMS)
    options = [info.name for info in describe_options(cls)]
    assert set(cls.option_help) == set(options), "every option needs plain-words help, and only options"
    if cls.gives_sequence:
        assert cls.forward_sequence is not Encoder.forward_sequence
