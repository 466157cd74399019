"""Data: pick a sample or upload your own, read the report, look at each modality, fix the schema."""

from __future__ import annotations

import streamlit as st

from fusion_core.errors import FusionExplorerError
from ui import cache, state
from ui.routing import use_app_navigation
from ui.widgets import guarded, preview_modality, report_view, schema_editor, show_error

use_app_navigation()

UPLOAD_KEY = "data_upload"
UPLOAD_TYPES = ["zip", "csv", "png", "jpg", "jpeg", "bmp", "gif", "tif", "wav", "flac", "ogg", "npy"]


def on_upload() -> None:
    """Copy the files out of the widget (its value vanishes on a page switch) and load them."""
    files = st.session_state.get(UPLOAD_KEY) or []
    if not isinstance(files, list):
        files = [files]
    if not files:
        return
    choice = cache.save_upload([(f.name, f.getvalue()) for f in files])
    try:
        cache.original_dataset(choice)
    except FusionExplorerError as exc:
        st.session_state[state.UPLOAD_ERROR] = str(exc)
        return
    st.session_state[state.UPLOAD_ERROR] = None
    state.set_dataset_choice(choice)


def on_sample() -> None:
    if st.session_state["data_sample"] is None:
        return
    state.set_dataset_choice(state.sample_choice(st.session_state["data_sample"]))
    st.session_state[state.UPLOAD_ERROR] = None


st.title("Data")
running = state.job_running()
choice = state.dataset_choice()
samples = {info.name: info for info in cache.sample_infos()}

pick, upload = st.tabs(["Sample datasets", "Upload your own"], key="data_source_tabs")
with pick:
    names = list(samples)
    st.selectbox(
        "Sample dataset",
        names,
        index=names.index(choice.source) if choice.kind == "sample" and choice.source in names else None,
        placeholder="Pick a sample dataset",
        format_func=lambda name: samples[name].title or name,
        key="data_sample",
        on_change=on_sample,
        disabled=running,
        help="Small datasets generated on this machine, each built to teach one lesson about fusion.",
    )
    if choice.kind == "sample" and choice.source in samples:
        st.caption(samples[choice.source].lesson)
with upload:
    st.file_uploader(
        "A bundle (.zip with manifest.csv), or one file per modality paired by id",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=UPLOAD_KEY,
        on_change=on_upload,
        disabled=running,
        help="A zip holding manifest.csv (one row per sample, a 'label' column), an optional schema.json "
        "and media folders; or several files: CSV tables with a shared 'id' column plus a zip of media "
        "files per modality named <id>.<ext>. Up to 500 MB per file.",
    )
upload_error = st.session_state.get(state.UPLOAD_ERROR)
if upload_error:
    # Only the error: the report below it would belong to the dataset from before, not to this upload.
    st.error(f"That upload could not be used: {upload_error}", icon=":material/error:")
    if st.button(
        "Dismiss",
        key="data_upload_dismiss",
        icon=":material/close:",
        help="Hide this message and show the dataset the other pages still use.",
    ):
        st.session_state[state.UPLOAD_ERROR] = None
        st.rerun()
    st.stop()

dataset = guarded(lambda: cache.load_current(choice, state.schema_edit()))
if dataset is None:
    st.stop()

st.header(f"Report: {dataset.name}")
report_view(cache.report(choice, state.schema_edit(), dataset), key="data_report")

st.header("Look at the data")
# The table and each modality's preview are drawn only when opened: pictures, clips and charts of
# every modality at once made this page slow to switch to.
manifest = st.expander("The table: first rows of manifest.csv", key="data_manifest_open", on_change="rerun")
with manifest:
    if manifest.open:
        st.dataframe(dataset.table.head(20), hide_index=True, width="stretch", key="data_manifest")
preprocessing = state.model_choices().preprocessing
tabs = st.tabs(
    [f"{name} ({spec.type})" for name, spec in dataset.modalities.items()],
    key="data_preview_tabs",
    on_change="rerun",
)
for tab, (name, spec) in zip(tabs, dataset.modalities.items(), strict=True):
    with tab:
        if tab.open:
            preview_modality(dataset, spec, key=f"data_preview_{name}", audio_options=preprocessing.get(name))

st.header("Correct what was guessed")
st.markdown(
    "Which columns form which modality was read from `schema.json` or guessed from the values. Move a column "
    "to another modality or type, pick the label column, or leave a column out; then apply."
)
edit = schema_editor(dataset, key="data_schema", disabled=running)
if edit is not None:
    try:
        cache.load_current(choice, edit)
    except FusionExplorerError as exc:
        show_error(exc)
    else:
        state.set_schema_edit(edit)
        st.rerun()
if not state.schema_edit().is_empty() and st.button(
    "Undo all corrections",
    key="data_schema_reset",
    disabled=running,
    help="Go back to the schema the bundle came with (or that was guessed).",
):
    state.set_schema_edit(state.SchemaEdit())
    st.rerun()
