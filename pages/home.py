"""Home: what multimodal fusion is, the sample datasets, and a one-click quick start."""

from __future__ import annotations

import streamlit as st

from fusion_core import plots
from fusion_core.analysis.diagrams import family_svg
from fusion_core.analysis.glossary import FAMILY_ORDER
from fusion_core.errors import FusionExplorerError
from ui import cache, state
from ui.jobs import QUICK_START_EPOCHS, JobView, start_quick_start
from ui.routing import use_app_navigation
from ui.widgets import job_monitor, run_rows, show_error

use_app_navigation()

st.title("Fusion Explorer")
st.markdown(
    "A sample is often described in more than one way at once: a photo *and* a table of measurements, "
    "a spoken word *and* a picture of it, a sensor trace *and* the person wearing it. Each description is "
    "a **modality**. **Multimodal fusion** is how a neural network combines them to predict one answer, "
    "and *where* in the network the modalities meet changes what it can learn."
)
left, middle, right = st.columns(3)
for column, family in zip((left, middle, right), FAMILY_ORDER, strict=True):
    column.image(family_svg(family))
left.markdown(
    "**Early fusion** joins the raw inputs and trains one network on them. Simple, sees every interaction, "
    "but struggles when the inputs differ in kind and scale."
)
middle.markdown(
    "**Intermediate fusion** first encodes each modality into features, then fuses the features "
    "(concatenation, gates, attention, tensor products). The usual best start."
)
right.markdown(
    "**Late fusion** trains a model per modality and combines their decisions. Robust when a modality is "
    "missing or noisy, but blind to interactions between them."
)

st.header("Quick start")
running = state.job_running()
st.markdown(
    "Train each modality alone, then early, intermediate (concat) and late fusion on the default sample "
    f"dataset ({QUICK_START_EPOCHS} epochs, one seed), and compare them. On a busy 2-core laptop this "
    "took about a minute the first time, while the sample was generated and prepared, and about half "
    "a minute after that; the progress bar shows the time left as it goes."
)
if st.button(
    "Run the quick start",
    key="home_quick_start",
    type="primary",
    icon=":material/rocket_launch:",
    disabled=running,
    help="Loads the default sample dataset and trains a small comparison in the background.",
):
    try:
        job = start_quick_start(state.runs_root(), state.workspace())
        state.set_dataset_choice(state.default_dataset())
        state.set_current_job(job)
        st.rerun()
    except FusionExplorerError as exc:
        show_error(exc)


def quick_start_scores(view: JobView) -> None:
    if view.results:
        rows = run_rows(view.results)
        st.plotly_chart(plots.method_scores_figure(rows, title="Macro-F1 on the test split"), width="stretch",
                        key="home_quick_scores")  # fmt: skip
        st.page_link("pages/compare.py", label="See the full comparison", icon=":material/leaderboard:")


job_monitor(key="home_monitor", curves=False, when_done=quick_start_scores)

st.header("Sample datasets")
st.caption("Each one is generated on this machine the first time it is opened; nothing is downloaded.")
infos = cache.sample_infos()
columns = st.columns(min(3, max(1, len(infos))))
current = state.dataset_choice()
for index, info in enumerate(infos):
    with columns[index % len(columns)].container(border=True, key=f"home_card_{info.name}"):
        st.subheader(info.title or info.name)
        st.markdown(info.summary)
        chips = " ".join(f":blue-badge[{name}: {kind}]" for name, kind in info.modalities.items())
        target = f"{info.classes} classes" if info.classes else "a number to predict (regression)"
        st.markdown(f"{chips}  \n{info.samples} samples · {target}")
        if info.lesson:
            st.caption(info.lesson)
        chosen = current.kind == "sample" and current.source == info.name
        if st.button(
            "In use" if chosen else "Use this dataset",
            key=f"home_use_{info.name}",
            disabled=chosen or running,
            help="Make this the dataset of the Data, Model and Train pages.",
        ):
            state.set_dataset_choice(state.sample_choice(info.name))
            st.switch_page("pages/data.py")
