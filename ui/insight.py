"""The insight panel at the bottom of the Results page: what the trained model relies on, and where it errs.

``render_insight_panel(run)`` runs ``fusion_core.analysis.analyze_run`` once per
run (cached by run id) and shows, in tabs: modality contributions (masking and
Shapley values), the gradient balance during training, the weights the
method exposes per class, the fused representation in 2-D, and a gallery of
misclassified test samples with every modality as a person sees it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from fusion_core import plots
from fusion_core.baselines import NO_MODEL_MESSAGE, is_baseline_method
from fusion_core.errors import FusionExplorerError
from ui import cache, state
from ui.widgets import audio_mime, guarded, plain, show_error

GALLERY_COLUMNS = 3
GALLERY_DEFAULT = 9


def run_key(run: Any) -> str:
    return str(run.run_id or f"{run.label}|{run.created}")


@st.cache_data(max_entries=8, show_spinner=False)
def _analysis(run_key: str, tsne: bool, dataset_key: str, _run: Any, _dataset: Any) -> dict[str, Any]:
    from fusion_core.analysis import analyze_run

    # The loaded run is shared between sessions; its forward pass keeps no state, so it is analysed as is.
    return analyze_run(_run, dataset=_dataset, tsne=tsne)


def dataset_for(run: Any) -> tuple[str, Any]:
    """The app's dataset as loaded when the run was trained on it; else None (``analyze_run`` loads it).

    Only the uncorrected dataset can match: a run trained on corrected columns names the bundle folder
    written for it as its source (``ui.cache.training_source``).
    """
    choice = state.dataset_choice()
    if choice.config_source != run.config.data.source:
        return "", None
    try:
        return choice.digest, cache.original_dataset(choice)
    except FusionExplorerError:
        return "", None


def render_insight_panel(run: Any, *, key: str = "insight") -> None:
    """Analyse ``run`` (a ``RunResult`` with its model) and show what it learned, in tabs."""
    if is_baseline_method(run.method):
        st.info(f"This run {NO_MODEL_MESSAGE}.", icon=":material/info:")
        return
    if getattr(run, "model", None) is None:
        st.info("This run has no saved model, so it cannot be analysed. Train it again to look inside.")
        return
    st.caption(
        "Computed on the test split. Hiding a modality means the model sees it as missing for every sample."
    )
    tsne = st.toggle(
        "Include a t-SNE map",
        value=False,
        key=f"{key}_tsne",
        help="t-SNE draws a neighbourhood-preserving map of the fused representation. It takes a few seconds "
        "longer than PCA.",
    )
    dataset_key, dataset = dataset_for(run)
    with st.spinner("Analysing the model on the test split…"):
        try:
            report = _analysis(run_key(run), tsne, dataset_key, run, dataset)
        except FusionExplorerError as exc:
            show_error(exc)
            return

    for note in report["summary"]:
        st.markdown(f"- {_sentence(note)}")
    if report["run"].get("task") == "regression":
        tabs = st.tabs(["Modality contribution", "Error by modalities", "Gradients"])
        with tabs[0]:
            _contribution_tab(report["contribution"], key)
        with tabs[1]:
            st.plotly_chart(
                plots.subset_error_figure(report["subset_errors"]),
                width="stretch",
                key=f"{key}_subset_errors",
            )
            st.caption(
                "The test error (RMSE, in the target's units) when the model sees only these modalities; "
                "the others are hidden as if missing. Lower is better."
            )
        with tabs[2]:
            _gradients_tab(report["gradients"], key)
        return
    tabs = st.tabs(["Modality contribution", "Gradients", "Exposed weights", "Fused space", "Misclassified"])
    with tabs[0]:
        _contribution_tab(report["contribution"], key)
    with tabs[1]:
        _gradients_tab(report["gradients"], key)
    with tabs[2]:
        _weights_tab(report["weights"], key)
    with tabs[3]:
        _projection_tab(report["projection"], key)
    with tabs[4]:
        _misclassified_tab(report["misclassified"], report["run"], key)


def _contribution_tab(contribution: dict[str, Any], key: str) -> None:
    score = "R²" if contribution.get("metric") == "r2" else "Macro-F1"
    st.markdown(
        f"{score} with every modality: **{contribution['full']:.2f}**; with none: "
        f"**{contribution['empty']:.2f}**. {_sentence(contribution['note'])}"
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(plots.contribution_figure(contribution), width="stretch", key=f"{key}_drop")
        st.caption(
            "How far macro-F1 falls when one modality is hidden. Large: the model leans on it. Small: the "
            "others can stand in for it (or it is unused)."
        )
    with right:
        if contribution.get("shapley"):
            st.plotly_chart(plots.shapley_figure(contribution), width="stretch", key=f"{key}_shapley")
            st.caption(
                "Each modality's average gain over every order in which the modalities could be added "
                "(Shapley values). They share credit fairly between modalities that carry the same "
                "information, and add up to the score with all minus the score with none."
            )
        else:
            st.info(plain(contribution.get("shapley_note") or "Shapley values need at least one modality."))
    metric = contribution.get("metric", "macro_f1")
    score_name = "R²" if metric == "r2" else "macro-F1"
    with st.expander("Every subset of modalities"):
        st.dataframe(
            [
                {"modalities present": ", ".join(row["present"]) or "(none)", score_name: row[metric]}
                for row in contribution["subsets"]
            ],
            hide_index=True,
            width="stretch",
            key=f"{key}_subsets",
        )


def _gradients_tab(gradients: dict[str, Any], key: str) -> None:
    if gradients.get("dominant") or gradients.get("starved"):
        st.warning(_sentence(gradients["note"]), icon=":material/balance:")
        st.info(_sentence(gradients["recommendation"]), icon=":material/healing:")
    else:
        st.markdown(_sentence(gradients["note"]))
    if gradients["norms"]:
        st.plotly_chart(plots.gradient_figure(gradients), width="stretch", key=f"{key}_gradients")
        st.caption(
            "The mean size of the gradient that reached each modality's encoder, per epoch. When one line "
            "stays far above the others, that modality drives learning and the others learn slowly."
        )


def _weights_tab(weights: dict[str, Any], key: str) -> None:
    if not weights["available"]:
        st.info(_sentence(weights["note"]))
        return
    st.markdown(_sentence(weights["note"]))
    from fusion_core.analysis.weights import is_constant

    for index, (name, kind) in enumerate(weights["kinds"].items()):
        if is_constant(kind):
            continue
        st.plotly_chart(plots.weights_figure(weights, name), width="stretch", key=f"{key}_weights_{index}")
    st.caption(
        "Each box shows how the weight a sample gives each modality is spread over the test samples of one "
        "true class (line: median, dashed: mean)."
    )


def _projection_tab(projection: dict[str, Any], key: str) -> None:
    if not projection.get("available"):
        st.info(plain(projection.get("note", "This method does not expose a fused representation.")))
        return
    st.markdown(
        f"The fused representation has **{projection['dim']}** numbers per sample; here it is squeezed to "
        "two. Colours are the true classes; crosses are misclassified samples."
    )
    which = ["pca"] + (["tsne"] if projection.get("tsne") else [])
    columns = st.columns(len(which))
    for column, name in zip(columns, which, strict=True):
        with column:
            title = "PCA" if name == "pca" else "t-SNE"
            st.plotly_chart(
                plots.projection_figure(projection, name, title=title),
                width="stretch",
                key=f"{key}_map_{name}",
            )
    st.caption(
        "PCA keeps the two directions of largest spread. t-SNE keeps close neighbours close; the distances "
        "between its clusters carry no meaning."
    )


def _misclassified_tab(samples: list[dict[str, Any]], run: dict[str, Any], key: str) -> None:
    total = run["misclassified"]
    if not samples:
        st.success("Every test sample was classified correctly.")
        return
    st.markdown(
        f"**{total}** of {run['test_samples']} test samples are misclassified; the most confident mistakes "
        "come first. They are the most instructive: a mislabelled sample, a modality that misleads, or two "
        "classes the model keeps confusing."
    )
    shown = (
        st.slider(
            "Samples to show",
            1,
            len(samples),
            min(GALLERY_DEFAULT, len(samples)),
            key=f"{key}_gallery_count",
            help="The gallery lists the most confident mistakes first.",
        )
        if len(samples) > 1
        else 1
    )
    columns = st.columns(GALLERY_COLUMNS)
    for index, sample in enumerate(samples[:shown]):
        with columns[index % GALLERY_COLUMNS].container(border=True, key=f"{key}_wrong_{index}"):
            st.markdown(
                f"**{plain(sample['id'])}**  \ntrue **{plain(sample['true'])}** · predicted "
                f"**{plain(sample['predicted'])}** "
                f"({sample['confidence']:.0%} sure)"
            )
            for name, modality in sample["modalities"].items():
                _show_modality(name, modality, f"{key}_{index}_{name}")


def _show_modality(name: str, modality: dict[str, Any], key: str) -> None:
    if not modality.get("present", True):
        st.caption(f"{plain(name)}: missing for this sample")
        return
    shown_as = modality.get("shown_as")
    if shown_as == "image":
        guarded(lambda: st.image(cache.file_bytes(modality["path"]), caption=plain(name), width=128))
    elif shown_as == "audio":
        st.caption(plain(name))
        guarded(lambda: st.audio(cache.file_bytes(modality["path"]), format=audio_mime(modality["path"])))
    elif shown_as == "series":
        values = guarded(lambda: cache.series_values(modality["path"]))
        if values is not None:
            st.caption(plain(name))
            st.line_chart(values, height=120)
    elif shown_as == "text":
        st.markdown(f"{plain(name)}: *{plain(modality['text'])}*")
    elif shown_as == "table":
        cells = ", ".join(f"{column} = {_cell(value)}" for column, value in modality.get("row", {}).items())
        st.caption(f"{plain(name)}: {plain(cells)}")
    elif shown_as == "shape":
        st.caption(f"{plain(name)}: tensor of shape {tuple(modality.get('shape', []))}")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _sentence(note: str) -> str:
    """A note from ``fusion_core.analysis`` as a sentence (capital first letter, final full stop), as plain
    text: notes quote modality and class names, which the user chose."""
    return plain(note[:1].upper() + note[1:] + ("" if note.endswith(".") else "."))
