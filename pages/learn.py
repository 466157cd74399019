"""Learn: the three families of fusion in one screen, then every method and score in detail, on demand."""

from __future__ import annotations

import json

import streamlit as st

from fusion_core.analysis.diagrams import family_svg, method_diagram
from fusion_core.analysis.glossary import BEGINNER_PATH, FAMILIES, FAMILY_ORDER, GLOSSARY
from fusion_core.analysis.interactions import PRESETS
from fusion_core.data.types import InputSpec
from fusion_core.errors import FusionExplorerError, user_message
from fusion_core.fusion import FUSIONS
from ui import cache, state
from ui.routing import use_app_navigation
from ui.widgets import plain, show_error

use_app_navigation()

DIAGRAM_DATASET_KEY = "learn_dataset"
# Within a family, simpler ideas first; methods not listed (a newly added one) follow in registry order.
TEACHING_ORDER = (
    "concat",
    "sum",
    "max",
    "product",
    "gated",
    "attention",
    "tensor",
    "lowrank",
    "film",
    "crossattn",
)
BASELINES_TAB = "Alone (the bar to clear)"


@st.cache_data(max_entries=128, show_spinner=False)
def _diagram(
    dataset_digest: str, specs_text: str, num_classes: int, method: str, types_text: str, task: str
) -> str:
    """DOT text of ``method`` built for these input shapes (cached by dataset and method)."""
    specs = {
        name: InputSpec(raw["form"], tuple(raw["shape"]), raw["vocab_size"])
        for name, raw in json.loads(specs_text).items()
    }
    return method_diagram(specs, num_classes, method, types=json.loads(types_text), task=task)


def _specs_text(specs: dict[str, InputSpec]) -> str:
    return json.dumps(
        {n: {"form": s.form, "shape": list(s.shape), "vocab_size": s.vocab_size} for n, s in specs.items()}
    )


def _dataset_options() -> dict[str, state.DatasetChoice]:
    """The app's current dataset first, then every sample dataset, by the label shown in the picker."""
    current = state.dataset_choice()
    options = {f"{current.label} (in use)": current}
    for info in cache.sample_infos():
        choice = state.sample_choice(info.name)
        if choice.digest != current.digest:
            options.setdefault(choice.label, choice)
    return options


def _shapes_for(choice: state.DatasetChoice) -> tuple[dict[str, InputSpec], int, dict[str, str], str] | None:
    """Input specs, class count and modality types of a dataset, as the current preprocessing makes them."""
    current = state.dataset_choice()
    try:
        if choice == current:
            edit = state.schema_edit()
            dataset = cache.load_current(choice, edit)
            preprocessing = state.model_choices().preprocessing
        else:
            edit = state.SchemaEdit()
            dataset = cache.original_dataset(choice)
            preprocessing = {}
        config_text = json.dumps(
            {"source": choice.config_source, "preprocessing": preprocessing}, sort_keys=True, default=str
        )
        specs = cache.input_specs(choice.digest, cache.schema_key(edit), config_text, dataset)
    except FusionExplorerError as exc:
        show_error(exc)
        return None
    types = {name: spec.type for name, spec in dataset.modalities.items()}
    return specs, len(dataset.class_names), types, dataset.task


def _method_section(name: str, cls: type, choice: state.DatasetChoice | None, shapes) -> None:
    """One method, folded: its text and its diagram are only built when the reader opens it."""
    shown_name = "only:<modality>" if cls.per_modality_baseline else name
    section = st.expander(
        f"{cls.title or name} · `{shown_name}`", key=f"learn_method_{name}", on_change="rerun"
    )
    with section:
        if not section.open:
            return
        st.markdown(f"**{cls.summary}**")
        text, picture = st.columns([1, 1])
        with text:
            if cls.how_it_works:
                st.markdown(f"**How it works.** {cls.how_it_works}")
            if cls.shapes:
                st.markdown("**Shapes.**")
                st.code(cls.shapes, language=None, wrap_lines=True)
            if cls.cost:
                st.markdown(f"**Cost.** {cls.cost}")
            if cls.when_to_use:
                st.markdown(f"**When to use it.** {cls.when_to_use}")
            if cls.reference:
                st.caption(f"Reference: {cls.reference}")
            if cls.no_regression:
                st.caption(f"Not for a number to predict (regression): {cls.no_regression}.")
        with picture:
            if shapes is None or choice is None:
                st.info("Pick a dataset that loads to see this method's diagram.")
                return
            specs, num_classes, types, task = shapes
            if task == "regression" and cls.no_regression:
                st.info("This method predicts classes only; pick a dataset with classes to see its diagram.")
                return
            try:
                dot = _diagram(
                    choice.digest,
                    _specs_text(specs),
                    num_classes,
                    name,
                    json.dumps(types, sort_keys=True),
                    task,
                )
            except FusionExplorerError as exc:
                st.info(f"Not drawn for this dataset: {plain(user_message(exc))}")
                return
            st.graphviz_chart(dot, width="content")


