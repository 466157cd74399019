"""Widgets built from a component's options, so a new encoder or method needs no UI code.

``describe_options(cls)`` lists a class's keyword-only arguments with their
defaults, help text and allowed values; :func:`options_form` turns each into
the widget that fits its type (checkbox, selectbox, number input or text
input) with the help text as the tooltip, and returns the chosen values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from fusion_core.config import IMBALANCE_REMEDIES, REMEDY_HELP, SCHEDULES
from fusion_core.options import OptionInfo, describe_options


def pretty(name: str) -> str:
    """``hidden_dim`` → ``Hidden dim``."""
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def option_widget(
    info: OptionInfo,
    *,
    key: str,
    value: Any = None,
    disabled: bool = False,
) -> Any:
    """One widget for one option; ``value`` (when not None) overrides the default."""
    current = info.default if value is None else value
    label = pretty(info.name)
    help_text = info.help or f"default: {info.default}"
    common: dict[str, Any] = {
        "key": key,
        "help": help_text,
        "disabled": disabled,
        "persist_state": "session",
    }
    if info.choices is not None:
        options = list(info.choices)
        index = options.index(current) if current in options else 0
        return st.selectbox(label, options, index=index, **common)
    if info.kind is bool:
        return st.checkbox(label, value=bool(current), **common)
    if info.kind is int:
        return int(st.number_input(label, value=int(current), step=1, **common))
    if info.kind is float:
        number = float(current)
        step = _float_step(number)
        return float(st.number_input(label, value=number, step=step, format=_float_format(step), **common))
    if info.default is None:
        text = st.text_input(label, value="" if current is None else str(current), **common)
        return text or None
    return st.text_input(label, value=str(current), **common)


def options_form(
    cls: type,
    *,
    key_prefix: str,
    values: Mapping[str, Any] | None = None,
    disabled: bool = False,
    columns: int = 2,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Render a widget per option of ``cls`` and return ``{option: chosen value}``.

    Only options that differ from their defaults are returned, so the saved
    configuration stays short and a later change of a default is picked up.
    """
    infos = [info for info in describe_options(cls) if info.name not in exclude]
    if not infos:
        st.caption("No options to set.")
        return {}
    values = values or {}
    chosen: dict[str, Any] = {}
    slots = st.columns(min(columns, len(infos)))
    for index, info in enumerate(infos):
        with slots[index % len(slots)]:
            value = option_widget(
                info, key=f"{key_prefix}:{info.name}", value=values.get(info.name), disabled=disabled
            )
        if value != info.default:
            chosen[info.name] = value
    return chosen


def _float_step(value: float) -> float:
    magnitude = abs(value)
    if magnitude == 0:
        return 0.01
    if magnitude < 0.001:
        return 0.0001
    if magnitude < 0.01:
        return 0.001
    if magnitude < 1:
        return 0.01 if magnitude >= 0.1 else 0.005
    return 0.1


def _float_format(step: float) -> str:
    decimals = len(f"{step:.6f}".rstrip("0").split(".")[1]) + (1 if step < 1e-3 else 0)
    decimals = max(2, decimals)
    return f"%.{decimals}f"


# --- training settings ----------------------------------------------------------------------------

TRAIN_FIELDS: tuple[tuple[str, str, tuple, str], ...] = (
    # (TrainConfig field, label, (min, max, step) or choices, help)
    (
        "epochs",
        "Epochs",
        (1, 1000, 1),
        "The cap on passes over the training data. Training usually stops sooner: when validation "
        "macro-F1 has stopped improving (see the patience).",
    ),
    (
        "batch_size",
        "Batch size",
        (1, 4096, 1),
        "Samples per weight update: smaller is noisier but updates more often. A small training "
        "split trains with smaller batches, so that every epoch has at least 16 updates.",
    ),
    (
        "lr",
        "Learning rate",
        (1e-6, 1.0, 1e-4),
        "Size of each update step. Too high and the loss jumps around or explodes; too low and it crawls.",
    ),
    (
        "optimizer",
        "Optimiser",
        ("adamw", "adam", "sgd"),
        "adamw: Adam with decoupled weight decay, a safe default. adam: the same without it. "
        "sgd: plain gradient descent with momentum.",
    ),
    (
        "patience",
        "Early stopping patience",
        (1, 500, 1),
        "Stop when the validation score (macro-F1, or R² for a number) has not improved for this many "
        "epochs; the best epoch is kept.",
    ),
    (
        "schedule",
        "Learning-rate schedule",
        SCHEDULES,
        "plateau: halve the rate when validation macro-F1 stalls (the default). cosine: warm up for two "
        "epochs, then decay smoothly to the cap. constant: keep the rate fixed.",
    ),
    (
        "time_budget",
        "Time budget (s)",
        (0.0, 86_400.0, 10.0),
        "Stop each training run after this many seconds, keeping its best epoch. 0: no limit.",
    ),
    ("device", "Device", ("auto", "cpu", "cuda", "mps"), ""),
    (
        "weight_decay",
        "Weight decay",
        (0.0, 1.0, 1e-4),
        "Pulls weights towards zero at each step; a mild guard against overfitting.",
    ),
    (
        "average_weights",
        "Weight-average half-life",
        (0.0, 20.0, 0.5),
        "Score and keep a running average of the weights instead of the weights of the last step; "
        "the number is its half-life in epochs. The average jitters less and usually generalises a "
        "little better. 0: off.",
    ),
    (
        "class_weighting",
        "Class weighting",
        (),
        "Weigh each class by the inverse of its frequency, so rare classes count as much as common ones.",
    ),
)


