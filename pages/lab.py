"""Interaction lab: choose how the label depends on two modalities, train a few methods, see who wins and why."""

from __future__ import annotations

import streamlit as st

from fusion_core.analysis.glossary import LAB_HELP
from fusion_core.analysis.interactions import (
    CHANCE_F1,
    COMPONENTS,
    DEFAULT_METHODS,
    PRESETS,
    InteractionWeights,
    run_lab,
)
from fusion_core.errors import FusionExplorerError
from fusion_core.fusion import available_methods
from fusion_core.plots import lab_figure
from ui.jobs import job_queue
from ui.routing import use_app_navigation
from ui.widgets import show_error

use_app_navigation()

RESULT_KEY = "lab_result"
PRESET_KEY = "lab_preset"
FROM_LINK_KEY = "lab_preset_from_link"
LABELS = {
    "redundancy": "Redundancy",
    "uniqueness_a": "Uniqueness in A",
    "uniqueness_b": "Uniqueness in B",
    "synergy": "Synergy",
}


def _apply_preset(name: str) -> None:
    preset = PRESETS[name]
    for component, value in preset.weights.as_dict().items():
        st.session_state[f"lab_{component}"] = float(value)
    st.session_state["lab_noise"] = float(preset.noise)
    st.session_state["lab_n_samples"] = int(preset.n_samples)
    st.session_state[PRESET_KEY] = name


def _forget_preset() -> None:
    st.session_state[PRESET_KEY] = None
    st.session_state[FROM_LINK_KEY] = False


def _pick_preset(name: str) -> None:
    _apply_preset(name)
    st.session_state[FROM_LINK_KEY] = False


# A "try it" link (from the Learn page) names a lesson in the URL: set it once, then let the sliders move.
linked = st.query_params.get("preset")
if linked is not None:
    del st.query_params["preset"]
    if linked in PRESETS:
        _apply_preset(linked)
        st.session_state[FROM_LINK_KEY] = True
if f"lab_{COMPONENTS[0]}" not in st.session_state:
    _apply_preset("synergy")

st.title("Interaction lab")
if st.session_state.get(FROM_LINK_KEY):
    st.page_link("pages/learn.py", label="Back to Learn", icon=":material/arrow_back:")
st.markdown(
    "Whether fusion helps, and which fusion, depends on **how the label depends on the modalities**. "
    "Liang et al. (2023, *Quantifying & Modeling Multimodal Interactions*) split what two modalities tell "
    "about a label into **redundancy** (both carry it), **uniqueness** (only one carries it) and "
    "**synergy** (only the combination carries it, as in XOR). Here you set the mix, the lab draws "
    "synthetic data with two modalities, **A** and **B**, trains each method on it in seconds, and shows "
    "their macro-F1 side by side."
)
with st.expander("How the data are made"):
    st.markdown(
        "Each sample has five hidden signed amounts (a random sign, a size between 0.5 and 1.5): "
        "`r` is copied into both A and B, `u_a` is only in A, `u_b` only in B, and `s_a` (in A) with `s_b` "
        "(in B) form the synergy. The label is the sign of\n\n"
        "`redundancy·r + uniqueness_A·u_a + uniqueness_B·u_b + synergy·(s_a·s_b)`\n\n"
        "so under pure synergy the label is *do the signs of s_a and s_b agree?*: A alone and B alone are "
        "at chance. Each modality is its three amounts plus Gaussian noise, and five dimensions of pure "
        "noise. Only the ratios of the weights matter."
    )

st.subheader("Classic lessons")
preset_columns = st.columns(len(PRESETS))
for column, (name, preset) in zip(preset_columns, PRESETS.items(), strict=True):
    column.button(
        preset.title,
        key=f"lab_preset_{name}",
        on_click=_pick_preset,
        args=(name,),
        type="primary" if st.session_state.get(PRESET_KEY) == name else "secondary",
        help=f"{preset.description} Expect: {preset.expected}.",
        width="stretch",
    )
