"""Errors that Fusion Explorer raises for problems a user can fix.

Every message says what is wrong and how to fix it. The app shows the
message with ``st.error``; the CLI prints it as one ``error: …`` line and
exits with status 2. Anything that is *not* one of these errors is a bug in
Fusion Explorer, not in the user's input.
"""

from __future__ import annotations


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
