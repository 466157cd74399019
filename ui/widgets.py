"""Pieces of page that several pages share: the sidebar, the job monitor, metric cards, error boxes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from fusion_core import plots
from fusion_core.errors import FusionExplorerError, user_message
from ui import cache, state
from ui.jobs import Job

POLL_SECONDS = 1.0

FAMILIES_DOT = """
digraph families {
  rankdir=TB; newrank=true; nodesep=0.2; ranksep=0.3;
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fillcolor="#eef3fb", color="#4a6fa5",
        width=1.1, height=0.4];
  edge [color="#4a6fa5", arrowsize=0.7];
  subgraph cluster_early {
    label="Early fusion (data level)"; fontname="Helvetica-Bold"; fontsize=12; color="#9ab"; style=rounded;
    ea [label="image pixels"]; eb [label="table columns"];
    ecat [label="join raw inputs", fillcolor="#fde9c8"];
    enet [label="one network"]; eout [label="class", shape=ellipse, fillcolor="#dff0d8"];
    ea -> ecat; eb -> ecat; ecat -> enet -> eout;
  }
  subgraph cluster_mid {
    label="Intermediate fusion (feature level)"; fontname="Helvetica-Bold"; fontsize=12; color="#9ab"; style=rounded;
    ma [label="image pixels"]; mb [label="table columns"];
    mea [label="image encoder"]; meb [label="table encoder"];
    mfuse [label="fuse features", fillcolor="#fde9c8"];
    mhead [label="classifier head"]; mout [label="class", shape=ellipse, fillcolor="#dff0d8"];
    ma -> mea -> mfuse; mb -> meb -> mfuse; mfuse -> mhead -> mout;
  }
  subgraph cluster_late {
    label="Late fusion (decision level)"; fontname="Helvetica-Bold"; fontsize=12; color="#9ab"; style=rounded;
    la [label="image pixels"]; lb [label="table columns"];
    lma [label="image model"]; lmb [label="table model"];
    lvote [label="combine decisions", fillcolor="#fde9c8"];
    lout [label="class", shape=ellipse, fillcolor="#dff0d8"];
    la -> lma -> lvote; lb -> lmb -> lvote; lvote -> lout;
  }
  { rank=same; ea; eb; ma; mb; la; lb; }
  { rank=same; eout; mout; lout; }
}
"""


def run_store() -> Any:
    from fusion_core.runs import RunStore

    return RunStore(state.runs_root())


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
        job = state.current_job()
        if job is not None:
            _sidebar_job(job.running)
    return device_slot


def show_device(slot: Any, *, wait: bool) -> None:
    """Fill the sidebar's device line; ``app.py`` calls it again with ``wait=True`` after the page is drawn,
    so that the first page does not wait for PyTorch to load."""
    label = cache.device_label(wait=wait)
    slot.markdown(f":material/memory: **Device (auto):** {label or 'looking…'}")


def _sidebar_job(running: bool) -> None:
    @st.fragment(run_every=POLL_SECONDS if running else None)
    def sidebar_job() -> None:
        job = state.current_job()
        if job is None:
            return
        st.progress(job.fraction(), text=f"{job.title}: {_job_phrase(job)}")
        if running and not job.running:
            st.rerun()

    sidebar_job()


def _job_phrase(job: Job) -> str:
    if job.running:
        if job.stop.is_set():
            return "stopping…"
        return f"{job.fraction():.0%}, {format_seconds(job.eta())} left"
    if job.error:
        return "failed"
    return "stopped" if job.stopped_by_user else "done"  # fmt: skip


# --- the training monitor -------------------------------------------------------------------------


def job_monitor(*, key: str, curves: bool = True) -> None:
    """Progress, elapsed time, ETA and live curves of the current job, refreshed every second.

    The worker thread only fills in the ``Job``; this fragment reads it. When the
    job ends the fragment asks for one full rerun, which stops the polling and
    lets the page draw the results (and re-enable its controls).
    """
    job = state.current_job()
    if job is None:
        return
    running = job.running

    @st.fragment(run_every=POLL_SECONDS if running else None)
    def monitor() -> None:
        job = state.current_job()
        if job is None:
            return
        _draw_job(job, key=key, curves=curves)
        if running and not job.running:
            st.rerun()

    monitor()


def _job_status(job: Job) -> str:
    if job.running:
        return "Stopping after this batch" if job.stop.is_set() else "Training"
    if job.error:
        return "Failed"
    return "Stopped" if job.stopped_by_user else "Finished"


def _draw_job(job: Job, *, key: str, curves: bool) -> None:
    runs_total = job.planned_runs
    parts = []
    if runs_total > 1:
        parts.append(f"run {min(job.runs_done + 1, runs_total)}/{runs_total}")
    if job.running and job.epoch:
        parts.append(f"epoch {job.epoch}/{job.epochs}")
    elif job.running and not job.history:
        parts.append("preparing the data and the model")
    elif job.stopped_by_user and runs_total == 1 and job.results:
        parts.append(f"after {job.results[-1].epochs_run} of {job.epochs} epochs")
    parts.append(f"elapsed {format_seconds(job.elapsed())}")
    if job.running:
        parts.append(f"about {format_seconds(job.eta())} left")
    st.progress(job.fraction(), text=f"**{_job_status(job)}** · {job.title} · " + " · ".join(parts))

    if job.running:
        st.button(
            "Stop",
            key=f"{key}_stop",
            icon=":material/stop_circle:",
            on_click=job.request_stop,
            disabled=job.stop.is_set(),
            help="End training at the next batch; the best model so far is kept and saved.",
        )
    if job.error:
        st.error(job.error, icon=":material/error:")
        if job.details:
            with st.expander("Details for a bug report"):
                st.code(job.details)
    elif not job.running and job.stopped_by_user:
        kept = "the best model so far was kept and saved" if runs_total == 1 else "finished runs were saved"
        st.info(f"Stopped on request; {kept}.", icon=":material/info:")

    history = list(job.history)
    if not job.running and not history and runs_total == 1 and job.results:
        history = list(job.results[-1].history)
    if curves and history:
        title = "This run, live" if job.running else "This run"
        st.plotly_chart(
            plots.training_curves_figure(history, title=title), width="stretch", key=f"{key}_curves"
        )
    finished = list(job.results)
    if finished and runs_total > 1:
        rows = [
            {
                "run": r.label,
                "macro-F1": round(float(r.metrics["macro_f1"]), 4),
                "accuracy": round(float(r.metrics["accuracy"]), 4),
                "epochs": r.epochs_run,
                "seconds": round(float(r.train_seconds), 1),
            }
            for r in finished
        ]
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_finished_runs")


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


def metric_cards(metrics: dict[str, Any], *, key: str) -> None:
    columns = st.columns(len(METRIC_CARDS))
    for column, (name, label, help_text) in zip(columns, METRIC_CARDS, strict=True):
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
    if runs_dir:
        parts += ["--runs-dir", runs_dir]
    return " ".join(shlex.quote(part) for part in parts)


# --- data previews --------------------------------------------------------------------------------

PREVIEW_ROWS = 8


def _present_rows(dataset: Any, column: str, limit: int) -> Any:
    values = dataset.table[column]
    mask = values.notna() & (values.astype(str).str.strip() != "")
    return dataset.table.loc[mask].head(limit)


def preview_modality(
    dataset: Any, spec: Any, *, key: str, audio_options: dict[str, Any] | None = None
) -> None:
    """Show one modality the way a person would look at it, with each sample's label."""
    from fusion_core.modalities import MODALITIES  # loads torch: only once a dataset is shown

    target = dataset.target
    shown_as = MODALITIES.get(spec.type).shown_as
    if shown_as == "image":
        rows = _present_rows(dataset, spec.columns[0], PREVIEW_ROWS)
        columns = st.columns(min(PREVIEW_ROWS, max(1, len(rows))))
        for column, (_, row) in zip(columns, rows.iterrows(), strict=False):
            with column:
                guarded(
                    lambda row=row: st.image(
                        cache.file_bytes(str(dataset.resolve(row[spec.columns[0]]))),
                        caption=f"class {plain(row[target])}",
                        width="stretch",
                    )
                )
    elif shown_as == "audio":
        rows = _present_rows(dataset, spec.columns[0], 3)
        for index, (_, row) in enumerate(rows.iterrows()):
            path = str(dataset.resolve(row[spec.columns[0]]))
            left, right = st.columns([1, 2])
            with left:
                st.markdown(f"**{plain(row[dataset.id_column])}** · class {plain(row[target])}")
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
        rows = _present_rows(dataset, spec.columns[0], 3)
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
    elif shown_as == "text":
        rows = _present_rows(dataset, spec.columns[0], PREVIEW_ROWS)
        st.dataframe(
            rows[[dataset.id_column, *spec.columns, target]],
            hide_index=True,
            width="stretch",
            key=f"{key}_text",
        )
    else:
        st.dataframe(
            dataset.table[[dataset.id_column, *spec.columns, target]].head(PREVIEW_ROWS),
            hide_index=True,
            width="stretch",
            key=f"{key}_table",
        )


