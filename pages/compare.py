"""Compare: several saved runs side by side — scores with error bars, gains, cost, per-class F1, curves, robustness."""

from __future__ import annotations

import streamlit as st

from fusion_core import plots
from fusion_core.stats import comparison_statistics, noise_verdict, statistics_rows
from fusion_core.tuning import list_studies
from ui import state
from ui.robustness import render_robustness_overlay
from ui.routing import use_app_navigation
from ui.widgets import forget_runs, guarded, load_run, run_rows, run_store

use_app_navigation()

st.title("Compare")
store = run_store()
summaries = guarded(store.list)
if not summaries:
    st.info("No saved runs yet. Run the quick start on Home, or 'Train and compare' on the Train page.")
    st.stop()

datasets = list(dict.fromkeys(row["dataset"] for row in summaries))
current = state.dataset_choice()
dataset_name = st.selectbox(
    "Dataset",
    datasets,
    index=next((i for i, name in enumerate(datasets) if name == current.label), 0),
    key="compare_dataset",
    help="Runs are only comparable on the same data; pick which dataset's runs to look at.",
)
rows = [row for row in run_rows(summaries) if row["dataset"] == dataset_name]
loaded = {row["run_id"]: guarded(lambda run_id=row["run_id"]: load_run(run_id)) for row in rows}
for row in rows:
    run = loaded[row["run_id"]]  # None where the run could not be read (guarded says why)
    row["stopped"] = None if run is None else run.stopped
    # A regression run is ranked by R² (kept in its metrics, not in the run index).
    row["r2"] = None if run is None else run.metrics.get("r2")
regression = any(row["r2"] is not None for row in rows)
metric = "r2" if regression else "macro_f1"
by_id = {row["run_id"]: row for row in rows}
finished = [run_id for run_id, row in by_id.items() if row["stopped"] != "cancelled"]
chosen = st.multiselect(
    "Runs",
    list(by_id),
    default=finished or list(by_id),
    format_func=lambda run_id: (
        f"{by_id[run_id]['label']} · {str(by_id[run_id]['created'])[5:16].replace('T', ' ')}"
    ),
    key=f"compare_runs_{dataset_name}",
    help="Every saved run on this dataset, from the app or the command line. Runs stopped by hand are "
    "left out at first: they would pull their method's average down.",
)
picked = [by_id[run_id] for run_id in chosen]
if not picked:
    st.info("Pick at least one run.")
    st.stop()

if any(plots.is_classical(row["method"]) for row in picked):
    st.caption(
        "Orange bars are classical baselines (sk:): scikit-learn models on each modality's feature vector, "
        "fitted on the same training split. The dashed line marks the best of them: a neural method "
        "below it does not beat a strong simple model."
    )
runs = [loaded[row["run_id"]] for row in picked if loaded[row["run_id"]] is not None]
statistics = comparison_statistics(runs)
intervals = {
    method: (found["vs_best_unimodal"].low, found["vs_best_unimodal"].high)
    for method, found in statistics.items()
    if found["vs_best_unimodal"] is not None
}
st.plotly_chart(
    plots.method_scores_figure(picked, metric=metric),
    width="stretch",
    key="compare_scores",
)
st.plotly_chart(
    plots.gain_over_baseline_figure(picked, metric=metric, intervals=intervals),
    width="stretch",
    key="compare_gain",
)
if statistics:
    st.subheader("Differences beyond noise?")
    st.info(noise_verdict(statistics), icon=":material/balance:")
    st.dataframe(
        statistics_rows(statistics),
        hide_index=True,
        width="stretch",
        key="compare_statistics",
        column_config={
            "vs_best_unimodal": st.column_config.TextColumn(
                "vs best single modality [95 % interval]",
                help="Mean paired difference in macro-F1 over the runs that share a seed and split, with "
                "a 95 % paired-bootstrap interval (seeds and test rows resampled). * : the interval "
                "excludes zero, a difference beyond noise.",
            ),
            "vs_best": st.column_config.TextColumn(
                "vs best method [95 % interval]",
                help="The same against the method with the best mean macro-F1.",
            ),
            "pairs": st.column_config.NumberColumn(
                "pairs", help="Runs paired by seed and split; more pairs give narrower intervals."
            ),
        },
    )
