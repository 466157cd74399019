"""What a user sees when the app hits a bug, and what the server log keeps.

Bad input raises our own ``FusionExplorerError`` and is shown where it happens
(``ui.widgets.show_error``). Anything else is a bug: the page shows a short
message with what to try and a reference, and the traceback goes to the
server's log under the same reference, never to the browser. ``app.py`` runs
every page inside ``unexpected_errors``; fragments that poll a job use it too,
because a fragment's rerun does not pass through ``app.py``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

LOG = logging.getLogger("fusion_explorer.app")
UNEXPECTED_TITLE = "Something went wrong on this page."


def report_unexpected(error: BaseException) -> str:
    """Log ``error`` with its traceback under a fresh reference, show the plain message; return the reference."""
    reference = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    LOG.error("unexpected error, reference %s", reference, exc_info=error)
    st.error(
        f"**{UNEXPECTED_TITLE}** This is a bug in Fusion Explorer, not something you did. "
        "Try reloading the page, or go back to Home and take another path; choosing another dataset "
        "on the Data page often gets around it. If it keeps happening, please report it with the "
        f"reference **{reference}**: the server's log holds the details under it.",
        icon=":material/bug_report:",
    )
    return reference


@contextmanager
def unexpected_errors() -> Iterator[None]:
    """Show any unexpected exception raised inside as the plain message above (st.stop and st.rerun pass)."""
    try:
        yield
    except Exception as error:  # a bug: our own input errors are handled where they are raised
        report_unexpected(error)
