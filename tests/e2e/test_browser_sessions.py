"""Two people on one server, training at the same time in two browser sessions: both runs finish,
and each session sees only its own job while it runs and only its own run afterwards."""

from __future__ import annotations

import re
import time

import pytest
from test_browser import main, no_exception, open_page, progress_text, wait_idle, watch_progress

from fusion_core.runs import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]


SAMPLE = "cancer-views"  # small and tabular: quick to prepare and to train


def start_training(page, url: str, epochs: int) -> None:
    page.goto(url)
    main(page).locator("h1", has_text="Fusion Explorer").wait_for()
    wait_idle(page)
    main(page).locator(f".st-key-home_card_{SAMPLE}").get_by_role("button", name="Use this dataset").click()
    main(page).locator("h1", has_text="Data").first.wait_for()
    wait_idle(page)
    open_page(page, "Train")
    field = main(page).get_by_role("spinbutton", name="Epochs", exact=True)
    field.fill(str(epochs))
    field.press("Enter")
    wait_idle(page)
    main(page).get_by_role("button", name="Train", exact=True).click()


def test_two_sessions_train_at_once_and_each_sees_only_its_own(browser, fresh_server, monkeypatch):
    monkeypatch.setenv("FUSION_EXPLORER_WORKERS", "2")
    server = fresh_server()
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        epochs = {0: 2, 1: 3}  # the epoch cap tells the two jobs apart in the progress text
        began = time.monotonic()
        for number, page in enumerate(pages):
            page.set_default_timeout(60_000)
            start_training(page, server.url, epochs[number])
            print(f"session {number} started training after {time.monotonic() - began:.1f} s")
        seen = {number: [] for number in epochs}
        # Both train at once: each page shows its own job running, never the other's.
        for number, page in enumerate(pages):
            seen[number] = watch_progress(page, until="Finished", timeout=240)
            print(f"session {number} finished after {time.monotonic() - began:.1f} s")
        for number in epochs:
            caps = {int(cap) for cap in re.findall(r"epoch \d+/(\d+)", " ".join(seen[number]))}
            assert caps <= {epochs[number]}, (number, seen[number])
        saved = RunStore(server.runs).list()
        assert len(saved) == 2 and RunStore(server.runs).list(status="running") == []
        ids = {row["run_id"] for row in saved}
        shown = []
        for page in pages:
            wait_idle(page)
            no_exception(page)
            assert progress_text(page).startswith("Finished")
            open_page(page, "Results")
            text = main(page).inner_text()
            shown.append({run_id for run_id in ids if run_id in text})
            main(page).get_by_test_id("stSelectbox").first.click()
            assert page.get_by_role("option").count() == 1  # its own run, not the other session's
            page.keyboard.press("Escape")
        # Each session's Results page holds its own run, and the two are different runs.
        assert all(len(found) == 1 for found in shown) and shown[0] != shown[1], shown
    finally:
        for context in contexts:
            context.close()