left, right = st.columns(2)
left.plotly_chart(
    plots.efficiency_figure(picked, x="params", metric=metric), width="stretch", key="compare_params"
)
right.plotly_chart(
    plots.efficiency_figure(picked, x="train_seconds", metric=metric), width="stretch", key="compare_time"
)

if runs:
    if not regression:
        scores = plots.mean_per_class_f1([(run.method, run.metrics["per_class"]) for run in runs])
        st.plotly_chart(
            plots.per_class_heatmap_figure(scores, runs[0].class_names),
            width="stretch",
            key="compare_heatmap",
        )
    histories = {run.label: run.history for run in runs if run.history}  # sk: baselines have no epochs
    if histories:
        st.plotly_chart(
            plots.training_curves_figure(histories, title="Validation curves"),
            width="stretch",
            key="compare_curves",
        )

    st.subheader("Robustness")
    render_robustness_overlay(runs)

st.subheader("All picked runs")
st.dataframe(
    picked,
    hide_index=True,
    width="stretch",
    key="compare_table",
    column_order=[
        "label",
        "method",
        "seed",
        metric,
        *(() if regression else ("accuracy",)),
        "params",
        "train_seconds",
        "epochs_run",
        "stopped",
        "created",
        "run_id",
    ],
    column_config={
        "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
        "r2": st.column_config.NumberColumn("R²", format="%.3f"),
        "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
        "train_seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
        "epochs_run": st.column_config.NumberColumn("epochs"),
        "stopped": st.column_config.TextColumn(
            "ended by",
            help="completed: reached the epoch cap; early_stopping: validation macro-F1 stopped "
            "improving; time_budget: the time budget ran out; cancelled: stopped by hand",
        ),
    },
)

studies = guarded(lambda: list_studies(store.root, dataset=dataset_name, workspace=store.workspace)) or []
if studies:
    st.subheader("Tuning")
    sessions = list(dict.fromkeys(study.session for study in studies))
    session = st.selectbox(
        "Tuned comparison",
        sessions,
        key=f"compare_tuning_{dataset_name}",
        help="Each tuned comparison searched every method's settings for the same number of trials.",
    )
    chosen_studies = [study for study in studies if study.session == session]
    st.plotly_chart(plots.tuning_history_figure(chosen_studies), width="stretch", key="compare_tuning")
    st.dataframe(
        [
            {
                "method": study.method,
                "trials": len(study.values),
                "best validation macro-F1": study.best_value,
                **study.best_params,
            }
            for study in chosen_studies
        ],
        hide_index=True,
        width="stretch",
        key="compare_tuning_table",
    )

st.subheader("Rename or delete")
left, right = st.columns(2)
with left:
    target = st.selectbox(
        "Run to rename",
        chosen,
        format_func=lambda run_id: by_id[run_id]["label"],
        key="compare_rename_run",
        help="Labels are only names; the run id and the files stay the same.",
    )
    new_label = st.text_input(
        "New label", key="compare_rename_label", help="A name that says what the run was for."
    )
    renamed = st.button(
        "Rename",
        key="compare_rename",
        disabled=not new_label.strip(),
        icon=":material/edit:",
        help="Give the picked run the new label.",
    )
    if renamed and guarded(lambda: store.rename(target, new_label.strip()) or True):
        forget_runs()
        st.rerun()
with right:
    doomed = st.multiselect(
        "Runs to delete",
        chosen,
        format_func=lambda run_id: by_id[run_id]["label"],
        key="compare_delete_runs",
        help="Deleting removes the run's folder (model, predictions, metrics) for good.",
    )
    if st.button(
        "Delete…",
        key="compare_delete",
        disabled=not doomed,
        icon=":material/delete:",
        help="Asks once more before anything is removed.",
    ):
        st.session_state["compare_confirm_delete"] = list(doomed)
    pending = st.session_state.get("compare_confirm_delete")
    if pending:
        st.warning(
            f"Delete {len(pending)} run(s) for good? This cannot be undone.", icon=":material/warning:"
        )
        yes, no = st.columns(2)
        if yes.button("Yes, delete", key="compare_delete_yes", type="primary"):
            for run_id in pending:
                guarded(lambda run_id=run_id: store.delete(run_id))
            st.session_state["compare_confirm_delete"] = None
            forget_runs()
            st.rerun()
        if no.button("Cancel", key="compare_delete_no"):
            st.session_state["compare_confirm_delete"] = None
            st.rerun()
