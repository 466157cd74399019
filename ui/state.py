"""The values the pages share, kept in ``st.session_state`` under fixed keys.

Widget values vanish when their page is left, so every choice that another
page needs is copied into one of the plain keys below: the dataset, the
user's schema corrections, the model choices, the training choices, the
running job and the run picked on the Results page. Pages read and write them
only through the accessors here, so a key is spelled in one place.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig

if TYPE_CHECKING:
    from ui.jobs import Job

DATASET = "fx_dataset"
SCHEMA = "fx_schema"
MODEL = "fx_model"
TRAIN = "fx_train"
JOB = "fx_job"
UPLOAD_ERROR = "fx_upload_error"
SELECTED_RUN = "fx_selected_run"
PREDICT_UPLOAD = "fx_predict_upload"  # the new samples uploaded on the Predict page (a DatasetChoice)
WORKSPACE = "fx_workspace"
WORKSPACE_ERROR = "fx_workspace_error"
WORKSPACE_PARAM = "workspace"  # ?workspace=NAME in the address opens (or creates) a named workspace

RUNS_ENV = "FUSION_EXPLORER_RUNS"


def runs_root() -> str | None:
    """The run store folder: ``$FUSION_EXPLORER_RUNS`` when set, else RunStore's default (``./runs``)."""
    return os.environ.get(RUNS_ENV) or None


@dataclass(frozen=True)
class DatasetChoice:
    """Which dataset the pages work on.

    ``source`` is what ``fusion_core.data.load_dataset`` takes: a sample name, the
    path of an uploaded bundle, or a tuple of paths of per-modality files.
    ``digest`` identifies the content (a sample's name, an upload's SHA-256), so
    caches and widget keys change exactly when the data does.
    """

    kind: str  # "sample" | "upload"
    label: str
    source: str | tuple[str, ...]
    digest: str

    @property
    def config_source(self) -> str:
        """A ``DataConfig.source`` string for this choice; a file set is named by its first path here.

        Training uses ``ui.cache.training_source`` instead, which turns file sets and corrected
        schemas into one bundle folder that loads exactly the dataset on screen.
        """
        return self.source if isinstance(self.source, str) else self.source[0]


@dataclass
class SchemaEdit:
    """The user's corrections to what inference guessed; None keeps the bundle's own."""

    modalities: dict[str, dict[str, Any]] | None = None
    target: str | None = None
    task: str | None = None  # "classification" or "regression"

    def is_empty(self) -> bool:
        return self.modalities is None and self.target is None and self.task is None


@dataclass
class ModelChoices:
    """Preprocessing per modality and the model: what the Model page sets."""

    preprocessing: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)


@dataclass
class TrainChoices:
    """How to train, and which methods and seeds "Train and compare" queues."""

    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    compare_methods: list[str] = field(default_factory=list)


def default_dataset() -> DatasetChoice:
    from fusion_core.samples import DEFAULT_SAMPLE

    return sample_choice(DEFAULT_SAMPLE)


def sample_choice(name: str) -> DatasetChoice:
    return DatasetChoice(kind="sample", label=name, source=name, digest=f"sample:{name}")


def workspace() -> str:
    """This session's workspace: the one named in the address (``?workspace=NAME``) when there is
    one, else a private one made up for the session. Its runs, and the CLI's, are the ones it lists."""
    from fusion_core.errors import ConfigError
    from fusion_core.runs import check_workspace  # imported here: fusion_core.runs loads PyTorch

    named = st.query_params.get(WORKSPACE_PARAM)
    if named and named != st.session_state.get(WORKSPACE):
        try:
            st.session_state[WORKSPACE] = check_workspace(named)
            st.session_state[WORKSPACE_ERROR] = None
        except ConfigError as exc:
            st.session_state[WORKSPACE_ERROR] = f"The workspace in the address was not opened: {exc}."
    if WORKSPACE not in st.session_state:
        st.session_state[WORKSPACE] = f"session-{secrets.token_hex(6)}"
    return st.session_state[WORKSPACE]


