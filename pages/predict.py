"""Predict: apply a saved run to new samples, with the preprocessing it was trained with."""

from __future__ import annotations

import streamlit as st

from fusion_core import plots
from ui import cache, state
from ui.routing import use_app_navigation
from ui.widgets import guarded, metric_cards, pick_run, run_store

use_app_navigation()

st.title("Predict")
st.caption(
    "Use a trained run on new samples: the same columns, the preprocessing it learned (never re-fitted), "
    "and the same model. Labels are optional; with them you also get the scores."
)
summaries = guarded(lambda: run_store().list())
if not summaries:
    st.info("No saved runs yet. Train a model on the Train page, or import one on the Results page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

run = pick_run(summaries, key="predict_run", help="The trained run to predict with, newest first.")
if run is None:
    st.stop()
expected = guarded(lambda: cache.expected_inputs(run))
if expected is None:
    st.stop()

st.subheader("New samples")
st.caption("The run expects these modalities and columns (an id column is optional):")
st.dataframe(expected, hide_index=True, width="content", key="predict_expected")
uploads = st.file_uploader(
    "A bundle (.zip with manifest.csv), a CSV table, or per-modality files",
    accept_multiple_files=True,
    key="predict_upload",
    help="The same form as the data the run was trained on. A sample may lack a modality (an empty cell); "
    "it is then predicted from the others, as in training.",
)
if uploads:
    state.set_predict_upload(cache.save_upload([(f.name, f.getvalue()) for f in uploads]))
choice = state.predict_upload()
if choice is None:
    st.info("Upload new samples to predict them.")
    st.stop()

result = guarded(lambda: cache.predictions(run, choice))
if result is None:
    st.stop()

st.subheader("Predictions")
st.text(f"{len(result.table)} samples from {choice.label}")
for note in result.notes:  # they quote the user's labels: shown as plain text
    st.text(f"Note: {note}")
st.dataframe(result.table, hide_index=True, width="stretch", key="predict_table")
st.download_button(
    "Download the predictions (CSV)",
    data=result.to_csv(),
    file_name=f"predictions-{run.run_id}.csv",
    mime="text/csv",
    key="predict_download",
    icon=":material/download:",
)

if not result.class_names:  # a regression run: values, and how far they are from the targets given
    if result.metrics is not None:
        st.subheader("Scores against the targets given")
        metric_cards(result.metrics, key="predict_metrics")
        st.plotly_chart(
            plots.predicted_vs_true_figure(result.table["true"], result.table["predicted"]),
            width="stretch",
            key="predict_scatter",
        )
    st.stop()

st.subheader("Class probabilities of one sample")
ids = result.table["id"].tolist()
sample = st.selectbox(
    "Sample", ids, key="predict_sample", help="Pick a sample to see its probability per class."
)
row = result.table.iloc[ids.index(sample)]
st.bar_chart(
    {"class": result.class_names, "probability": [float(row[f"prob_{c}"]) for c in result.class_names]},
    x="class",
    y="probability",
)

if result.metrics is not None:
    st.subheader("Scores against the labels given")
    metric_cards(result.metrics, key="predict_metrics")
    st.plotly_chart(
        plots.confusion_matrix_figure(result.metrics["confusion_matrix"], result.class_names),
        width="stretch",
        key="predict_confusion",
    )
