"""Results: one saved run in detail — scores, confusion matrix, per-class bars, curves, ROC, insight, robustness."""

from __future__ import annotations

import streamlit as st

from fusion_core import plots
from ui import cache, state
from ui.insight import render_insight_panel
from ui.robustness import render_robustness_panel
from ui.routing import use_app_navigation
from ui.widgets import (
    cli_command,
    guarded,
    metric_cards,
    pick_run,
    plain,
    repeat_command,
    run_store,
    stop_text,
)

use_app_navigation()

st.title("Results")
with st.expander("Import a run", icon=":material/upload:"):
    upload = st.file_uploader(
        "A run zip made with Download this run, or with fusion-explorer export",
        type=["zip"],
        key="results_import_file",
        help="Everything in it is checked before anything is saved: file names and sizes, no pickled code, "
        "and weights that fit the model its configuration builds.",
    )
    if upload is not None and st.button("Import", key="results_import", icon=":material/upload:"):
        imported = guarded(lambda: cache.import_run_zip(upload.getvalue(), upload.name))
        if imported is not None:
            state.set_selected_run(imported)
            st.success(f"Imported as run `{imported}`.", icon=":material/check:")
summaries = guarded(lambda: run_store().list())
if not summaries:
    st.info("No saved runs yet. Train a model on the Train page, or run the quick start on Home.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

run = pick_run(
    summaries,
    key="results_run",
    help="Every saved run, newest first; runs trained with the command line show up here too.",
)
if run is None:
    st.stop()

st.caption(
    f"{run.method} on {plain(run.dataset_name)} · seed {run.seed} · {run.epochs_run} epochs · "
    f"{run.params:,} parameters · {run.train_seconds:.1f} s on {run.device} · run id `{run.run_id}`  \n"
    f"{stop_text(run)}"
)
metric_cards(run.metrics, key="results_metrics")

if run.task == "regression":
    left, right = st.columns(2)
    left.plotly_chart(
        plots.predicted_vs_true_figure(run.y_true, run.y_pred), width="stretch", key="results_scatter"
    )
    right.plotly_chart(
        plots.residuals_figure(run.y_true, run.y_pred), width="stretch", key="results_residuals"
    )
    if run.history:
        st.plotly_chart(plots.training_curves_figure(run.history), width="stretch", key="results_curves")
else:
    left, right = st.columns(2)
    with left:
        normalize = st.toggle(
            "Show shares of each true class",
            key="results_cm_normalize",
            help="Off: how many test samples fall in each cell. On: each row divided by its total, so the "
            "diagonal is each class's recall.",
        )
        st.plotly_chart(
            plots.confusion_matrix_figure(
                run.metrics["confusion_matrix"], run.class_names, normalize=normalize
            ),
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
            plots.roc_figure(run.y_true, run.probabilities, run.class_names),
            width="stretch",
            key="results_roc",
        )

    st.subheader("Classification report")
    rows = [
        {"class": name, **{k: round(float(v), 4) if k != "support" else int(v) for k, v in scores.items()}}
        for name, scores in run.metrics["per_class"].items()
    ]
    st.dataframe(rows, hide_index=True, width="stretch", key="results_report")
with st.expander("Repeat this run from a terminal"):
    st.caption(
        "Save the run's configuration (every preprocessing, encoder, fusion and training option) and train "
        "from it; the same data and seed give the same metrics:"
    )
    st.code(repeat_command(run.run_id, state.runs_root()), language="bash")
    st.download_button(
        "Download the configuration (run-config.json)",
        data=run.config.to_json(),
        file_name="run-config.json",
        mime="application/json",
        key="results_config_download",
        icon=":material/download:",
    )
    st.caption("Or repeat its main choices with flags:")
    st.code(cli_command(run.config, state.runs_root()), language="bash")
packed = None if plots.is_classical(run.method) else guarded(lambda: cache.run_zip(run.run_id))
if packed is not None:
    st.download_button(
        "Download this run (zip)",
        data=packed,
        file_name=f"{run.run_id}.zip",
        mime="application/zip",
        key="results_export",
        icon=":material/download:",
        help="Configuration, weights (a plain state dict), fitted preprocessing, metrics and a model card; "
        "import it in another Fusion Explorer on its Results page or with fusion-explorer import.",
    )

insight, robustness = st.tabs(["Insight", "Robustness"], key="results_tabs")
with insight:
    render_insight_panel(run)
with robustness:
    render_robustness_panel(run, key="results_robustness")
