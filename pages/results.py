"""Results: one saved run in detail — scores, confusion matrix, per-class bars, curves, ROC, insight."""

from __future__ import annotations

import streamlit as st

from fusion_core import plots
from ui import state
from ui.insight import render_insight_panel
from ui.routing import use_app_navigation
from ui.widgets import cli_command, guarded, load_run, metric_cards, run_store, stop_text

use_app_navigation()

st.title("Results")
summaries = guarded(lambda: run_store().list())
if not summaries:
    st.info("No saved runs yet. Train a model on the Train page, or run the quick start on Home.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

labels = {row["run_id"]: f"{row['label']} · {row['dataset']} · {row['created']}" for row in summaries}
run_ids = list(labels)
wanted = state.selected_run()
run_id = st.selectbox(
    "Run",
    run_ids,
    index=run_ids.index(wanted) if wanted in labels else 0,
    format_func=labels.get,
    key="results_run",
    help="Every saved run, newest first; runs trained with the command line show up here too.",
)
state.set_selected_run(run_id)
run = guarded(lambda: load_run(run_id))
if run is None:
    st.stop()

st.caption(
    f"{run.method} on {run.dataset_name} · seed {run.seed} · {run.epochs_run} epochs · "
    f"{run.params:,} parameters · {run.train_seconds:.1f} s on {run.device} · run id `{run.run_id}`  \n"
    f"{stop_text(run)}"
)
metric_cards(run.metrics, key="results_metrics")

left, right = st.columns(2)
with left:
    normalize = st.toggle(
        "Show shares of each true class",
        key="results_cm_normalize",
        help="Off: how many test samples fall in each cell. On: each row divided by its total, so the "
        "diagonal is each class's recall.",
    )
    st.plotly_chart(
        plots.confusion_matrix_figure(run.metrics["confusion_matrix"], run.class_names, normalize=normalize),
        width="stretch",
        key="results_confusion",
    )
with right:
    st.plotly_chart(
        plots.per_class_metrics_figure(run.metrics["per_class"]), width="stretch", key="results_per_class"
    )

if run.history:
    st.plotly_chart(plots.training_curves_figure(run.history), width="stretch", key="results_curves")
if run.probabilities is not None and len(run.probabilities):
    st.plotly_chart(
        plots.roc_figure(run.y_true, run.probabilities, run.class_names), width="stretch", key="results_roc"
    )

st.subheader("Classification report")
rows = [
    {"class": name, **{k: round(float(v), 4) if k != "support" else int(v) for k, v in scores.items()}}
    for name, scores in run.metrics["per_class"].items()
]
st.dataframe(rows, hide_index=True, width="stretch", key="results_report")
with st.expander("Repeat this run from a terminal"):
    st.code(cli_command(run.config, state.runs_root()), language="bash")
    st.caption(
        f"The full configuration, including preprocessing and encoder options, is saved in "
        f"`{run_store().folder(run.run_id) / 'config.json'}`."
    )

st.header("Insight")
render_insight_panel(run)
