"""The interaction lab: the generator's designed properties, and what the trained methods read from it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import PolynomialFeatures

from fusion_core.analysis.interactions import (
    DISTRACTOR_DIMS,
    PRESETS,
    SIGNAL_DIMS,
    make_interaction_data,
    read_results,
    run_lab,
)
from fusion_core.errors import ConfigError


def _logistic_f1(data, features) -> float:
    train, test = data.splits.train.numpy(), data.splits.test.numpy()
    y = data.labels.numpy()
    model = LogisticRegression(max_iter=2000).fit(features[train], y[train])
    return f1_score(y[test], model.predict(features[test]), average="macro")


def _views(data):
    return data.modalities["A"].values.numpy(), data.modalities["B"].values.numpy()


def test_generator_shapes_splits_and_balance():
    data = make_interaction_data(synergy=1.0, n_samples=500, seed=3)
    assert list(data.modalities) == ["A", "B"]
    for modality in data.modalities.values():
        assert modality.form == "vector"
        assert tuple(modality.values.shape) == (500, SIGNAL_DIMS + DISTRACTOR_DIMS)
        assert bool(modality.present.all())
    assert data.num_classes == 2
    rows = np.concatenate([data.splits.train.numpy(), data.splits.val.numpy(), data.splits.test.numpy()])
    assert sorted(rows.tolist()) == list(range(500))
    assert len(data.splits.test) == 100 and len(data.splits.val) == 100
    share = data.labels.float().mean().item()
    assert 0.4 < share < 0.6
    test_share = data.labels[data.splits.test].float().mean().item()
    assert abs(test_share - share) < 0.02  # stratified


def test_generator_is_reproducible_and_seed_dependent():
    a = make_interaction_data(redundancy=1.0, n_samples=200, seed=1)
    b = make_interaction_data(redundancy=1.0, n_samples=200, seed=1)
    c = make_interaction_data(redundancy=1.0, n_samples=200, seed=2)
    assert np.array_equal(a.modalities["A"].values.numpy(), b.modalities["A"].values.numpy())
    assert a.content_hash == b.content_hash != c.content_hash
    assert not np.array_equal(a.modalities["A"].values.numpy(), c.modalities["A"].values.numpy())


def test_pure_synergy_is_invisible_to_each_modality_but_not_to_their_interaction():
    data = make_interaction_data(synergy=1.0, noise=0.3, n_samples=2000, seed=0)
    a, b = _views(data)
    both = np.concatenate([a, b], axis=1)
    assert _logistic_f1(data, a) < 0.6
    assert _logistic_f1(data, b) < 0.6
    assert _logistic_f1(data, both) < 0.6  # additive in A and B: still blind
    with_interactions = PolynomialFeatures(2, interaction_only=True, include_bias=False).fit_transform(both)
    assert _logistic_f1(data, with_interactions) > 0.9


def test_uniqueness_and_redundancy_put_the_signal_where_they_say():
    unique_a = make_interaction_data(uniqueness_a=1.0, n_samples=1500, seed=0)
    a, b = _views(unique_a)
    assert _logistic_f1(unique_a, a) > 0.95
    assert _logistic_f1(unique_a, b) < 0.6

    redundant = make_interaction_data(redundancy=1.0, n_samples=1500, seed=0)
    a, b = _views(redundant)
    assert _logistic_f1(redundant, a) > 0.95
    assert _logistic_f1(redundant, b) > 0.95
    # the same hidden amount r is the first dimension of both views
    assert np.corrcoef(a[:, 0], b[:, 0])[0, 1] > 0.8


def test_complementary_halves_add_up():
    data = make_interaction_data(uniqueness_a=1.0, uniqueness_b=1.0, noise=0.1, n_samples=2000, seed=0)
    a, b = _views(data)
    alone = max(_logistic_f1(data, a), _logistic_f1(data, b))
    together = _logistic_f1(data, np.concatenate([a, b], axis=1))
    assert 0.65 < alone < 0.85
    assert together > alone + 0.1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "all interaction weights are 0; give at least one of them a positive weight"),
        ({"synergy": -1.0}, "synergy must be a number of at least 0, got -1.0"),
        ({"synergy": 1.0, "noise": -0.5}, "noise must be a number of at least 0, got -0.5"),
        ({"synergy": 1.0, "n_samples": 10}, "the lab needs at least 100 samples, got 10"),
    ],
)
def test_generator_rejects_bad_settings(arguments, message):
    with pytest.raises(ConfigError) as caught:
        make_interaction_data(**arguments)
    assert str(caught.value) == message


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError) as caught:
        run_lab("xor")
    assert str(caught.value) == ("unknown interaction preset 'xor'; choose one of: " + ", ".join(PRESETS))


def test_every_preset_has_its_teaching_text():
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.title and preset.description and preset.expected
        assert sum(preset.weights.as_dict().values()) > 0


def test_reading_names_what_the_scores_show():
    synergy = read_results({"only:A": 0.5, "only:B": 0.48, "late": 0.5, "concat": 0.93})
    assert synergy.startswith("synergy:") and "late fusion (0.50), which cannot represent synergy" in synergy
    unique = read_results({"only:A": 0.97, "only:B": 0.51, "concat": 0.98, "late": 0.97})
    assert unique.startswith("uniqueness in A:")
    redundant = read_results({"only:A": 0.97, "only:B": 0.96, "concat": 0.98})
    assert redundant.startswith("redundancy:")
    complementary = read_results({"only:A": 0.75, "only:B": 0.74, "concat": 0.95, "late": 0.94})
    assert complementary.startswith("complementary information:")
    drowned = read_results({"only:A": 0.5, "only:B": 0.5, "concat": 0.52})
    assert drowned.startswith("no method beat chance")


@pytest.mark.slow
def test_lab_pure_synergy_needs_feature_level_fusion():
    result = run_lab("synergy", methods=("only:A", "only:B", "late", "concat", "tensor"))
    f1 = result.macro_f1
    assert f1["only:A"] <= 0.6 and f1["only:B"] <= 0.6
    assert max(f1["concat"], f1["tensor"]) >= 0.85
    assert f1["late"] <= 0.65
    assert result.reading.startswith("synergy:")


@pytest.mark.slow
def test_lab_uniqueness_in_a_makes_b_useless():
    result = run_lab("uniqueness-A", methods=("only:A", "only:B", "concat"))
    f1 = result.macro_f1
    assert abs(f1["only:A"] - f1["concat"]) <= 0.05
    assert f1["only:A"] >= 0.9
    assert f1["only:B"] <= 0.6
    assert result.reading.startswith("uniqueness in A:")
