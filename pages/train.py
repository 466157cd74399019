"""Train: how to train, then one model or a fair comparison, in the background with live curves."""

from __future__ import annotations

import streamlit as st

from fusion_core.config import TrainConfig
from fusion_core.errors import FusionExplorerError
from fusion_core.fusion import available_methods
from fusion_core.training import budget_rule
from ui import cache, state
from ui.forms import train_settings
from ui.jobs import start_comparison, start_single_run
from ui.routing import use_app_navigation
from ui.widgets import current_dataset, job_monitor, plain, result_links, show_error

use_app_navigation()

st.title("Train")
dataset = current_dataset()
if dataset is None:
    st.stop()
running = state.job_running()
saved = state.train_choices()
methods = available_methods(list(dataset.modalities), dataset.task)
model = state.model_for(methods)
st.markdown(
    f"Dataset **{plain(dataset.name)}** · fusion method **{model.fusion}** (change it on the Model page)."
)

with st.container(border=True, key="train_settings"):
    values, seeds = train_settings(
        saved.train, seeds=len(saved.seeds), disabled=running, device_label=cache.device_label()
    )
try:
    train = TrainConfig(**values, seed=saved.train.seed)
except FusionExplorerError as exc:
    show_error(exc)
    st.stop()
st.caption(f"Budget rule, the same for every method: {budget_rule(train, dataset.task)}")

baselines = [m for m in methods if m.startswith("only:")]
default_queue = [m for m in saved.compare_methods if m in methods] or list(
    dict.fromkeys([*baselines, model.fusion, "late" if "late" in methods else model.fusion])
)
queue = st.multiselect(
    "Methods to compare",
    methods,
    default=default_queue,
    key="train_compare_methods",
    disabled=running,
    persist_state="session",
    help="'Train and compare' trains each of these (× seeds) on the same split, one after another. "
    "Keep the only:<modality> baselines in: they show whether fusing helped at all.",
)
tuning = st.container(horizontal=True, vertical_alignment="bottom", key="train_tuning")
tune_on = tuning.toggle(
    "Tune each method first",
    key="train_tune",
    disabled=running,
    persist_state="session",
    help="Before comparing, search each method's learning rate, weight decay, width, depth, dropout, "
    "learning-rate schedule and patience with Optuna on the validation split (the same number of trials for every method), then train the best "
    "setting of each on every seed. Fairer, and slower: each trial is a full training run.",
)
trials = tuning.number_input(
    "Trials per method",
    min_value=1,
    max_value=200,
    value=10,
    step=1,
    key="train_tune_trials",
    disabled=running or not tune_on,
    persist_state="session",
    help="How many settings Optuna tries for each method.",
)
tune = int(trials) if tune_on else 0
state.set_train_choices(state.TrainChoices(train=train, seeds=list(range(int(seeds))), compare_methods=queue))

buttons = st.container(horizontal=True, key="train_buttons")
single = buttons.button(
    "Train",
    key="train_start",
    type="primary",
    icon=":material/play_arrow:",
    disabled=running,
    help=f"Train one {model.fusion} model (seed {train.seed}) and save it as a run.",
)
several = buttons.button(
    "Train and compare",
    key="train_compare",
    icon=":material/leaderboard:",
    disabled=running or not queue,
    help="Train every chosen method with every seed on identical splits; each run is saved as it finishes.",
)
if single or several:
    try:
        source = cache.training_source(state.dataset_choice(), state.schema_edit(), dataset)
        config = state.experiment_config(source=source)
        if single:
            job = start_single_run(config, store_root=state.runs_root(), workspace=state.workspace())
        else:
            job = start_comparison(
                config.data,
                queue,
                seeds=int(seeds),
                train=train,
                model_template=config.model,
                tune=tune,
                store_root=state.runs_root(),
                workspace=state.workspace(),
                title=f"{len(queue)} methods × {int(seeds)} seed{'s' if seeds > 1 else ''}"
                + (f", tuned for {tune} trials" if tune else ""),
            )
    except FusionExplorerError as exc:
        show_error(exc)
    else:
        state.set_current_job(job)
        st.rerun()

if state.current_job() is not None:
    st.header("Progress")
    job_monitor(key="train_monitor", when_done=result_links)