def workspace_error() -> str | None:
    """Why the workspace named in the address was not opened, if it was not."""
    return st.session_state.get(WORKSPACE_ERROR)


def init_session() -> None:
    """Create every shared key once per browser session."""
    defaults: dict[str, Any] = {
        SCHEMA: SchemaEdit(),
        MODEL: ModelChoices(),
        TRAIN: TrainChoices(),
        JOB: None,
        UPLOAD_ERROR: None,
        SELECTED_RUN: None,
    }
    if DATASET not in st.session_state:
        st.session_state[DATASET] = default_dataset()
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def dataset_choice() -> DatasetChoice:
    if DATASET not in st.session_state:
        st.session_state[DATASET] = default_dataset()
    return st.session_state[DATASET]


def set_dataset_choice(choice: DatasetChoice) -> None:
    """Switch datasets; corrections and model choices made for the old one are dropped."""
    if st.session_state.get(DATASET) == choice:
        return
    st.session_state[DATASET] = choice
    st.session_state[SCHEMA] = SchemaEdit()
    st.session_state[MODEL] = ModelChoices()
    train = train_choices()
    train.compare_methods = []


def schema_edit() -> SchemaEdit:
    return st.session_state.setdefault(SCHEMA, SchemaEdit())


def set_schema_edit(edit: SchemaEdit) -> None:
    st.session_state[SCHEMA] = edit
    st.session_state[MODEL] = ModelChoices()


def model_choices() -> ModelChoices:
    return st.session_state.setdefault(MODEL, ModelChoices())


def set_model_choices(choices: ModelChoices) -> None:
    st.session_state[MODEL] = choices


def default_fusion(methods: Sequence[str]) -> str:
    """The method to start from among ``methods`` (what the data allow): concat, else the first."""
    return "concat" if "concat" in methods else methods[0]


def model_for(methods: Sequence[str]) -> ModelConfig:
    """The chosen model, with a fusion method the data in use allow.

    A page may run before the Model page ever has (Train opened straight after an
    upload), and a dataset with one modality has no concat: then the default method
    among ``methods`` replaces the saved one, and is saved, so training uses it too.
    """
    choices = model_choices()
    if choices.model.fusion in methods:
        return choices.model
    model = dataclasses.replace(choices.model, fusion=default_fusion(methods), fusion_options={})
    set_model_choices(ModelChoices(preprocessing=choices.preprocessing, model=model))
    return model


def train_choices() -> TrainChoices:
    return st.session_state.setdefault(TRAIN, TrainChoices())


def set_train_choices(choices: TrainChoices) -> None:
    st.session_state[TRAIN] = choices


def current_job() -> Job | None:
    return st.session_state.get(JOB)


def set_current_job(job: Job | None) -> None:
    st.session_state[JOB] = job


def job_running() -> bool:
    job = current_job()
    return bool(job and job.running)


def selected_run() -> str | None:
    return st.session_state.get(SELECTED_RUN)


def set_selected_run(run_id: str | None) -> None:
    st.session_state[SELECTED_RUN] = run_id


def predict_upload() -> DatasetChoice | None:
    return st.session_state.get(PREDICT_UPLOAD)


def set_predict_upload(choice: DatasetChoice) -> None:
    st.session_state[PREDICT_UPLOAD] = choice


def experiment_config(
    *, source: str | None = None, fusion: str | None = None, seed: int | None = None
) -> ExperimentConfig:
    """The full experiment the current choices describe (a fresh copy, safe to hand to a thread).

    ``source`` replaces the dataset choice's own source, e.g. with the bundle folder written for a
    corrected schema (``ui.cache.training_source``).
    """
    choice = dataset_choice()
    model_state = model_choices()
    train_state = train_choices()
    model = copy.deepcopy(model_state.model)
    if fusion is not None:
        model.fusion = fusion
        if fusion != model_state.model.fusion:
            model.fusion_options = {}
    train = copy.deepcopy(train_state.train)
    if seed is not None:
        train.seed = seed
    data = DataConfig(
        source=source or choice.config_source, preprocessing=copy.deepcopy(model_state.preprocessing)
    )
    return ExperimentConfig(data=data, model=model, train=train)
