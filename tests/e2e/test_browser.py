"""The app in a real browser: quick start, live progress, stopping a run, and every page it leads to."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUICK_START_TIMEOUT = 240
LONG_RUN_EPOCHS = 400
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def wait_idle(page) -> None:
    page.wait_for_selector(CONNECTED)
    page.wait_for_selector(IDLE)
    page.wait_for_function("document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0")


def main(page):
    return page.get_by_test_id("stMainBlockContainer")


def title(page) -> str:
    return main(page).locator("h1").first.inner_text().strip()


def open_page(page, name: str, heading: str | None = None) -> float:
    """Click a page in the sidebar; return the seconds until its heading is drawn and the run is over."""
    started = time.monotonic()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    main(page).locator("h1", has_text=heading or name).first.wait_for()
    wait_idle(page)
    return time.monotonic() - started


def no_exception(page) -> None:
    exceptions = page.get_by_test_id("stException")
    assert exceptions.count() == 0, exceptions.first.inner_text()


def progress_text(page) -> str:
    bars = main(page).get_by_test_id("stProgress")
    return bars.first.inner_text().strip() if bars.count() else ""


def watch_progress(page, *, until: str, timeout: float, or_later: bool = False) -> list[str]:
    """Every distinct progress text seen, without any click, until one contains ``until``.

    With ``or_later``, ``until`` is "epoch N (" and any later epoch of the same run also ends the wait
    (the page polls about once a second, so a fast run can skip past epoch N between two polls).
    """
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = progress_text(page)
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if until in text or (or_later and _past_epoch(text, until)):
            return seen
        if "Failed" in text:
            errors = main(page).get_by_test_id("stAlertContentError").all_inner_texts()
            raise AssertionError(f"training failed: {errors}")
        time.sleep(0.25)
    raise AssertionError(f"progress never showed {until!r} within {timeout:.0f} s; last seen: {seen[-3:]}")


def _past_epoch(text: str, until: str) -> bool:
    wanted = int(re.search(r"epoch (\d+)", until).group(1))
    found = re.search(r"epoch (\d+) \(", text)
    return bool(found) and int(found.group(1)) >= wanted


def shoot(page, folder: Path, name: str) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its main block, so grow the window to fit it."""
    size = page.viewport_size
    height = page.evaluate(
        "Math.ceil(document.querySelector(\"[data-testid='stMainBlockContainer']\").getBoundingClientRect().height)"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height + 200, 12000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(folder / f"{name}.png"))
    page.set_viewport_size(size)


def test_quick_start_train_stop_and_every_page(app_server, page, screenshots):
    # A bookmarked page opened as the fresh server's very first request still gets the app's frame
    # and navigation (Streamlit would otherwise route it as an old-style pages/ folder app).
    started = time.monotonic()
    page.goto(app_server.url.rstrip("/") + "/learn")
    main(page).locator("h1", has_text="Learn").wait_for()
    print(
        f"\nfirst page (/learn, opened directly) drawn {time.monotonic() - app_server.healthy_at:.2f} s after the server was healthy"
    )
    wait_idle(page)
    sidebar_text = page.get_by_test_id("stSidebar").inner_text()
    assert "Interaction lab" in sidebar_text and "Dataset:" in sidebar_text, sidebar_text

    started = time.monotonic()
    page.goto(app_server.url)
    main(page).locator("h1", has_text="Fusion Explorer").wait_for()
    first_render = time.monotonic()
    wait_idle(page)
    idle = time.monotonic()
    print(
        f"home page drawn {first_render - app_server.healthy_at:.2f} s after the server was healthy "
        f"({first_render - started:.2f} s after the browser asked for it; "
        f"its script finished {idle - started:.2f} s after)"
    )
    no_exception(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert "Dataset:" in sidebar.inner_text() and "Device (auto):" in sidebar.inner_text()
    shoot(page, screenshots, "01-home")

    # Quick start: the progress advances on its own while we only watch.
    main(page).get_by_role("button", name="Run the quick start").click()
    seen = watch_progress(page, until="Finished", timeout=QUICK_START_TIMEOUT)
    # a later run's progress was shown (fast runs can pass between two looks, so not always run 2)
    assert any(re.search(r"run [2-5]/5", text) for text in seen), seen
    assert len(seen) >= 4, seen
    main(page).get_by_role("link", name="See the full comparison").wait_for()
    wait_idle(page)
    no_exception(page)
    shoot(page, screenshots, "02-home-after-quick-start")

    # A second training, stopped midway from the page's own Stop button.
    switch = open_page(page, "Train")
    print(f"page switch to Train took {switch:.2f} s")
    # Enough epochs, and patience to match, that the run cannot end on its own before Stop.
    for label in ("Epochs", "Early stopping patience"):
        field = main(page).get_by_role("spinbutton", name=label, exact=True)
        field.fill(str(LONG_RUN_EPOCHS))
        field.press("Enter")
        wait_idle(page)
    main(page).get_by_role("button", name="Train", exact=True).click()
    watch_progress(page, until="epoch 2 (", timeout=60, or_later=True)
    page.screenshot(path=str(screenshots / "03-train-live.png"))
    main(page).get_by_role("button", name="Stop", exact=True).click()
    main(page).get_by_text("Stopped on request").wait_for(timeout=30_000)
    wait_idle(page)
    text = progress_text(page)
    assert text.startswith("Stopped") and f" of {LONG_RUN_EPOCHS} epochs" in text, text
    no_exception(page)
    shoot(page, screenshots, "03-train-stopped")
    main(page).get_by_test_id("stPlotlyChart").first.wait_for()  # the stopped run's curves

    switch = open_page(page, "Results")
    print(f"page switch to Results took {switch:.2f} s")
    charts = main(page).get_by_test_id("stPlotlyChart")
    charts.nth(3).wait_for()  # confusion matrix, per-class bars, curves, ROC
    assert main(page).get_by_test_id("stMetric").count() >= 5
    no_exception(page)
    shoot(page, screenshots, "04-results")
    insight = main(page).get_by_role("tab", name="Insight")
    insight.scroll_into_view_if_needed()
    wait_idle(page)
    page.screenshot(path=str(screenshots / "05-results-insight.png"))
    no_exception(page)

    switch = open_page(page, "Compare")
    print(f"page switch to Compare took {switch:.2f} s")
    main(page).get_by_test_id("stPlotlyChart").nth(5).wait_for()
    assert "only:image" in main(page).inner_text()
    no_exception(page)
    shoot(page, screenshots, "06-compare")

    for index, name in enumerate(["Learn", "Data", "Model"], start=7):
        open_page(page, name)
        no_exception(page)
        shoot(page, screenshots, f"{index:02d}-{name.lower()}")
        if name == "Data":
            main(page).get_by_text("A few samples of each class, modality by modality").click()
            main(page).get_by_role("tab", name="audio (audio)").click()
            main(page).get_by_test_id("stAudio").first.wait_for()
            wait_idle(page)
            shoot(page, screenshots, f"{index:02d}-data-audio")
    print(f"screenshots in {screenshots}")