IMBALANCE_FIELDS: tuple[tuple[str, str, tuple, str], ...] = (
    (
        "imbalance",
        "Remedy",
        IMBALANCE_REMEDIES,
        " · ".join(f"{name}: {text}" for name, text in REMEDY_HELP.items()),
    ),
    (
        "ogm_alpha",
        "OGM-GE strength (alpha)",
        (0.01, 5.0, 0.05),
        "How hard OGM-GE slows the dominant modality: its gradient is scaled by 1 - tanh(alpha·(ratio - 1)).",
    ),
    (
        "modality_dropout",
        "Modality dropout",
        (0.0, 0.9, 0.05),
        "Chance of hiding each modality of a training sample, so the model learns to cope when one is "
        "missing and cannot lean on one modality alone.",
    ),
)
IMBALANCE_TITLE = "Modality imbalance remedies"
IMBALANCE_CAPTION = (
    "When one modality dominates (the insight panel's gradient note says so), the others stop "
    "learning. These options push back: OGM-GE slows the dominant encoder, gradient blending gives "
    "every modality its own weighted loss, modality dropout hides modalities at random."
)


SEEDS_HELP = (
    "How many times 'Train and compare' trains each method, each time from a different random start. "
    "More seeds give error bars, and differences you can trust."
)


def train_settings(
    current: Any, *, seeds: int, disabled: bool, device_label: str, columns: int = 4
) -> tuple[dict[str, Any], int]:
    """Widgets for the ``TrainConfig`` fields in ``TRAIN_FIELDS`` and the number of seeds, in rows.

    Returns ``({field: value}, seeds)``.
    """
    values: dict[str, Any] = {}
    fields = [*TRAIN_FIELDS[:-1], ("seeds", "Seeds", (1, 10, 1), SEEDS_HELP), TRAIN_FIELDS[-1]]
    for start in range(0, len(fields), columns):
        slots = st.columns(columns, vertical_alignment="bottom")
        for slot, (name, label, spec, help_text) in zip(slots, fields[start : start + columns], strict=False):
            value = seeds if name == "seeds" else getattr(current, name)
            if name == "time_budget":
                value = value or 0.0  # None (no limit) is shown as 0
            if name == "device":
                help_text = f"Where to train. 'auto' uses the best one this machine has: {device_label}."
            with slot:
                values[name] = _train_widget(name, label, spec, help_text, value, disabled)
    values["time_budget"] = values["time_budget"] or None
    with st.expander(IMBALANCE_TITLE, expanded=current.imbalance != "none" or current.modality_dropout > 0):
        st.caption(IMBALANCE_CAPTION)
        slots = st.columns(len(IMBALANCE_FIELDS), vertical_alignment="bottom")
        for slot, (name, label, spec, help_text) in zip(slots, IMBALANCE_FIELDS, strict=True):
            with slot:
                values[name] = _train_widget(name, label, spec, help_text, getattr(current, name), disabled)
    return values, int(values.pop("seeds"))


def _train_widget(name: str, label: str, spec: tuple, help_text: str, value: Any, disabled: bool) -> Any:
    common: dict[str, Any] = {
        "key": f"train_{name}",
        "help": help_text,
        "disabled": disabled,
        "persist_state": "session",
    }
    if not spec:
        return st.checkbox(label, value=bool(value), **common)
    if isinstance(spec[0], str):
        options = list(spec)
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, **common)
    low, high, step = spec
    if isinstance(step, int):
        return int(st.number_input(label, int(low), int(high), int(value), step, **common))
    number = st.number_input(
        label, float(low), float(high), float(value), float(step), format=_float_format(step), **common
    )
    return float(number)
