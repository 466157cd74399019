"""Errors that Fusion Explorer raises for problems a user can fix.

Every message says what is wrong and how to fix it. The app shows the
message with ``st.error``; the CLI prints it as one ``error: …`` line and
exits with status 2. Anything that is *not* one of these errors is a bug in
Fusion Explorer, not in the user's input.
"""

from __future__ import annotations

import os
import re

from fusion_core.paths import CACHE_ENV, DEFAULT_CACHE


class FusionExplorerError(Exception):
    """Base class of every error caused by user input or configuration."""


class DataError(FusionExplorerError):
    """A dataset bundle, file or column is unusable as given."""


class ConfigError(FusionExplorerError):
    """A choice of encoder, fusion method, preprocessing or training option is invalid."""


class TrainingError(FusionExplorerError):
    """Training could not go on (for example the loss became NaN)."""


class RunNotFoundError(FusionExplorerError):
    """A saved run was asked for by an id that the run registry does not hold."""


MAX_SHOWN_VALUE = 80
"""A value quoted in a message (a label, a cell, a column name) is cut to this many characters."""

MAX_MESSAGE = 1000
"""A message longer than this is cut (a user's value can be as long as a file)."""

_LONG_WORD = re.compile(rf"\S{{{MAX_SHOWN_VALUE + 1},}}")
_OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def user_message(error: BaseException) -> str:
    """The error's message as a user should read it: one line, no object reprs, no cache paths.

    Runs of more than ``MAX_SHOWN_VALUE`` characters without a space (a huge cell) are cut, and the
    whole message to ``MAX_MESSAGE`` characters; ``<x.Y object at 0x…>``
    becomes ``a Y``, and the cache folder (where uploads are unpacked) is left out of paths.
    """
    text = " ".join(str(error).split())
    cache = os.path.abspath(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    text = re.sub(re.escape(cache) + r"/(?:[\w.-]+/)*", "", text)
    text = _OBJECT_REPR.sub(lambda m: f"a {m.group(1).rsplit('.', 1)[-1]}", text)
    text = _LONG_WORD.sub(lambda m: m.group()[:MAX_SHOWN_VALUE] + "…", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