def audio_mime(path: str) -> str:
    """The MIME type ``st.audio`` needs for a clip, from its file extension."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg"}.get(suffix, "audio/wav")


def report_view(report: dict[str, Any], *, key: str) -> None:
    """The data report: counts, modalities, class balance, notes and warnings."""
    first, second, third = st.columns(3)
    first.metric("Samples", report["samples"], border=True)
    second.metric(
        "Classes", len(report["classes"]), border=True, help=f"Label column: {plain(report['target'])}"
    )
    third.metric("Modalities", len(report["modalities"]), border=True)
    for warning in report["warnings"]:
        st.warning(plain(warning), icon=":material/warning:")
    for note in report["notes"]:
        st.info(plain(note), icon=":material/info:")
    left, right = st.columns([3, 2])
    with left:
        rows = [
            {
                "modality": m["name"],
                "type": m["type"],
                "columns": ", ".join(m["columns"]),
                "absent": m["absent"],
                "missing values": sum(m.get("missing_values", {}).values()),
                "examples": " | ".join(m["examples"]),
            }
            for m in report["modalities"]
        ]
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_modalities")
        if report["unused_columns"]:
            st.caption("Not used: " + plain(", ".join(report["unused_columns"])))
    with right:
        st.plotly_chart(plots.class_balance_figure(report["classes"]), width="stretch", key=f"{key}_balance")


# --- schema corrections ---------------------------------------------------------------------------

ROLE_INPUT, ROLE_TARGET, ROLE_IGNORE = "input", "label", "not used"


def schema_table(dataset: Any) -> Any:
    """One row per column: its role, the modality it belongs to and that modality's type."""
    import pandas as pd

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


def edit_from_table(table: Any) -> state.SchemaEdit:
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
    return state.SchemaEdit(modalities=modalities, target=target)


def schema_editor(dataset: Any, *, key: str, disabled: bool) -> state.SchemaEdit | None:
    """An editable table of columns; returns the correction when the user applies it."""
    from fusion_core.modalities import MODALITIES  # loads torch: only once a dataset is shown

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
        return edit_from_table(edited)
    return None
