"""Every registered fusion method, built through build_model on inputs of mixed forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fusion_core.config import ModelConfig
from fusion_core.data.types import InputSpec
from fusion_core.encoders import ENCODERS
from fusion_core.errors import ConfigError
from fusion_core.fusion import FAMILIES, FUSIONS, available_methods, create_fusion
from fusion_core.model import build_model
from fusion_core.options import describe_options

N, CLASSES = 6, 3
THREE = {
    "table": InputSpec("vector", (6,)),
    "image": InputSpec("grid", (1, 8, 8)),
    "text": InputSpec("tokens", (10,), vocab_size=20),
}
TWO = {"series": InputSpec("sequence", (12, 2)), "text": THREE["text"]}
CASES = [(method, "three") for method in available_methods(list(THREE))] + [
    (method, "two") for method in available_methods(list(TWO))
]
SPEC_SETS = {"three": THREE, "two": TWO}
WEIGHT_KEYS = ("attention", "gates", "weights")  # per-sample weights over modalities that sum to 1


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small run steadily on one thread; two can stall badly on a busy two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(specs: dict[str, InputSpec], n: int = N, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    batch = {}
    for name, spec in specs.items():
        if spec.form == "tokens":
            ids = torch.randint(1, spec.vocab_size, (n, *spec.shape), generator=generator)
            ids[:, 7:] = 0
            batch[name] = ids
        else:
            batch[name] = torch.randn((n, *spec.shape), generator=generator)
    return batch


def patchy_masks(names: list[str]) -> dict[str, torch.Tensor]:
    """Row 0: all present; 1: first absent; 2: only the last; 3: only the first; 4: none; 5: all."""
    m = len(names)
    rows = [[True] * m, [False] + [True] * (m - 1), [False] * (m - 1) + [True], [True] + [False] * (m - 1)]
    rows += [[False] * m, [True] * m]
    table = torch.tensor(rows)
    return {name: table[:, i] for i, name in enumerate(names)}


def scramble_absent(batch, masks, specs):
    """The batch with every absent sample's values replaced by other random values."""
    other = make_batch(specs, seed=1)
    return {
        name: torch.where(masks[name].view(-1, *[1] * (x.dim() - 1)), x, other[name])
        for name, x in batch.items()
    }


def build(method: str, specs: dict[str, InputSpec], seed: int = 0):
    torch.manual_seed(seed)
    return build_model(specs, CLASSES, ModelConfig(fusion=method, embedding_dim=16))


@pytest.mark.parametrize(("method", "specs"), CASES)
def test_fusion_gives_finite_logits(method, specs):
    model = build(method, SPEC_SETS[specs])
    out = model(make_batch(SPEC_SETS[specs]), {}, details=True)
    assert out.logits.shape == (N, CLASSES)
    assert torch.isfinite(out.logits).all()
    assert out.fused.shape == (N, model.fusion.fused_dim)


@pytest.mark.parametrize(("method", "specs"), CASES)
def test_absent_modalities_are_ignored(method, specs):
    specs = SPEC_SETS[specs]
    model = build(method, specs).eval()
    masks = patchy_masks(list(specs))
    batch = make_batch(specs)
    with torch.no_grad():
        logits = model(batch, masks)
        assert logits.shape == (N, CLASSES) and torch.isfinite(logits).all()
        # whatever an absent modality's tensor holds must not change the prediction
        assert torch.allclose(model(scramble_absent(batch, masks, specs), masks), logits, atol=1e-5)


@pytest.mark.parametrize(("method", "specs"), CASES)
def test_gradients_reach_every_encoder(method, specs):
    specs = SPEC_SETS[specs]
    model = build(method, specs).train()
    labels = torch.arange(N) % CLASSES
    output = model(make_batch(specs), {}, details=True)
    model.fusion.training_loss(output, labels, F.cross_entropy).backward()
    assert list(model.encoders) == ([method.split(":")[1]] if method.startswith("only:") else list(specs))
    for name, encoder in model.encoders.items():
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        if encoder.name == "flatten":
            continue  # early fusion's pass-through encoder has nothing to learn
        assert grads and any(g.abs().sum() > 0 for g in grads), f"no gradient reached the {name} encoder"


