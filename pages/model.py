"""Model: preprocessing and encoder per modality, then the fusion method that joins them."""

from __future__ import annotations

import json

import streamlit as st

from fusion_core.config import EncoderConfig, ModelConfig
from fusion_core.encoders import ENCODERS, compatible_encoders
from fusion_core.fusion import FUSIONS, available_methods, split_method
from fusion_core.modalities import MODALITIES
from ui import cache, state
from ui.forms import options_form
from ui.routing import use_app_navigation
from ui.widgets import current_dataset, guarded

use_app_navigation()

st.title("Model")
st.markdown(
    "Each modality is **preprocessed** into a tensor, an **encoder** turns that tensor into a vector of "
    "features, and the **fusion method** combines the vectors into one prediction."
)
dataset = current_dataset()
if dataset is None:
    st.stop()
running = state.job_running()
choice, edit = state.dataset_choice(), state.schema_edit()
saved = state.model_choices()
prefix = f"model:{choice.digest[:16]}:{dataset.content_hash[:8]}"

st.header("Fusion method")
methods = available_methods(list(dataset.modalities), dataset.task)
current = saved.model.fusion if saved.model.fusion in methods else state.default_fusion(methods)


def describe(name: str) -> str:
    cls = FUSIONS.get(split_method(name)[0])
    return f"{name} · {cls.title}" if cls.title else name


fusion = st.selectbox(
    "Fusion method",
    methods,
    index=methods.index(current),
    format_func=describe,
    key=f"{prefix}:fusion",
    disabled=running,
    persist_state="session",
    help="Where and how the modalities meet. 'only:<modality>' trains on that modality alone, as a baseline.",
)
fusion_cls = FUSIONS.get(split_method(fusion)[0])
st.markdown(f"**{fusion_cls.summary}**  \n{fusion_cls.how_it_works}")
st.caption(f"When to use: {fusion_cls.when_to_use}  \nReference: {fusion_cls.reference}")
with st.expander("Fusion options", expanded=False):
    fusion_options = options_form(
        fusion_cls,
        key_prefix=f"{prefix}:fusion:{split_method(fusion)[0]}",
        values=saved.model.fusion_options if fusion == saved.model.fusion else {},
        disabled=running,
        exclude=("modality",),
    )
fixed_encoder = fusion_cls.fixed_encoder
used = [split_method(fusion)[1]] if split_method(fusion)[1] else list(dataset.modalities)

st.header("Modalities")
if fixed_encoder:
    st.info(
        f"{fusion_cls.title} feeds each modality's tensor straight in ({fixed_encoder}); the encoders below "
        "are not used by this method.",
        icon=":material/info:",
    )
preprocessing: dict[str, dict] = {}
encoders: dict[str, EncoderConfig] = {}
for name, spec in dataset.modalities.items():
    modality_cls = MODALITIES.get(spec.type)
    with st.container(border=True, key=f"{prefix}:box:{name}"):
        title = f"**{name}** · {modality_cls.title or spec.type} · columns: {', '.join(spec.columns)}"
        st.markdown(title + ("" if name in used else "  \n:gray[not used by this method]"))
        left, right = st.columns(2)
        with left:
            st.markdown("Preprocessing", help=modality_cls.summary or None)
            if modality_cls.features_summary:
                st.caption(
                    f"Feature vector: {modality_cls.features_summary}. {modality_cls.features_measured}"
                )
            preprocessing[name] = options_form(
                modality_cls,
                key_prefix=f"{prefix}:pre:{name}",
                values=saved.preprocessing.get(name),
                disabled=running,
            )
        with right:
            data_text = json.dumps(
                {"source": choice.config_source, "preprocessing": preprocessing}, sort_keys=True
            )
            specs = guarded(
                lambda text=data_text: cache.input_specs(choice.digest, cache.schema_key(edit), text, dataset)
            )
            if specs is None:
                continue
            options = compatible_encoders(specs[name])
            previous = saved.model.encoders.get(name)
            encoder = st.selectbox(
                "Encoder",
                options,
                index=options.index(previous.name) if previous and previous.name in options else 0,
                format_func=lambda e: f"{e} · {ENCODERS.get(e).title}" if ENCODERS.get(e).title else e,
                key=f"{prefix}:enc:{name}",
                disabled=running or bool(fixed_encoder) or name not in used,
                persist_state="session",
                help=f"Encoders that can read a {specs[name].form} tensor of shape {specs[name].shape}; "
                "the first is the usual choice.",
            )
            st.caption(ENCODERS.get(encoder).summary)
            encoder_options = options_form(
                ENCODERS.get(encoder),
                key_prefix=f"{prefix}:enc:{name}:{encoder}",
                values=previous.options if previous and previous.name == encoder else None,
                disabled=running or bool(fixed_encoder) or name not in used,
            )
            encoders[name] = EncoderConfig(name=encoder, options=encoder_options)

model = ModelConfig(fusion=fusion, fusion_options=fusion_options, encoders=encoders)
state.set_model_choices(state.ModelChoices(preprocessing=preprocessing, model=model))

st.header("The model")
config_text = state.experiment_config().to_json()
summary = guarded(lambda: cache.model_summary(choice.digest, cache.schema_key(edit), config_text, dataset))
if summary is not None:
    params, diagram = summary
    st.metric(
        "Trainable parameters",
        f"{params:,}",
        help="Every weight training will adjust. More is not better on small data: it is more to overfit with.",
        border=True,
        width="content",
    )
    drawing = st.expander(
        "The model drawn layer by layer, with its real shapes",
        key="model_diagram_open",
        icon=":material/account_tree:",
        on_change="rerun",
    )
    with drawing:
        if drawing.open:  # drawn on demand: the diagram renderer made this page slow to switch to
            st.graphviz_chart(diagram, width="content")
st.page_link("pages/train.py", label="Train this model", icon=":material/model_training:")
