"""A bug on a page shows a plain message with what to try; the traceback goes to the server's log."""

from __future__ import annotations

import logging
import re
import tomllib

from app_helpers import ROOT, new_app, open_page

from ui import cache
from ui.errors import UNEXPECTED_TITLE


def test_an_unexpected_error_shows_a_plain_message_and_logs_the_traceback(monkeypatch, caplog):
    def broken() -> list:
        raise RuntimeError("internal detail at /srv/app/secret.py")

    at = new_app()
    monkeypatch.setattr(cache, "sample_infos", broken)
    with caplog.at_level(logging.ERROR, logger="fusion_explorer.app"):
        open_page(at, "home")
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert UNEXPECTED_TITLE in message and "Try reloading the page" in message
    assert "secret" not in message and "RuntimeError" not in message
    reference = re.search(r"reference \*\*([\w-]+)\*\*", message).group(1)
    (record,) = [r for r in caplog.records if reference in r.getMessage()]
    assert record.exc_info and "internal detail" in str(record.exc_info[1])


def test_errors_that_escape_the_app_show_no_details_in_the_browser():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