@pytest.mark.parametrize("method", available_methods(list(THREE)))
def test_state_dict_round_trips(method):
    model, copy = build(method, THREE, seed=0).eval(), build(method, THREE, seed=1).eval()
    copy.load_state_dict(model.state_dict())
    batch = make_batch(THREE)
    with torch.no_grad():
        assert torch.equal(model(batch, {}), copy(batch, {}))


@pytest.mark.parametrize("method", available_methods(list(THREE)))
def test_fusion_works_in_double_precision(method):
    model = build(method, THREE).double()
    batch = {k: v if v.dtype == torch.long else v.double() for k, v in make_batch(THREE).items()}
    assert model(batch, patchy_masks(list(THREE))).dtype == torch.float64


@pytest.mark.parametrize(("method", "specs"), CASES)
def test_insight_is_per_sample_and_per_modality(method, specs):
    specs = SPEC_SETS[specs]
    model = build(method, specs)
    masks = patchy_masks(list(specs))
    with torch.no_grad():
        out = model(make_batch(specs), masks, details=True)
    present = torch.stack([masks[name] for name in specs], dim=1)
    assert out.fused.shape == (N, model.fusion.fused_dim)
    for key, value in out.weights.items():
        assert value.shape[:2] == (N, len(specs)), key
        assert torch.isfinite(value).all(), key
        if key in WEIGHT_KEYS:
            some = present.any(dim=1)
            assert torch.allclose(value.sum(dim=1), torch.ones(N))
            assert (value[some][~present[some]] == 0).all(), f"{key} gives weight to an absent modality"
        if key == "cross_attention":
            assert (value.diagonal(dim1=1, dim2=2) == 0).all()
            looked_at_absent = value[present[:, :, None] & ~present[:, None, :]]
            assert (looked_at_absent == 0).all()


def test_methods_that_expose_weights_do_so():
    exposed = {}
    for method in ("attention", "gated", "late", "crossattn", "max"):
        model = build(method, THREE)
        exposed[method] = sorted(model(make_batch(THREE), {}, details=True).weights)
    assert exposed == {
        "attention": ["attention"],
        "gated": ["gates"],
        "late": ["probabilities", "weights"],
        "crossattn": ["cross_attention"],
        "max": ["share"],
    }


def test_late_fusion_combines_with_each_rule():
    batch = make_batch(THREE)
    for combine in ("mean", "weighted", "product"):
        torch.manual_seed(0)
        model = build_model(THREE, CLASSES, ModelConfig(fusion="late", fusion_options={"combine": combine}))
        out = model.eval()(batch, {}, details=True)
        log_probs = out.logits
        assert torch.allclose(log_probs.exp().sum(dim=1), torch.ones(N), atol=1e-5), combine
    per_modality = out.weights["probabilities"]
    expected = F.softmax(per_modality.log().sum(dim=1), dim=-1)  # product of experts, renormalised
    assert torch.allclose(log_probs.exp(), expected, atol=1e-5)


def test_the_experts_gate_never_shuts_an_expert_out_for_good():
    """However far the gate's scores run apart, every present expert keeps a share of the mixture
    and the gate still gets a gradient (which Adam scales up), so it can change its mind."""
    batch = make_batch(THREE)
    labels = torch.arange(N) % CLASSES
    torch.manual_seed(0)
    model = build_model(THREE, CLASSES, ModelConfig(fusion="experts")).eval()
    bias = model.fusion.gate[-1].bias
    with torch.no_grad():
        bias.copy_(torch.tensor([100.0, -100.0, -100.0]))
    out = model(batch, {}, details=True)
    gates = out.weights["gates"]
    assert gates.min() > 1e-4 and torch.allclose(gates.sum(dim=1), torch.ones(N))
    F.cross_entropy(out.logits, labels).backward()
    assert (bias.grad != 0).all()


