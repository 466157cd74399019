"""Pieces of page that several pages share: the sidebar, the job monitor, metric cards, error boxes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from fusion_core import plots
from fusion_core.errors import FusionExplorerError, user_message
from fusion_core.training import stop_explanation
from ui import cache, state
from ui.errors import unexpected_errors
from ui.jobs import JobView, cancel_job

POLL_SECONDS = 1.0
IDLE_JOB_TEXT = "Training: none started yet"


def run_store() -> Any:
    """The run store as this session sees it: its workspace's runs and the shared default ones."""
    from fusion_core.runs import RunStore

    return RunStore(state.runs_root(), workspace=state.workspace())


@st.cache_resource(max_entries=128, show_spinner="Loading the run…")
def _load_run(root: str, run_id: str) -> Any:
    from fusion_core.runs import RunStore

    return RunStore(root).load(run_id)


def load_run(run_id: str) -> Any:
    """A saved run with its model (shared read-only between sessions; cleared on rename and delete)."""
    return _load_run(str(run_store().root), run_id)


def forget_runs() -> None:
    _load_run.clear()


def pick_run(summaries: list[dict[str, Any]], *, key: str, help: str) -> Any:
    """A run chosen from ``summaries`` (newest first), starting at the one last looked at; loaded with its
    model, or None after showing why it could not be loaded. The choice is shared by the run pages."""
    labels = {row["run_id"]: f"{row['label']} · {row['dataset']} · {row['created']}" for row in summaries}
    run_ids = list(labels)
    wanted = state.selected_run()
    run_id = st.selectbox(
        "Run",
        run_ids,
        index=run_ids.index(wanted) if wanted in labels else 0,
        format_func=labels.get,
        key=key,
        help=help,
    )
    state.set_selected_run(run_id)
    return guarded(lambda: load_run(run_id))


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


_MARKDOWN_SPECIAL = re.compile(
    r"([\\`*{}\[\]<>#|~$]|(?<!\w)_|_(?!\w)|^[-+=!]|(?<=\d)\.|(?<=:)/|(?<=www)\.)", re.IGNORECASE
)
"""Characters that would start Markdown, HTML or a link; an underscore inside a word (snake_case) is
never emphasis, so it is left as typed."""