chosen = st.session_state.get(PRESET_KEY)
if chosen:
    st.info(
        f"**{PRESETS[chosen].title}**: {PRESETS[chosen].description} Expect: {PRESETS[chosen].expected}. "
        "Press **Train and compare** below to see it.",
        icon=":material/school:",
    )

st.subheader("Your mix")
left, right = st.columns(2)
weights = {}
for index, component in enumerate(COMPONENTS):
    column = left if index % 2 == 0 else right
    weights[component] = column.slider(
        LABELS[component],
        min_value=0.0,
        max_value=1.0,
        step=0.05,
        key=f"lab_{component}",
        help=LAB_HELP[component],
        on_change=_forget_preset,
    )
noise = left.slider(
    "Noise",
    min_value=0.0,
    max_value=1.5,
    step=0.05,
    key="lab_noise",
    help=LAB_HELP["noise"],
    on_change=_forget_preset,
)
n_samples = right.slider(
    "Samples",
    min_value=300,
    max_value=5000,
    step=100,
    key="lab_n_samples",
    help=LAB_HELP["n_samples"],
    on_change=_forget_preset,
)
methods = st.multiselect(
    "Methods to train",
    available_methods(["A", "B"]),
    default=list(DEFAULT_METHODS),
    key="lab_methods",
    help=LAB_HELP["methods"],
)
with st.expander("Training settings"):
    settings_left, settings_right = st.columns(2)
    epochs = settings_left.slider("Epochs", 5, 60, 20, key="lab_epochs", help=LAB_HELP["epochs"])
    seed = int(settings_right.number_input("Seed", 0, 10_000, 0, key="lab_seed", help=LAB_HELP["seed"]))

no_weight = sum(weights.values()) <= 0
if no_weight:
    st.warning(
        "All four weights are 0, so the label would not depend on the data: raise at least one of them."
    )
clicked = st.button(
    "Train and compare",
    key="lab_train",
    type="primary",
    icon=":material/play_arrow:",
    disabled=no_weight or not methods,
    help="Draw the data and train every chosen method on it, one after another (a few seconds).",
)

if clicked:
    try:
        with st.status("Training…", expanded=False) as status:
            progress = st.progress(0.0, text="waiting for a free worker")
            with job_queue().slot():  # the lab's few seconds count against the server's workers too

                def announce(done: int, total: int, method: str) -> None:
                    progress.progress(done / total, text=f"training {method} ({done + 1} of {total})")

                result = run_lab(
                    PRESETS[chosen] if chosen else InteractionWeights(**weights),
                    methods,
                    epochs=epochs,
                    seed=seed,
                    noise=noise,
                    n_samples=n_samples,
                    on_method=announce,
                )
            progress.progress(1.0, text="done")
            status.update(
                label=f"Trained {len(methods)} models in {sum(result.seconds.values()):.1f} s",
                state="complete",
            )
        st.session_state[RESULT_KEY] = result
    except FusionExplorerError as exc:
        show_error(exc)

result = st.session_state.get(RESULT_KEY)
if result is not None:
    st.subheader("Results")
    title = PRESETS[result.preset].title if result.preset in PRESETS else "your mix"
    mix = ", ".join(f"{LABELS[k].lower()} {v:g}" for k, v in result.weights.items() if v > 0)
    st.caption(
        f"On {title} ({mix}; noise {result.noise:g}; {result.n_samples} samples). Chance is about 0.5."
    )
    st.info(result.reading, icon=":material/lightbulb:")
    if result.expected:
        st.caption(f"What this lesson should show: {result.expected}.")
    metric_columns = st.columns(len(result.macro_f1))
    for column, (method, score) in zip(metric_columns, result.macro_f1.items(), strict=True):
        column.metric(
            method,
            f"{score:.2f}",
            help=f"macro-F1 on the test split; trained in {result.seconds[method]:.1f} s",
        )
    st.plotly_chart(lab_figure(result.macro_f1, chance=CHANCE_F1), width="stretch", key="lab_chart")