@pytest.mark.parametrize("name", FUSIONS.names())
def test_method_teaches_itself(name):
    cls = FUSIONS.get(name)
    for attribute in ("title", "summary", "how_it_works", "shapes", "cost", "when_to_use", "reference"):
        assert isinstance(getattr(cls, attribute), str) and getattr(cls, attribute).strip(), attribute
    assert "\n" not in cls.summary
    assert any(str(year) in cls.reference for year in range(1990, 2031))
    assert cls.level in FAMILIES
    options = [info.name for info in describe_options(cls)]
    assert set(cls.option_help) == set(options), "every option needs plain-words help, and only options"


def test_available_methods_lists_baselines_per_modality():
    methods = available_methods(["image", "text"])
    assert methods[-2:] == ["only:image", "only:text"]
    assert set(methods[:-2]) == {name for name in FUSIONS.names() if name != "only"}
    assert methods.index("early") < methods.index("concat") < methods.index("late")
    assert available_methods(["image"]) == ["only:image"]


@pytest.mark.parametrize(
    ("name", "in_dims", "options", "message"),
    [
        ("concat", {"a": 4}, {}, "fusion 'concat' needs at least 2 modalities, got 1: a"),
        (
            "concat:a",
            {"a": 4, "b": 4},
            {},
            "fusion method 'concat' takes no ':<modality>' suffix; write 'concat'",
        ),
        (
            "only:c",
            {"a": 4, "b": 4},
            {},
            "fusion 'only' option modality='c' is not a modality; choose one of: a, b",
        ),
        (
            "film",
            {"a": 4, "b": 4},
            {"condition": "c"},
            "fusion 'film' option condition='c' is not a modality; choose one of: a, b",
        ),
        (
            "gated",
            {"a": 4, "b": 4},
            {"gate": 2},
            "fusion 'gated' has no option 'gate'; valid options: dim, absent, hidden, dropout",
        ),
        (
            "crossattn",
            {"a": 4, "b": 4},
            {"dim": 30},
            "fusion 'crossattn' option dim=30 must be divisible by heads=4",
        ),
        ("lowrank", {"a": 4, "b": 4}, {"rank": 0}, "fusion 'lowrank' option rank must be at least 1, got 0"),
        (
            "tensor",
            {m: 8 for m in "abcde"},
            {},
            "tensor fusion of 5 modalities with project_dim=16 makes 1419857 features; "
            "lower project_dim or use the 'lowrank' method",
        ),
    ],
)
def test_bad_fusion_choices_are_explained(name, in_dims, options, message):
    with pytest.raises(ConfigError) as error:
        create_fusion(name, in_dims, CLASSES, **options)
    assert str(error.value) == message