st.title("Learn")
st.markdown(
    "Data often describe one thing in several ways at once, say a photo *and* a table. Each way is a "
    "**modality**, and a fusion method decides **where** in the network the modalities meet. There are "
    "three families:"
)
columns = st.columns(len(FAMILY_ORDER), border=True)
for position, (column, family) in enumerate(zip(columns, FAMILY_ORDER, strict=True), start=1):
    path = BEGINNER_PATH[family]
    with column:
        st.markdown(f"**{position}. {path['title']}** · :gray[{FAMILIES[family]['title'].lower()}]")
        st.image(family_svg(family))
        st.markdown(path["sentence"])
        st.page_link(
            "pages/lab.py",
            label=path["try"],
            icon=":material/science:",
            query_params={"preset": path["preset"]},
            help=f"Opens the interaction lab on the '{PRESETS[path['preset']].title}' lesson: "
            f"{PRESETS[path['preset']].expected}.",
        )
st.caption(
    "The lab trains a few small models on synthetic data in seconds, so you can see each family win or "
    "lose. The names come from Baltrušaitis, Ahuja & Morency (2019)."
)

st.header("Go deeper")
st.markdown(
    "Every method the app knows, with the tensor shapes it would really have on a dataset of your choice, "
    "and what each score on the results pages means. Open what you want to read."
)
with st.expander("Reading the scores", key="learn_scores", icon=":material/rule:"):
    score_columns = st.columns(2)
    for index, entry in enumerate(GLOSSARY.values()):
        with score_columns[index % 2]:
            st.markdown(f"**{entry.term[:1].upper()}{entry.term[1:]}**: {entry.short}  \n{entry.text}")

options = _dataset_options()
picked = st.selectbox(
    "Draw the diagrams for this dataset",
    list(options),
    key=DIAGRAM_DATASET_KEY,
    help="Each diagram is the real model built for this dataset's inputs: the shapes and parameter counts "
    "change with the data. Picking a dataset here does not change the one the other pages use.",
)
choice = options.get(picked)
baselines = [(n, c) for n, c in FUSIONS.items() if c.per_modality_baseline]
methods = [(n, c) for n, c in FUSIONS.items() if not c.per_modality_baseline]
groups: dict[str, list[tuple[str, type]]] = {BASELINES_TAB: baselines} if baselines else {}
for position, family in enumerate(FAMILY_ORDER, start=1):
    members = [(n, c) for n, c in methods if c.level == family]
    members.sort(
        key=lambda item: TEACHING_ORDER.index(item[0]) if item[0] in TEACHING_ORDER else len(TEACHING_ORDER)
    )
    if members:
        groups[f"{position}. {FAMILIES[family]['title']}"] = members
others = [(n, c) for n, c in methods if c.level not in FAMILY_ORDER]
if others:
    groups["Other"] = others

tabs = st.tabs(list(groups), key="learn_family_tabs", on_change="rerun")
for tab, (group, members) in zip(tabs, groups.items(), strict=True):
    with tab:
        if not tab.open:
            continue
        if group == BASELINES_TAB:
            st.markdown(
                "Before fusing, train on each modality alone. A fusion method is only worth its cost if it "
                "beats the best of these baselines."
            )
        else:
            family = members[0][1].level
            st.markdown(FAMILIES.get(family, {}).get("text", ""))
        shapes = _shapes_for(choice) if choice is not None else None
        if shapes is not None:
            specs, num_classes, types, task = shapes
            target = "a number (regression)" if task == "regression" else f"{num_classes} classes"
            st.caption(
                "Diagrams drawn for: "
                + ", ".join(
                    f"**{name}** ({types.get(name, spec.form)}, {spec.form} {tuple(spec.shape)})"
                    for name, spec in specs.items()
                )
                + f" · {target} · default encoder for each input, embedding size 64"
            )
        for name, cls in members:
            _method_section(name, cls, choice, shapes)
