"""Describe a component's options from its keyword-only constructor arguments.

Encoders, fusion methods and modality preprocessors take their settings as
keyword-only arguments with defaults. ``describe_options`` reads them back so
the app can build a form and the CLI can validate ``key=value`` pairs without
a hand-written list. Help text comes from the class's ``option_help`` and the
allowed values of a choice from ``option_choices``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from fusion_core.errors import ConfigError


@dataclass(frozen=True)
class OptionInfo:
    name: str
    default: Any
    kind: type
    help: str = ""
    choices: tuple[Any, ...] | None = None


def describe_options(cls: type) -> list[OptionInfo]:
    signature = inspect.signature(cls.__init__)
    helps = getattr(cls, "option_help", {})
    choices = getattr(cls, "option_choices", {})
    infos = []
    for param in signature.parameters.values():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if param.default is inspect.Parameter.empty:
            continue
        default = param.default
        kind = type(default) if default is not None else str
        infos.append(
            OptionInfo(
                name=param.name,
                default=default,
                kind=kind,
                help=helps.get(param.name, ""),
                choices=tuple(choices[param.name]) if param.name in choices else None,
            )
        )
    return infos


def check_options(cls: type, options: dict[str, Any], what: str) -> dict[str, Any]:
    """Validate user options against ``cls``'s keyword-only arguments; coerce numbers.

    Raises ConfigError naming the unknown option or bad value and listing the valid ones.
    """
    known = {info.name: info for info in describe_options(cls)}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key not in known:
            valid = ", ".join(known) or "none"
            raise ConfigError(f"{what} has no option {key!r}; valid options: {valid}")
        info = known[key]
        checked[key] = _coerce(value, info, what)
    return checked


_KIND_WORDS = {int: "a whole number", float: "a number"}


def _coerce(value: Any, info: OptionInfo, what: str) -> Any:
    coerced = _to_kind(value, info, what)
    if info.choices is not None and coerced not in info.choices:
        allowed = ", ".join(map(str, info.choices))
        raise ConfigError(f"{what} option {info.name}={value!r} is not allowed; choose one of: {allowed}")
    return coerced


def _to_kind(value: Any, info: OptionInfo, what: str) -> Any:
    """Turn text from a command line or form into the option's type (``"3"`` → 3, ``"yes"`` → True)."""
    if info.kind is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{what} option {info.name} takes true or false, not {value!r}")
        return bool(value)
    if info.kind in (int, float):
        try:
            return info.kind(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{what} option {info.name} takes {_KIND_WORDS[info.kind]}, not {value!r}"
            ) from None
    return value


def require_at_least(what: str, minimum: int, **values: int) -> None:
    """Raise ConfigError when an option such as ``layers`` or ``hidden`` is below ``minimum``.

    >>> require_at_least("encoder 'mlp'", 1, hidden=64, out_dim=8)
    """
    for name, value in values.items():
        if value < minimum:
            raise ConfigError(f"{what} option {name} must be at least {minimum}, got {value}")


def require_fraction(what: str, **values: float) -> None:
    """Raise ConfigError when a rate such as ``dropout`` is outside [0, 1)."""
    for name, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{what} option {name} must be in [0, 1), got {value}")
