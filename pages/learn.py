"""Learn: the three families of fusion, every registered method with its diagram, and how to read the scores."""

from __future__ import annotations

import json

import streamlit as st

from fusion_core.analysis.diagrams import family_overview, method_diagram
from fusion_core.analysis.glossary import FAMILIES, FAMILY_ORDER, GLOSSARY
from fusion_core.data.types import InputSpec
from fusion_core.errors import FusionExplorerError, user_message
from fusion_core.fusion import FUSIONS
from ui import cache, state
from ui.routing import use_app_navigation
from ui.widgets import plain, show_error

use_app_navigation()

DIAGRAM_DATASET_KEY = "learn_dataset"
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
"""Within a family, simpler ideas first; methods not listed (a newly added one) follow in registry order."""


@st.cache_data(max_entries=128, show_spinner=False)
def _diagram(dataset_digest: str, specs_text: str, num_classes: int, method: str, types_text: str) -> str:
    """DOT text of ``method`` built for these input shapes (cached by dataset and method)."""
    specs = {
        name: InputSpec(raw["form"], tuple(raw["shape"]), raw["vocab_size"])
        for name, raw in json.loads(specs_text).items()
    }
    return method_diagram(specs, num_classes, method, types=json.loads(types_text))


def _specs_text(specs: dict[str, InputSpec]) -> str:
    return json.dumps(
        {n: {"form": s.form, "shape": list(s.shape), "vocab_size": s.vocab_size} for n, s in specs.items()}
    )


def _dataset_options() -> dict[str, state.DatasetChoice]:
    """The app's current dataset first, then every sample dataset."""
    current = state.dataset_choice()
    options = {current.digest: current}
    for info in cache.sample_infos():
        choice = state.sample_choice(info.name)
        options.setdefault(choice.digest, choice)
    return options


def _shapes_for(choice: state.DatasetChoice) -> tuple[dict[str, InputSpec], int, dict[str, str]] | None:
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
    return specs, len(dataset.class_names), types


st.title("Learn")
st.markdown(
    "A fusion method decides **where** in the network the modalities meet. The literature names three "
    "families, from the raw data to the final decision (Baltrušaitis, Ahuja & Morency, 2019). Read them in "
    "order: each one trades the interactions it can learn against robustness and cost. Below, every method "
    "this app knows is explained and drawn as it would be built for a dataset of your choice, with the real "
    "tensor shapes and parameter counts."
)
st.graphviz_chart(family_overview(), width="stretch")
columns = st.columns(len(FAMILY_ORDER))
for position, (column, family) in enumerate(zip(columns, FAMILY_ORDER, strict=True), start=1):
    column.markdown(f"**{position}. {FAMILIES[family]['title']}**")
    column.markdown(FAMILIES[family]["text"])

st.header("Reading the scores")
st.caption("Every page that shows results uses these measures, computed on the test split.")
score_columns = st.columns(2)
for index, entry in enumerate(GLOSSARY.values()):
    with score_columns[index % 2].expander(f"{entry.term[:1].upper()}{entry.term[1:]}: {entry.short}"):
        st.markdown(entry.text)

st.header("The methods")
options = _dataset_options()
picked = st.selectbox(
    "Draw the diagrams for this dataset",
    list(options),
    format_func=lambda digest: (
        options[digest].label + (" (in use)" if digest == state.dataset_choice().digest else "")
    ),
    key=DIAGRAM_DATASET_KEY,
    help="Each diagram is the real model built for this dataset's inputs: the shapes and parameter counts "
    "change with the data. Picking a dataset here does not change the one the other pages use.",
)
shapes = _shapes_for(options[picked])
if shapes is not None:
    specs, num_classes, types = shapes
    st.caption(
        "Inputs: "
        + ", ".join(
            f"**{name}** ({types.get(name, spec.form)}, {spec.form} {tuple(spec.shape)})"
            for name, spec in specs.items()
        )
        + f" · {num_classes} classes · default encoder for each input, embedding size 64"
    )


def _method_section(name: str, cls: type) -> None:
    with st.container(border=True, key=f"learn_method_{name}"):
        shown_name = "only:<modality>" if cls.per_modality_baseline else name
        st.markdown(f"#### {cls.title or name}")
        family = FAMILIES.get(cls.level, {}).get("title", cls.level)
        st.markdown(f"`{shown_name}` · {family.lower()}  \n**{cls.summary}**")
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
        with picture:
            if shapes is None:
                st.info("Pick a dataset that loads to see this method's diagram.")
                return
            try:
                dot = _diagram(
                    picked, _specs_text(specs), num_classes, name, json.dumps(types, sort_keys=True)
                )
            except FusionExplorerError as exc:
                st.info(f"Not drawn for this dataset: {plain(user_message(exc))}")
                return
            st.graphviz_chart(dot, width="content")


baselines = [(n, c) for n, c in FUSIONS.items() if c.per_modality_baseline]
methods = [(n, c) for n, c in FUSIONS.items() if not c.per_modality_baseline]
if baselines:
    st.subheader("The bar to clear: one modality alone", divider="gray")
    st.markdown(
        "Before fusing, train on each modality alone. A fusion method is only worth its cost if it beats "
        "the best of these baselines."
    )
    for name, cls in baselines:
        _method_section(name, cls)
for position, family in enumerate(FAMILY_ORDER, start=1):
    members = [(n, c) for n, c in methods if c.level == family]
    members.sort(
        key=lambda item: TEACHING_ORDER.index(item[0]) if item[0] in TEACHING_ORDER else len(TEACHING_ORDER)
    )
    if not members:
        continue
    st.subheader(f"{position}. {FAMILIES[family]['title']}", divider="gray")
    st.markdown(FAMILIES[family]["text"])
    for name, cls in members:
        _method_section(name, cls)
others = [(n, c) for n, c in methods if c.level not in FAMILY_ORDER]
for name, cls in others:
    _method_section(name, cls)

st.page_link(
    "pages/lab.py", label="Try the interaction lab: when does fusion help?", icon=":material/science:"
)
