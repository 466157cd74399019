"""Hand a run to someone else: one zip out, one zip in, and nothing in it that can run code.

A run zip holds the run folder's plain files (see ``fusion_core.runs``): the
configuration, metrics, history, predictions, fitted preprocessing and input
specs as JSON and CSV, the weights as a state dict of tensors, and
``MODEL_CARD.md``, a Markdown page that says what the model is, how well it did,
and how to repeat it or feed its ONNX export.

Importing checks the whole zip before it writes anything: it must be a zip;
every member must be one of the known flat file names (no folders, no ``..``,
no links, no duplicates) within its size limit and not a compression bomb;
every file must parse; the configuration must build a known model; and the
weights must load with ``torch.load(weights_only=True)`` (no pickled code) and
fit that model exactly. Any failure raises ``DataError`` and leaves the store
as it was.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

from fusion_core.errors import ConfigError, DataError, FusionExplorerError
from fusion_core.experiment import RunResult
from fusion_core.modalities import MODALITIES
from fusion_core.predict import check_predictable, trained_schema
from fusion_core.runs import (
    RUN_FILES,
    WEIGHTS_FILE,
    RunFileError,
    RunStore,
    WeightsMismatchError,
    parse_run,
)

MODEL_CARD = "MODEL_CARD.md"
MB = 1024 * 1024
MEMBER_LIMITS = {
    WEIGHTS_FILE: 512 * MB,
    "predictions.csv": 64 * MB,
    "preprocessing_state.json": 64 * MB,
    MODEL_CARD: 4 * MB,
}
"""Largest size, uncompressed, of each member; the other JSON files get ``DEFAULT_LIMIT``."""
DEFAULT_LIMIT = 16 * MB
MAX_RATIO = 200  # uncompressed / compressed; run files compress ~3-10x, a zip bomb thousands of times
ALLOWED = (*RUN_FILES, WEIGHTS_FILE, MODEL_CARD)

__all__ = ["export_run", "import_run", "model_card", "read_run_zip"]


# -----------------------------------------------------------------------------
# export


def export_run(store: RunStore, run_id: str, out: str | os.PathLike[str] | None = None) -> bytes:
    """The run as zip bytes (written to ``out`` too when given): its files plus ``MODEL_CARD.md``."""
    run = store.load(run_id)
    check_predictable(run)
    folder = store.folder(run_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in (*RUN_FILES, WEIGHTS_FILE):
            archive.write(folder / name, name)
        archive.writestr(MODEL_CARD, model_card(run))
    data = buffer.getvalue()
    if out is not None:
        Path(out).expanduser().write_bytes(data)
    return data


def model_card(run: RunResult) -> str:
    """A Markdown page about the run: data, modalities, method, metrics, confusion matrix (for
    classes), how to repeat it and how to read its ONNX output."""
    metrics = run.metrics
    regression = run.task == "regression"
    mean, std = run.target_scale
    lines = [
        f"# Model card: {_md(run.label)}",
        "",
        f"- **Run id:** {_md(str(run.run_id))}",
        f"- **Data:** {_md(run.dataset_name)} (source `{_code(run.config.data.source)}`)",
        f"- **Fusion method:** {_md(run.method)}",
        f"- **Seed:** {run.seed} · **epochs:** {run.epochs_run} ({_md(run.stopped)}) · "
        f"**parameters:** {run.params:,} · **trained on:** {_md(run.device)} in {run.train_seconds:.1f} s",
        f"- **Task:** regression (predicts a number; training targets: mean {mean:.4g}, std {std:.4g})"
        if regression
        else f"- **Classes:** {', '.join(_md(c) for c in run.class_names)}",
        "",
        "## Modalities",
        "",
        "| modality | type | columns | encoder | model input |",
        "| --- | --- | --- | --- | --- |",
    ]
    encoders = run.config.model.encoders
    for name, spec in trained_schema(run).items():
        encoder = encoders[name].name if name in encoders else "not used"
        shape = run.input_specs.get(name)
        form = f"{shape.form} (N, {', '.join(map(str, shape.shape))})" if shape else "not used"
        lines.append(f"| {_md(name)} | {spec.type} | {_md(', '.join(spec.columns))} | {encoder} | {form} |")
    lines += [
        "",
        "## Test metrics",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    shown = (
        (("r2", "R²"), ("mae", "MAE (target units)"), ("rmse", "RMSE (target units)"))
        if regression
        else (
            ("accuracy", "accuracy"),
            ("macro_f1", "macro F1"),
            ("weighted_f1", "weighted F1"),
            ("roc_auc", "ROC-AUC (one-vs-rest)"),
        )
    )
    for key, title in shown:
        value = metrics.get(key)
        lines.append(f"| {title} | {'n/a' if value is None else f'{value:.4f}'} |")
    if not regression:
        matrix = metrics.get("confusion_matrix") or []
        lines += [
            "",
            "## Confusion matrix (rows: true class, columns: predicted class)",
            "",
            "| true \\ predicted | " + " | ".join(_md(c) for c in run.class_names) + " |",
            "| --- |" + " --- |" * len(run.class_names),
        ]
        for name, row in zip(run.class_names, matrix, strict=False):
            lines.append(f"| {_md(name)} | " + " | ".join(str(v) for v in row) + " |")
    inputs = [
        f"`{name}` ({spec.form}, shape (N, {', '.join(map(str, spec.shape))}), "
        f"{'int64 token ids' if spec.form == 'tokens' else 'float32'}) and `{name}_present` (N,) bool"
        for name, spec in run.input_specs.items()
    ]
    lines += [
        "",
        "## Repeat this run",
        "",
        "The configuration with every option is `config.json` in this zip:",
        "",
        "```bash",
        "fusion-explorer import run.zip",
        "fusion-explorer train --config config.json",
        "```",
        "",
        "The same data and seed give the same metrics.",
        "",
        "## Predict with it",
        "",
        "```bash",
        f"fusion-explorer predict --run {run.run_id} --data new_samples.zip --out predictions.csv",
        "```",
        "",
        "New samples need the same modalities and columns; the fitted preprocessing in "
        "`preprocessing_state.json` is applied as saved, never re-fitted.",
        "",
        "## ONNX",
        "",
        f"`fusion-explorer export --run {run.run_id} --onnx model.onnx` writes the network alone. It takes the "
        "inputs after preprocessing, one named input per modality plus its presence mask, and returns "
        + (
            f"`logits` (N, 1), the standardised value: the prediction is `logits * {std:.6g} + {mean:.6g}` "
            "in the target's units:"
            if regression
            else "`logits` (N, C) (softmax them for probabilities):"
        ),
        "",
        *[f"- {line}" for line in inputs],
        "",
        "A modality absent for a sample gets zeros and `False` in its mask.",
        "",
    ]
    return "\n".join(lines)


def _md(text: str) -> str:
    """User text inside Markdown: characters that would format or break a table are escaped."""
    out = str(text).replace("\\", "\\\\").replace("\n", " ")
    for char in "|*_`[]<>#":
        out = out.replace(char, "\\" + char)
    return out


def _code(text: str) -> str:
    return str(text).replace("`", "'").replace("\n", " ")


# -----------------------------------------------------------------------------
# import


def import_run(store: RunStore, source: str | os.PathLike[str] | bytes, shown: str | None = None) -> str:
    """Check a run zip completely, then add it to ``store``; return the new run's id.

    ``source`` is a path or the zip's bytes (an upload). Raises ``DataError`` naming
    what is wrong; nothing is written unless every check passes.
    """
    if isinstance(source, bytes):
        data, shown = source, shown or "the uploaded file"
    else:
        path = Path(source).expanduser()
        shown = shown or path.name
        if not path.is_file():
            raise DataError(
                f"{path} is not a file; give the path of a run zip made by 'fusion-explorer export'"
            )
        data = path.read_bytes()
    files, run = read_run_zip(data, shown)
    return store.add_files(files, run)


def read_run_zip(data: bytes, shown: str = "the zip") -> tuple[dict[str, bytes], RunResult]:
    """The checked files of a run zip and the run they describe; ``DataError`` when anything is wrong."""
    hint = "export the run again with 'fusion-explorer export'"
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DataError(f"{shown} is not a zip file; {hint}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_members(members, shown, hint)
            files = {info.filename: _read_member(archive, info, shown, hint) for info in members}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise DataError(f"{shown} is a damaged zip ({exc}); {hint}") from None
    missing = [name for name in RUN_FILES if name not in files]
    if missing:
        raise DataError(f"{shown} lacks {', '.join(missing)}; a run zip holds {', '.join(RUN_FILES)}; {hint}")
    if WEIGHTS_FILE not in files:
        raise DataError(f"{shown} has no weights ({WEIGHTS_FILE}), so it cannot be used to predict; {hint}")
    try:
        run_id = str(json.loads(files["run.json"].decode("utf-8")).get("run_id", ""))
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise DataError(f"{shown}: run.json is not a JSON object; {hint}") from None
    try:
        run = parse_run(files.get, run_id)
    except RunFileError as exc:
        raise DataError(f"{shown}: {exc}; {hint}") from None
    except WeightsMismatchError:
        raise DataError(
            f"{shown}: the weights in {WEIGHTS_FILE} do not fit the network its config.json builds "
            f"(another architecture or other sizes); {hint}"
        ) from None
    except ConfigError as exc:
        raise DataError(
            f"{shown}: config.json does not describe a model this version can build: {exc}"
        ) from None
    except FusionExplorerError as exc:
        raise DataError(f"{shown}: {exc}") from None
    _check_consistent(run, shown, hint)
    return files, run


def _check_members(members: list[zipfile.ZipInfo], shown: str, hint: str) -> None:
    seen: set[str] = set()
    for info in members:
        name = info.filename
        if name not in ALLOWED:
            if "/" in name or "\\" in name or name.startswith(".."):
                raise DataError(
                    f"{shown} holds {name!r}, a path outside the run's flat list of files; it was refused. "
                    f"A run zip holds only {', '.join(ALLOWED)}"
                )
            raise DataError(
                f"{shown} holds an unexpected file {name!r}; a run zip holds only {', '.join(ALLOWED)}"
            )
        if name in seen:
            raise DataError(f"{shown} holds {name!r} twice; {hint}")
        seen.add(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode) or info.is_dir():
            raise DataError(f"{shown}: {name!r} is a link or folder, not a plain file; {hint}")
        if info.flag_bits & 0x1:
            raise DataError(f"{shown}: {name!r} is encrypted; {hint}")
        limit = MEMBER_LIMITS.get(name, DEFAULT_LIMIT)
        if info.file_size > limit:
            raise DataError(
                f"{shown}: {name!r} is {info.file_size / MB:.1f} MB unpacked, over the {limit / MB:.0f} MB limit "
                "for that file; it was refused"
            )
        if info.file_size > MB and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise DataError(
                f"{shown}: {name!r} unpacks to {info.file_size / max(1, info.compress_size):.0f} times its "
                "packed size, which only a zip bomb does; it was refused"
            )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, hint: str) -> bytes:
    """Read at most the member's limit, whatever its header claims."""
    limit = MEMBER_LIMITS.get(info.filename, DEFAULT_LIMIT)
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{shown}: {info.filename!r} unpacks to more than its {limit / MB:.0f} MB limit")
    return data


def _check_consistent(run: RunResult, shown: str, hint: str) -> None:
    """The parts agree with each other: classes, modalities, predictions."""
    problems: list[str] = []
    if run.task == "regression":
        if run.class_names or run.probabilities.shape[1:] != (1,):
            problems.append("a regression run has classes or no predicted value per sample")
    elif run.probabilities.shape[1:] != (len(run.class_names),):
        problems.append("predictions.csv has no probability column per class")
    specs = set(run.input_specs)
    if not specs or not specs <= set(run.preprocessing_state):
        problems.append("input_specs.json names modalities the preprocessing does not")
    for name, fitted in run.preprocessing_state.items():
        if not isinstance(fitted, dict) or not isinstance(fitted.get("type"), str):
            problems.append(f"the preprocessing of {name!r} has no type")
            continue
        if fitted["type"] not in MODALITIES:
            problems.append(f"modality {name!r} has an unknown type {fitted['type']!r}")
    if problems:
        raise DataError(f"{shown}: {problems[0]}; {hint}")
