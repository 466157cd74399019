"""The Learn page, the interaction lab and the insight panel, driven through the real app with AppTest."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fusion_core.analysis.glossary import BEGINNER_PATH, FAMILY_ORDER
from fusion_core.analysis.interactions import PRESETS
from fusion_core.fusion import FUSIONS
from fusion_core.samples import list_samples
from fusion_core.samples.base import write_png

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_learn_opens_with_the_three_families_and_a_lab_lesson_for_each():
    at = _open("pages/learn.py")
    links = [link for link in at.get("page_link") if link.proto.page == "lab"]
    assert len(links) == len(FAMILY_ORDER)
    presets = [link.proto.query_string for link in links]
    assert presets == [f"preset={BEGINNER_PATH[family]['preset']}" for family in FAMILY_ORDER]
    assert all(BEGINNER_PATH[family]["preset"] in PRESETS for family in FAMILY_ORDER)
    # One small picture per family; nothing per method is built until a reader opens it.
    pictures = [element.proto.imgs[0].url for element in at.image]
    assert len(pictures) == len(FAMILY_ORDER) and not at.get("graphviz_chart")
    assert not [m for m in at.markdown if m.value.startswith("**How it works.**")]


def test_a_try_it_link_opens_the_lab_on_its_lesson():
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.query_params["preset"] = "complementary"
    at.switch_page("pages/lab.py").run()
    assert not at.exception, at.exception
    assert at.session_state["lab_preset"] == "complementary"
    assert at.slider(key="lab_uniqueness_a").value == 1.0 and at.slider(key="lab_synergy").value == 0.0
    assert "preset" not in at.query_params  # set once: the sliders stay free to move
    assert [link.proto.label for link in at.get("page_link")] == ["Back to Learn"]  # the way back
    at.slider(key="lab_synergy").set_value(0.5).run()
    assert at.session_state["lab_preset"] is None


NUMBER_SAMPLES = {info.name for info in list_samples() if info.classes == 0}  # regression targets


@pytest.mark.parametrize("sample", [info.name for info in list_samples()])
def test_learn_page_explains_and_draws_every_method_when_opened(sample):
    at = _open("pages/learn.py")
    picker = at.selectbox(key="learn_dataset")
    picker.set_value(next(option for option in picker.options if option.split(" (")[0] == sample)).run()
    for name in FUSIONS:
        at.session_state[f"learn_method_{name}"] = True
    tabs = [tab.label for tab in at.tabs]
    titles, drawn, classes_only = [], 0, 0
    for label in tabs:
        at.session_state["learn_family_tabs"] = label
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        titles += [
            e.label for e in at.expander if e.label.startswith(tuple(c.title for _, c in FUSIONS.items()))
        ]
        drawn += len(at.get("graphviz_chart"))
        assert not [i.value for i in at.info if "Not drawn" in i.value], label
        classes_only += sum("predicts classes only" in i.value for i in at.info)
    for name, cls in FUSIONS.items():
        assert any(title.startswith(f"{cls.title} ") for title in titles), f"no section for {name}"
    # every method drawn once, in its own family's tab; for a number, those that predict classes only say so
    cannot = sum(bool(cls.no_regression) for _, cls in FUSIONS.items()) if sample in NUMBER_SAMPLES else 0
    assert classes_only == cannot and drawn == len(FUSIONS) - cannot
    at.session_state["learn_scores"] = True
    at.run()
    text = " ".join(m.value for m in at.markdown)
    for term in ("Precision", "Recall", "Macro-F1", "Confusion matrix"):
        assert f"**{term}**" in text


@pytest.mark.slow
def test_interaction_lab_trains_a_preset_end_to_end():
    at = _open("pages/lab.py")
    at.button(key="lab_preset_synergy").click().run()
    assert at.slider(key="lab_synergy").value == 1.0
    assert at.slider(key="lab_uniqueness_a").value == 0.0
    at.multiselect(key="lab_methods").set_value(["only:A", "only:B", "concat"]).run()
    at.button(key="lab_train").click().run()
    assert not at.exception, at.exception
    scores = {m.label: float(m.value) for m in at.metric}
    assert list(scores) == ["only:A", "only:B", "concat"]
    assert scores["only:A"] <= 0.6 and scores["only:B"] <= 0.6
    assert scores["concat"] >= 0.85
    assert any(i.value.startswith("synergy:") for i in at.info)
    assert at.get("plotly_chart")


def test_lab_sliders_have_help_and_a_zero_mix_cannot_train():
    at = _open("pages/lab.py")
    for slider in at.slider:
        assert slider.help, f"slider {slider.label} has no help"
    for key in ("lab_redundancy", "lab_uniqueness_a", "lab_uniqueness_b", "lab_synergy"):
        at.slider(key=key).set_value(0.0)
    at.run()
    assert at.button(key="lab_train").disabled
    assert any("All four weights are 0" in w.value for w in at.warning)


def _write_bundle(folder: Path) -> None:
    """Small images, a table and a caption per sample; the table decides the class."""
    rng = np.random.default_rng(0)
    n = 160
    (folder / "images").mkdir(parents=True)
    size = rng.standard_normal(n)
    labels = np.where(size > 0, "big", "small")
    for i in range(n):
        write_png(folder / "images" / f"p{i:03d}.png", rng.integers(0, 255, size=(8, 8), dtype=np.uint8))
    table = pd.DataFrame(
        {
            "id": [f"p{i:03d}" for i in range(n)],
            "label": labels,
            "photo": [f"images/p{i:03d}.png" for i in range(n)],
            "size": size.round(3),
            "weight": rng.standard_normal(n).round(3),
            "caption": [f"a photo of thing number {i % 7} on a table" for i in range(n)],
        }
    )
    table.to_csv(folder / "manifest.csv", index=False)


def test_results_page_shows_the_insight_panel(tmp_path: Path, monkeypatch):
    from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
    from fusion_core.experiment import run_experiment
    from fusion_core.runs import RunStore

    bundle = tmp_path / "bundle"
    _write_bundle(bundle)
    runs = tmp_path / "runs"
    config = ExperimentConfig(
        data=DataConfig(source=str(bundle)),
        model=ModelConfig(fusion="attention", embedding_dim=8),
        train=TrainConfig(epochs=3, batch_size=32, device="cpu"),
    )
    run = run_experiment(config, store=RunStore(runs))
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(runs))

    at = _open("pages/results.py")
    labels = [t.label for t in at.tabs]
    assert {"Insight", "Robustness"} <= set(labels)
    insight = labels.index("Insight")
    assert labels[insight + 1 : insight + 6] == [
        "Modality contribution",
        "Gradients",
        "Exposed weights",
        "Fused space",
        "Misclassified",
    ]
    notes = " ".join(m.value for m in at.markdown)
    assert "Hiding " in notes and "macro-F1" in notes  # the contribution note
    assert re.search(r"On average the attention weights (favour|are spread evenly)", notes)
    wrong = int((run.y_true != run.y_pred).sum())
    if wrong:
        assert at.get("image"), "the gallery shows no image of a misclassified sample"
        assert any("predicted" in m.value for m in at.markdown)