def plain(text: object) -> str:
    """``text`` escaped for Streamlit's Markdown: shown as typed, never as formatting, HTML or a link."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def show_error(error: FusionExplorerError) -> None:
    """Bad input: the message as plain text (it quotes the user's names and values), never a traceback."""
    st.error(plain(user_message(error)), icon=":material/error:")


def guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; show a ``FusionExplorerError`` as an error box and return None instead."""
    try:
        return action()
    except FusionExplorerError as exc:
        show_error(exc)
        return None


def current_dataset() -> Any:
    """The dataset the pages work on, or None after showing why it could not be loaded."""
    return guarded(lambda: cache.load_current(state.dataset_choice(), state.schema_edit()))


# --- sidebar --------------------------------------------------------------------------------------


def sidebar_status() -> Any:
    """Dataset, device and running job, shown on every page; returns the device's slot for ``show_device``."""
    choice = state.dataset_choice()
    with st.sidebar:
        kind = "sample" if choice.kind == "sample" else "your upload"
        st.markdown(f":material/dataset: **Dataset:** {plain(choice.label)}  \n:gray[{kind}]")
        device_slot = st.empty()
        show_device(device_slot, wait=False)
        st.markdown(
            f":material/folder_shared: **Workspace:** `{state.workspace()}`",
            help="The runs listed here are this workspace's and those saved from the command line. "
            f"Add ?{state.WORKSPACE_PARAM}=NAME to the address to come back to a workspace later or to share "
            "one with a class.",
        )
        if state.workspace_error():
            st.error(state.workspace_error(), icon=":material/error:")
        _sidebar_job(state.job_running())
    return device_slot


def show_device(slot: Any, *, wait: bool) -> None:
    """Fill the sidebar's device line; ``app.py`` calls it again with ``wait=True`` after the page is drawn,
    so that the first page does not wait for PyTorch to load."""
    label = cache.device_label(wait=wait)
    slot.markdown(f":material/memory: **Device (auto):** {label or 'looking…'}")


def _sidebar_job(running: bool) -> None:
    # The same element in every state, "none started yet" included: a job's start then updates a bar
    # that is already on the page, instead of adding one whose code the browser must load first (it
    # stood as a grey placeholder box in the sidebar while the job started).
    @st.fragment(run_every=POLL_SECONDS if running else None)
    def sidebar_job() -> None:
        job = state.current_job()
        if job is None:
            st.progress(0.0, text=IDLE_JOB_TEXT)
            return
        view = job.view()
        st.progress(view.fraction, text=f"{view.title}: {_job_phrase(view)}")
        if running and view.finished:
            st.rerun()

    sidebar_job()


def _job_phrase(view: JobView) -> str:
    if view.queued is not None:
        return _queue_phrase(view.queued)
    if view.running:
        if view.stopping:
            return "stopping…"
        return f"{view.fraction:.0%}, {_time_left(view)}"
    if view.error:
        return "failed"
    return "stopped" if view.stopped_by_user else "done"  # fmt: skip


def _queue_phrase(ahead: int) -> str:
    if ahead == 0:
        return "waiting in the queue, next to start"
    return f"waiting in the queue, {ahead} job{'s' if ahead > 1 else ''} ahead"


def _time_left(view: JobView) -> str:
    if view.eta is None:
        return "timing the first epoch"
    return f"about {format_seconds(view.eta)} left"


# --- the training monitor -------------------------------------------------------------------------


def job_monitor(*, key: str, curves: bool = True, when_done: Callable[[JobView], None] | None = None) -> None:
    """Progress, elapsed time, time left and live curves of the current job, refreshed every second.

    The worker thread only fills in the ``Job``; this fragment reads one snapshot of it
    (``Job.view``) per refresh and draws everything from that snapshot, so the final
    state and the last update always arrive together. Once the job is over it draws the
    final view itself, ``when_done(view)`` included (links, scores), then asks for one
    full rerun, which stops the polling and re-enables the page's controls.
    """
    job = state.current_job()
    if job is None:
        return
    was_running = job.running

    @st.fragment(run_every=POLL_SECONDS if was_running else None)
    def monitor() -> None:
        job = state.current_job()
        if job is None:
            return
        view = job.view()
        with unexpected_errors():
            _draw_job(view, stop=lambda: cancel_job(job), key=key, curves=curves)
            if view.finished and when_done is not None:
                when_done(view)
        job.shown.set()
        if was_running and view.finished:
            st.rerun()

    monitor()


def _job_status(view: JobView) -> str:
    if view.queued is not None:
        return "Cancelling" if view.stopping else "Queued"
    if view.running:
        return "Stopping after this batch" if view.stopping else "Training"
    if view.error:
        return "Failed"
    return "Stopped" if view.stopped_by_user else "Finished"


def _stop_button(view: JobView, stop: Callable[[], None], *, key: str) -> None:
    """Stop for a training job; Cancel for one still waiting in the queue."""
    waiting = view.queued is not None
    st.button(
        "Cancel" if waiting else "Stop",
        key=f"{key}_cancel" if waiting else f"{key}_stop",
        icon=":material/cancel:" if waiting else ":material/stop_circle:",
        on_click=stop,
        disabled=view.stopping,
        help="Take this job out of the queue; it will not run."
        if waiting
        else "End training at the next batch; the best model so far is kept and saved.",
    )


def _draw_job(view: JobView, *, stop: Callable[[], None], key: str, curves: bool) -> None:
    runs_total = view.planned_runs
    parts = []
    if view.queued is not None:
        st.progress(0.0, text=f"**{_job_status(view)}** · {view.title} · {_queue_phrase(view.queued)}")
        _stop_button(view, stop, key=key)
        return
    if runs_total > 1:
        parts.append(f"run {min(view.runs_done + 1, runs_total)}/{runs_total}")
    if view.running and view.tuning:
        parts.append(view.tuning)
    elif view.running and view.epoch:
        parts.append(
            f"epoch {view.epoch} (stops early when validation stops improving, at most {view.epochs})"
        )
    elif view.running and not view.history:
        parts.append("preparing the data and the model")
    elif view.stopped_by_user and runs_total == 1 and view.results:
        parts.append(f"after {view.results[-1].epochs_run} of {view.epochs} epochs")
    parts.append(f"elapsed {format_seconds(view.elapsed)}")
    if view.running:
        parts.append(_time_left(view))
    st.progress(view.fraction, text=f"**{_job_status(view)}** · {view.title} · " + " · ".join(parts))

    if view.running:
        _stop_button(view, stop, key=key)
    if view.error:
        st.error(view.error, icon=":material/error:")
        if view.details:
            with st.expander("Details for a bug report"):
                st.code(view.details)
    elif view.finished and view.stopped_by_user:
        kept = "the best model so far was kept and saved" if runs_total == 1 else "finished runs were saved"
        st.info(f"Stopped on request; {kept}.", icon=":material/info:")

    history = list(view.history)
    if view.finished and not history and runs_total == 1 and view.results:
        history = list(view.results[-1].history)
        st.caption(stop_text(view.results[-1]))
    # While running, the chart stands from the start, empty until the first epoch: the browser loads
    # its code while the data are prepared, instead of showing a grey placeholder once training runs.
    if curves and (history or view.running):
        title = "This run, live" if view.running else "This run"
        st.plotly_chart(
            plots.training_curves_figure(history, title=title), width="stretch", key=f"{key}_curves"
        )
    if view.results and runs_total > 1:
        rows = [
            {
                "run": r.label,
                **{
                    title: round(float(r.metrics[key]), 4)
                    for key, title in (
                        (("r2", "R²"), ("rmse", "RMSE"))
                        if r.task == "regression"
                        else (("macro_f1", "macro-F1"), ("accuracy", "accuracy"))
                    )
                },
                "epochs": r.epochs_run,
                "seconds": round(float(r.train_seconds), 1),
                "ended because": stop_text(r),
            }
            for r in view.results
        ]
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_finished_runs")
    if view.problems:
        st.warning("Some methods gave no result; the others ran as usual.", icon=":material/warning:")
        st.dataframe(
            [
                {"method": p.method, "seed": p.seed, "status": p.status, "reason": p.reason}
                for p in view.problems
            ],
            hide_index=True,
            width="stretch",
            key=f"{key}_problems",
        )
    if view.studies:
        st.plotly_chart(plots.tuning_history_figure(view.studies), width="stretch", key=f"{key}_tuning")


def stop_text(run: Any) -> str:
    """Why a run's training ended, in words."""
    return stop_explanation(run.stopped, run.history, run.config.train)


def result_links(view: JobView) -> None:
    """After a job: make its last run the one Results opens, and link to Results and Compare."""
    if not view.run_ids:
        return
    state.set_selected_run(view.run_ids[-1])
    links = st.container(horizontal=True, key="job_links")
    links.page_link("pages/results.py", label="Open the results", icon=":material/insights:")
    links.page_link("pages/compare.py", label="Compare runs", icon=":material/leaderboard:")


# --- results --------------------------------------------------------------------------------------

METRIC_CARDS = (
    (
        "macro_f1",
        "Macro-F1",
        "F1 of each class, averaged with equal weight: rare classes count as much as common ones.",
    ),
    (
        "weighted_f1",
        "Weighted F1",
        "F1 of each class, averaged with weights by how many test samples each class has.",
    ),
    ("accuracy", "Accuracy", "Share of test samples whose predicted class is right."),
    (
        "precision",
        "Precision",
        "Of the samples predicted as a class, the share that really are (macro average).",
    ),
    ("recall", "Recall", "Of the samples of a class, the share found (macro average)."),
)


REGRESSION_CARDS = (
    ("r2", "R²", "1 is perfect, 0 is no better than always predicting the mean; negative is worse."),
    ("mae", "MAE", "Mean absolute error, in the target's units."),
    ("rmse", "RMSE", "Root mean squared error, in the target's units; large errors weigh more."),
)


def metric_cards(metrics: dict[str, Any], *, key: str) -> None:
    cards = REGRESSION_CARDS if "r2" in metrics else METRIC_CARDS
    columns = st.columns(len(cards))
    for column, (name, label, help_text) in zip(columns, cards, strict=True):
        value = metrics.get(name)
        column.metric(label, "—" if value is None else f"{float(value):.3f}", help=help_text, border=True)


def run_rows(summaries: list[Any]) -> list[dict[str, Any]]:
    """Plain dicts of the fields the comparison figures read, from RunStore index rows or RunResults."""
    rows = []
    for summary in summaries:
        if isinstance(summary, dict):
            rows.append({key: summary.get(key) for key in RUN_FIELDS})
            continue
        metrics = getattr(summary, "metrics", None) or {}
        rows.append(
            {
                "run_id": summary.run_id,
                "label": summary.label,
                "method": summary.method,
                "dataset": summary.dataset_name,
                "seed": summary.seed,
                "fold": summary.fold,
                "macro_f1": metrics.get("macro_f1"),
                "accuracy": metrics.get("accuracy"),
                "params": summary.params,
                "train_seconds": summary.train_seconds,
                "epochs_run": summary.epochs_run,
                "device": summary.device,
                "created": summary.created,
            }
        )
    return rows


RUN_FIELDS = (
    "run_id",
    "label",
    "method",
    "dataset",
    "seed",
    "fold",
    "macro_f1",
    "accuracy",
    "params",
    "train_seconds",
    "epochs_run",
    "device",
    "created",
)


def repeat_command(run_id: str, runs_dir: str | None = None) -> str:
    """The commands that save a run's configuration and train it again from that file."""
    import shlex

    where = f" --runs-dir {shlex.quote(runs_dir)}" if runs_dir else ""
    return (
        f"fusion-explorer runs show {shlex.quote(run_id)}{where} > run-config.json\n"
        f"fusion-explorer train --config run-config.json{where}"
    )


def cli_command(config: Any, runs_dir: str | None = None) -> str:
    """The ``fusion-explorer train`` command that repeats a run's main choices from a terminal."""
    import shlex

    parts = ["fusion-explorer", "train", "--data", config.data.source, "--fusion", config.model.fusion]
    for modality, encoder in config.model.encoders.items():
        parts += ["--encoder", f"{modality}={encoder.name}"]
    for key, value in config.model.fusion_options.items():
        parts += ["--fusion-option", f"{key}={value}"]
    train = config.train
    parts += ["--epochs", str(train.epochs), "--batch-size", str(train.batch_size), "--lr", f"{train.lr:g}"]
    parts += ["--seed", str(train.seed), "--device", train.device]
    parts += ["--patience", str(train.patience), "--schedule", train.schedule]
    parts += ["--average-weights", f"{train.average_weights:g}"]
    if train.time_budget is not None:
        parts += ["--time-budget", f"{train.time_budget:g}"]
    if runs_dir:
        parts += ["--runs-dir", runs_dir]
    return " ".join(shlex.quote(part) for part in parts)


# --- data previews --------------------------------------------------------------------------------

PREVIEW_CLASSES = 8
"""At most this many classes in a preview; each shows a few of its own samples side by side."""


def _rows_per_class(dataset: Any, column: str, per_class: int) -> Any:
    """Up to ``per_class`` rows of each of the first classes whose ``column`` holds a value, class by class."""
    table = dataset.table
    values = table[column]
    present = table.loc[values.notna() & (values.astype(str).str.strip() != "")]
    wanted = {str(name): position for position, name in enumerate(dataset.class_names[:PREVIEW_CLASSES])}
    order = present[dataset.target].astype(str).map(wanted)
    present = present.assign(_class_order=order).dropna(subset=["_class_order"])
    picked = present.sort_values("_class_order", kind="stable").groupby("_class_order").head(per_class)
    return picked.drop(columns="_class_order")


def _classes_note(dataset: Any) -> None:
    if len(dataset.class_names) > PREVIEW_CLASSES:
        st.caption(f"The first {PREVIEW_CLASSES} of {len(dataset.class_names)} classes.")


def preview_modality(
    dataset: Any, spec: Any, *, key: str, audio_options: dict[str, Any] | None = None
) -> None:
    """Show one modality the way a person would look at it: a few samples of each class, side by side."""
    from fusion_core.modalities import MODALITIES  # loads torch: only once a dataset is shown

    target = dataset.target
    shown_as = MODALITIES.get(spec.type).shown_as
    if shown_as == "image":
        rows = _rows_per_class(dataset, spec.columns[0], 4)
        for label, group in rows.groupby(target, sort=False):
            st.text(f"class {label}")
            paths = tuple(str(dataset.resolve(value)) for value in group[spec.columns[0]])
            guarded(lambda paths=paths: st.image(cache.thumbnail_strip(paths)))
    elif shown_as == "audio":
        rows = _rows_per_class(dataset, spec.columns[0], 1).head(3)
        for index, (_, row) in enumerate(rows.iterrows()):
            path = str(dataset.resolve(row[spec.columns[0]]))
            left, right = st.columns([1, 2])
            with left:
                st.text(f"{row[dataset.id_column]} · class {row[target]}")
                guarded(lambda path=path: st.audio(cache.file_bytes(path), format=audio_mime(path)))
            with right:
                result = guarded(
                    lambda path=path: cache.spectrogram(path, json.dumps(audio_options or {}, sort_keys=True))
                )
                if result is not None:
                    values, frequencies, times = result
                    st.plotly_chart(
                        plots.spectrogram_figure(values, times=times, frequencies=frequencies, title=None),
                        width="stretch",
                        key=f"{key}_spec_{index}",
                    )
    elif shown_as == "series":
        rows = _rows_per_class(dataset, spec.columns[0], 1).head(3)
        columns = st.columns(max(1, len(rows)))
        for index, (column, (_, row)) in enumerate(zip(columns, rows.iterrows(), strict=False)):
            with column:
                values = guarded(
                    lambda row=row: cache.series_values(str(dataset.resolve(row[spec.columns[0]])))
                )
                if values is not None:
                    st.plotly_chart(
                        plots.series_figure(values, title=f"{row[dataset.id_column]} · class {row[target]}"),
                        width="stretch",
                        key=f"{key}_series_{index}",
                    )
    else:
        rows = _rows_per_class(dataset, spec.columns[0], 2)
        st.dataframe(
            rows[[dataset.id_column, *spec.columns, target]],
            hide_index=True,
            width="stretch",
            key=f"{key}_{spec.type}",
        )
    _classes_note(dataset)


def audio_mime(path: str) -> str:
    """The MIME type ``st.audio`` needs for a clip, from its file extension."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg"}.get(suffix, "audio/wav")


def report_view(report: dict[str, Any], *, key: str) -> None:
    """The data report: counts, modalities, class balance, notes and warnings.

    Drawn with metrics and plain text only; the class-balance chart is built when its expander is
    opened. Switching from Home to Data in a fresh browser session, the three versions interleaved on
    a loaded 2-core machine (median of 5): 8.6 s with a Plotly chart and data grids on arrival, 2.4 s
    with static tables (``st.table`` loads Arrow's formatting code, 0.7 MB), 1.5 s with plain text,
    less than the Model page took in the same rounds (1.8 s).
    """
    first, second, third = st.columns(3)
    first.metric("Samples", report["samples"], border=True)
    regression = report.get("task") == "regression"
    if regression:
        second.metric(
            "Task", "regression", border=True, help=f"Predict a number: column {plain(report['target'])}"
        )
    else:
        second.metric(
            "Classes", len(report["classes"]), border=True, help=f"Label column: {plain(report['target'])}"
        )
    third.metric("Modalities", len(report["modalities"]), border=True)
    st.caption(f"Data path in training: {plain(report['data_path'])}.")
    for warning in report["warnings"]:
        st.warning(plain(warning), icon=":material/warning:")
    for note in report["notes"]:
        st.info(plain(note), icon=":material/info:")
    left, right = st.columns([3, 2])
    with left:
        modalities = pd.DataFrame(
            [
                {
                    "modality": m["name"],
                    "type": m["type"],
                    "columns": ", ".join(m["columns"]),
                    "absent": m["absent"],
                    "missing values": sum(m.get("missing_values", {}).values()),
                    "examples": " | ".join(m["examples"]),
                }
                for m in report["modalities"]
            ],
            columns=["modality", "type", "columns", "absent", "missing values", "examples"],
        )
        st.text(text_table(modalities))
        if report["unused_columns"]:
            st.caption("Not used: " + plain(", ".join(report["unused_columns"])))
    with right:
        if regression:
            st.caption("Target: a number to predict (change the task below)")
            summary = report["target_summary"]
            st.text(text_table(pd.DataFrame([{k: round(v, 4) for k, v in summary.items()}])))
        else:
            class_balance(report["classes"], key=f"{key}_balance")


TEXT_CELL_CHARS = 40
"""Longer cells of a text table end in "..."."""
CLASS_ROWS = 12
"""More classes than this scroll inside a box of about this many lines."""
BAR_CHARS = 30
"""The widest bar of the text class balance, in characters."""


def text_table(frame: pd.DataFrame) -> str:
    """A table as aligned plain text (``st.text`` shows it as is: no Markdown, nothing to load).

    Numbers are aligned right, words left; a cell longer than ``TEXT_CELL_CHARS`` is cut short.
    """
    cells = frame.astype(str).map(
        lambda v: v if len(v) <= TEXT_CELL_CHARS else v[: TEXT_CELL_CHARS - 1] + "…"
    )
    numeric = {column for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])}
    widths = {column: max([len(str(column)), *cells[column].str.len()]) for column in cells.columns}

    def line(values: Any) -> str:
        return "  ".join(
            value.rjust(widths[column]) if column in numeric else value.ljust(widths[column])
            for column, value in zip(cells.columns, values, strict=True)
        ).rstrip()

    return "\n".join(
        [line([str(c) for c in cells.columns]), *(line(row) for row in cells.itertuples(index=False))]
    )


def class_balance(counts: dict[str, int], *, key: str) -> None:
    """Samples per class as text (count, share and a bar), and as a chart when its expander is opened."""
    total = sum(counts.values()) or 1
    largest = max(counts.values(), default=0) or 1
    table = pd.DataFrame(
        {
            "class": [str(name) for name in counts],
            "samples": list(counts.values()),
            "share": [f"{count / total:.1%}" for count in counts.values()],
            "": ["#" * max(1, round(BAR_CHARS * count / largest)) for count in counts.values()],
        }
    )
    box = st.container(height=24 * (CLASS_ROWS + 1)) if len(counts) > CLASS_ROWS else st.container()
    box.text(text_table(table))
    chart = st.expander("Samples per class as a chart", key=f"{key}_open", on_change="rerun")
    with chart:
        if chart.open:
            st.plotly_chart(plots.class_balance_figure(counts), width="stretch", key=key)


# --- schema corrections ---------------------------------------------------------------------------

ROLE_INPUT, ROLE_TARGET, ROLE_IGNORE = "input", "label", "not used"


def schema_table(dataset: Any) -> Any:
    """One row per column: its role, the modality it belongs to and that modality's type."""
    owner = {c: spec for spec in dataset.modalities.values() for c in spec.columns}
    rows = []
    for column in dataset.table.columns:
        if column == dataset.id_column:
            continue
        spec = owner.get(column)
        if column == dataset.target:
            rows.append({"column": column, "use as": ROLE_TARGET, "modality": "", "type": ""})
        elif spec is None:
            rows.append({"column": column, "use as": ROLE_IGNORE, "modality": "", "type": ""})
        else:
            rows.append({"column": column, "use as": ROLE_INPUT, "modality": spec.name, "type": spec.type})
    return pd.DataFrame(rows, columns=["column", "use as", "modality", "type"])


def edit_from_table(table: Any, task: str | None = None) -> state.SchemaEdit:
    """Turn the edited table back into a correction for ``with_schema`` (checked there)."""
    modalities: dict[str, dict[str, Any]] = {}
    target = None
    for row in table.to_dict("records"):
        role = row.get("use as")
        if role == ROLE_TARGET:
            target = row["column"]
        elif role == ROLE_INPUT:
            name = str(row.get("modality") or "").strip() or str(row.get("type") or "tabular")
            entry = modalities.setdefault(name, {"type": row.get("type") or "tabular", "columns": []})
            entry["columns"].append(row["column"])
    return state.SchemaEdit(modalities=modalities, target=target, task=task)


def schema_editor(dataset: Any, *, key: str, disabled: bool) -> state.SchemaEdit | None:
    """An editable table of columns and the task; returns the correction when the user applies it."""
    from fusion_core.data.types import TASKS
    from fusion_core.modalities import MODALITIES  # loads torch: only once a dataset is shown

    task = st.selectbox(
        "Task",
        TASKS,
        index=TASKS.index(dataset.task),
        key=f"{key}_task_{dataset.content_hash[:12]}",
        disabled=disabled,
        help="Classification predicts one of a few classes; regression predicts a number. Inferred from the "
        'label (a number with many distinct values is a regression target) or set in schema.json as "task".',
    )

    edited = st.data_editor(
        schema_table(dataset),
        key=f"{key}_{dataset.content_hash[:12]}",
        hide_index=True,
        width="stretch",
        disabled=disabled or ["column"],
        column_config={
            "column": st.column_config.TextColumn("column", help="A column of manifest.csv."),
            "use as": st.column_config.SelectboxColumn(
                "use as",
                options=[ROLE_INPUT, ROLE_TARGET, ROLE_IGNORE],
                required=True,
                help="An input of a modality, the label to predict (exactly one), or left out.",
            ),
            "modality": st.column_config.TextColumn(
                "modality",
                help="Columns with the same modality name are encoded together; rename to split or merge them.",
            ),
            "type": st.column_config.SelectboxColumn(
                "type",
                options=MODALITIES.names(),
                help="How the column is read: numbers and categories (tabular), paths of images, audio or "
                "series files, or free text.",
            ),
        },
    )
    if st.button(
        "Apply changes",
        key=f"{key}_apply",
        disabled=disabled,
        icon=":material/check:",
        help="Check the new grouping and use it on every page.",
    ):
        return edit_from_table(edited, task=None if task == dataset.task else task)
    return None
