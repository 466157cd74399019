"""The robustness views: a run's curves on the Results page, several runs overlaid on Compare.

``fusion_core.analysis.robustness`` does the work; results are cached by run id,
so switching tabs or pages does not measure a run twice.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from fusion_core import plots
from fusion_core.analysis.robustness import CORRUPTION_TITLES, NO_NETWORK_MESSAGE
from fusion_core.baselines import is_baseline_method
from fusion_core.errors import FusionExplorerError
from ui.insight import dataset_for, run_key
from ui.widgets import plain, show_error

EXPLANATION = (
    "Each curve is the test score (macro-F1; R² for a regression target) as one modality is damaged more "
    "and more: Gaussian noise (in units of "
    "the modality's training spread), the modality missing for a growing share of samples, one corruption "
    "per type (occlusion, word dropout, time masking), and FGSM / PGD attacks that push the inputs against "
    "the model's own gradient. The number in brackets is the curve's robustness: the area under it relative "
    "to the clean score (1.00: no loss)."
)


@st.cache_data(max_entries=16, show_spinner=False)
def _robustness(key: str, dataset_key: str, _run: Any, _dataset: Any) -> dict[str, Any]:
    from fusion_core.analysis.robustness import robustness_run

    return robustness_run(_run, dataset=_dataset)


def measure(run: Any) -> dict[str, Any] | None:
    """The run's robustness report, or None after showing why it could not be measured."""
    dataset_key, dataset = dataset_for(run)
    try:
        return _robustness(run_key(run), dataset_key, run, dataset)
    except FusionExplorerError as exc:
        show_error(exc)
        return None


def render_robustness_panel(run: Any, *, key: str = "robustness") -> None:
    """One run: a chart per kind of damage, and the robustness score per corruption."""
    if is_baseline_method(run.method):
        st.info(f"This run {NO_NETWORK_MESSAGE}.", icon=":material/info:")
        return
    if run.model is None:
        st.info("This run has no saved model, so its robustness cannot be measured. Train it again.")
        return
    st.caption(EXPLANATION)
    if not st.toggle(
        "Measure robustness",
        key=f"{key}_measure",
        help="Scores the test split a few dozen times under growing damage; takes seconds for small models.",
    ):
        return
    with st.spinner("Damaging the test inputs and scoring the model…"):
        report = measure(run)
    if report is None:
        return
    for note in report["notes"]:
        st.markdown(f"- {plain(note)}")
    st.dataframe(
        [
            {"corruption": CORRUPTION_TITLES[k], "robustness": round(v, 3)}
            for k, v in report["scores"].items()
        ],
        hide_index=True,
        key=f"{key}_scores",
    )
    kinds = list(dict.fromkeys(c["corruption"] for c in (*report["curves"], *report["adversarial"])))
    for kind in kinds:
        st.plotly_chart(
            plots.robustness_figure(report, kind, title=CORRUPTION_TITLES[kind]),
            width="stretch",
            key=f"{key}_{kind}",
        )


def render_robustness_overlay(runs: list[Any], *, key: str = "compare_robustness") -> None:
    """Several runs: robustness next to accuracy, and one kind of damage overlaid run by run."""
    neural = [run for run in runs if not is_baseline_method(run.method) and run.model is not None]
    if len(neural) < len(runs):
        st.caption(
            "Classical sk: baselines have no network, so there is nothing to perturb or attack; they are left out."
        )
    if not neural or not st.toggle(
        "Measure robustness of the picked runs",
        key=f"{key}_measure",
        help="Scores each run's test split under noise, missing modalities, corruptions and attacks.",
    ):
        return
    with st.spinner("Measuring each run's robustness…"):
        reports = {run.label: report for run in neural if (report := measure(run)) is not None}
    if not reports:
        return
    rows = [
        {
            "run": label,
            r["metric_name"]: round(r["clean_score"], 3),
            **{k: round(v, 3) for k, v in r["scores"].items()},
        }
        for label, r in reports.items()
    ]
    st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_table")
    curves = [c for r in reports.values() for c in (*r["curves"], *r["adversarial"])]
    kinds = list(dict.fromkeys(c["corruption"] for c in curves))
    left, right = st.columns(2)
    kind = left.selectbox("Damage", kinds, format_func=CORRUPTION_TITLES.get, key=f"{key}_kind")
    modalities = list(dict.fromkeys(c["modality"] for c in curves if c["corruption"] == kind))
    modality = right.selectbox("Modality", modalities, key=f"{key}_modality")
    st.plotly_chart(
        plots.robustness_overlay_figure(
            reports, kind, modality, title=f"{CORRUPTION_TITLES[kind]} on {modality}"
        ),
        width="stretch",
        key=f"{key}_overlay",
    )