def test_film_conditions_on_the_chosen_modality():
    fusion = create_fusion("film", {"a": 4, "b": 5, "c": 6}, CLASSES, condition="b")
    assert fusion.condition == "b" and fusion.modulated == ["a", "c"]
    features = {"a": torch.randn(N, 4), "b": torch.randn(N, 5), "c": torch.randn(N, 6)}
    present = {name: torch.ones(N, dtype=torch.bool) for name in features}
    absent_condition = {**present, "b": torch.zeros(N, dtype=torch.bool)}
    fusion.eval()
    fused = fusion(features, absent_condition, details=True).fused
    unmodulated = torch.relu(torch.cat([fusion.project[m](features[m]) for m in ("a", "c")], dim=1))
    assert torch.allclose(fused, unmodulated, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# learning an interaction: the label is the XOR of two modalities, so neither alone says anything


def xor_data(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    directions = torch.randn(2, 4, generator=torch.Generator().manual_seed(99))  # the same for every split
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randint(0, 2, (2, n), generator=generator)
    inputs = {
        "left": (2.0 * a - 1).unsqueeze(1) * directions[0] + 0.3 * torch.randn(n, 4, generator=generator),
        "right": (2.0 * b - 1).unsqueeze(1) * directions[1] + 0.3 * torch.randn(n, 4, generator=generator),
    }
    return inputs, a ^ b


def train_and_score(method: str) -> float:
    specs = {"left": InputSpec("vector", (4,)), "right": InputSpec("vector", (4,))}
    torch.manual_seed(0)
    model = build_model(specs, 2, ModelConfig(fusion=method, embedding_dim=16))
    inputs, labels = xor_data(256, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        optimizer.zero_grad()
        model.fusion.training_loss(model(inputs, {}, details=True), labels, F.cross_entropy).backward()
        optimizer.step()
    test_inputs, test_labels = xor_data(512, seed=1)
    with torch.no_grad():
        predictions = model.eval()(test_inputs, {}).argmax(dim=1)
    return (predictions == test_labels).float().mean().item()


FUSING = [name for name in available_methods(["left", "right"]) if ":" not in name]


@pytest.mark.parametrize("method", FUSING)
def test_fusion_learns_an_interaction_exactly_when_it_says_so(method):
    """A method that declares it can represent interactions solves XOR; one that says it cannot, does not."""
    cls = FUSIONS.get(method)
    accuracy = train_and_score(method)
    if cls.learns_interactions:
        assert accuracy >= 0.9
    else:
        assert accuracy < 0.9
        assert "cannot" in cls.how_it_works and "interaction" in cls.how_it_works


@pytest.mark.parametrize("method", ["only:left", "only:right"])
def test_one_modality_alone_stays_at_chance_on_xor(method):
    assert 0.35 <= train_and_score(method) <= 0.65


@pytest.mark.parametrize(("method", "specs"), CASES)
def test_forward_is_pure_and_details_agree_with_logits(method, specs):
    """One model serves many callers: a forward leaves nothing behind, and details=True adds no change."""
    specs = SPEC_SETS[specs]
    model = build(method, specs).eval()
    batch, masks = make_batch(specs), patchy_masks(list(specs))
    before = dict(vars(model.fusion))
    with torch.no_grad():
        logits = model(batch, masks)
        out = model(batch, masks, details=True)
    assert torch.equal(logits, out.logits)
    assert out.fused.shape == (N, model.fusion.fused_dim)
    assert vars(model.fusion).keys() == before.keys()
    assert all(vars(model.fusion)[key] is value for key, value in before.items())


@pytest.mark.parametrize("name", FUSIONS.names())
def test_fusion_declares_its_contract(name):
    cls = FUSIONS.get(name)
    assert isinstance(cls.per_modality_baseline, bool)
    assert cls.fixed_encoder is None or cls.fixed_encoder in ENCODERS
    options = {info.name for info in describe_options(cls)}
    assert set(cls.head_options) <= options, "head options must be constructor options"


ABSENT_METHODS = [name for name in FUSIONS.names() if "absent" in FUSIONS.get(name).option_choices]


@pytest.mark.parametrize("method", ABSENT_METHODS)
def test_learned_absent_embedding_stands_in_for_a_missing_modality(method):
    options = {info.name: info for info in describe_options(FUSIONS.get(method))}
    assert options["absent"].choices == ("zeros", "learned") and options["absent"].default == "zeros"
    torch.manual_seed(0)
    config = ModelConfig(fusion=method, fusion_options={"absent": "learned"}, embedding_dim=16)
    model = build_model(THREE, CLASSES, config).train()
    masks, batch = patchy_masks(list(THREE)), make_batch(THREE)
    F.cross_entropy(model(batch, masks), torch.arange(N) % CLASSES).backward()
    learned = model.fusion.absent.embeddings
    assert all(learned[m].grad is not None and learned[m].grad.abs().sum() > 0 for m in learned)
    with torch.no_grad():
        for vector in learned.values():
            vector.add_(1.0)  # as if trained: absent rows now read a vector that is not zero
        model.eval()
        moved = model(batch, masks)
        assert torch.allclose(model(scramble_absent(batch, masks, THREE), masks), moved, atol=1e-5)
        zeros = build_model(THREE, CLASSES, ModelConfig(fusion=method, embedding_dim=16)).eval()
        zeros.load_state_dict({k: v for k, v in model.state_dict().items() if ".absent." not in k})
        with_zeros = zeros(batch, masks)
    assert torch.allclose(with_zeros[0], moved[0], atol=1e-5)  # row 0 has every modality
    assert not torch.allclose(with_zeros[1:5], moved[1:5], atol=1e-3)  # rows 1-4 miss some
