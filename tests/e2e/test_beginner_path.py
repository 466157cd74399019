"""A newcomer in a real browser: how fast pages come, and the Learn page's short path to the lab and back.

Prints the first render of the app and the switch to every page of the
sidebar, each the median of three, and saves screenshots of the path under
test-output/screenshots. Timings depend on the machine and its load, so they
are printed, not asserted; the Learn page's first screen is asserted.
"""

from __future__ import annotations

import statistics
import time

import pytest
from app_helpers import navigation_pages
from test_browser import main, no_exception, shoot, title, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST_SCREEN_PX = 1500
"""The most the Learn page may hold above its first link, button or field."""
ROUNDS = 3
INTERACTIVE = (
    "a[href], button, input, select, textarea, summary, [role='tab'], [role='combobox'], [role='slider']"
)


def first_interactive_offset(page) -> float:
    """Pixels from the top of the page's main block to its first interactive element."""
    return page.evaluate(
        """(selector) => {
            const block = document.querySelector("[data-testid='stMainBlockContainer']");
            const top = block.getBoundingClientRect().top;
            const tops = [...block.querySelectorAll(selector)]
                .filter((el) => el.offsetParent !== null)
                .filter((el) => !el.closest("h1, h2, h3, h4, h5, h6, [data-testid='stElementToolbar']"))
                .map((el) => el.getBoundingClientRect().top - top);
            return tops.length ? Math.min(...tops) : Infinity;
        }""",
        INTERACTIVE,
    )


def switch_to(page, name: str) -> float:
    """Click ``name`` in the sidebar; seconds until the new page's title is drawn and its run is over."""
    before = title(page)
    started = time.monotonic()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    page.wait_for_function(
        """(before) => {
            const h1 = document.querySelector("[data-testid='stMainBlockContainer'] h1");
            return h1 && h1.innerText.trim() !== before;
        }""",
        arg=before,
    )
    wait_idle(page)
    return time.monotonic() - started


def test_page_timings(app_server, browser):
    """First render in a fresh session, then a switch to every page in sidebar order; median of three."""
    firsts: list[float] = []
    switches: dict[str, list[float]] = {title_: [] for _path, title_ in navigation_pages()}
    for _ in range(ROUNDS):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            started = time.monotonic()
            page.goto(app_server.url)
            main(page).locator("h1", has_text="Fusion Explorer").wait_for()
            wait_idle(page)
            firsts.append(time.monotonic() - started)
            order = list(switches)
            for name in [*order[1:], order[0]]:  # every page, ending back on Home
                switches[name].append(switch_to(page, name))
                no_exception(page)
        finally:
            context.close()
    print(
        f"\nfirst render (fresh session, until idle): median {statistics.median(firsts):.2f} s {_list(firsts)}"
    )
    for name, seconds in switches.items():
        print(f"switch to {name}: median {statistics.median(seconds):.2f} s {_list(seconds)}")


def test_learn_then_a_lab_lesson_and_back(app_server, page, screenshots):
    """The first screen of Learn, a "try it" link to its lab lesson, the way back, and one method opened."""
    page.goto(app_server.url.rstrip("/") + "/learn")
    main(page).locator("h1", has_text="Learn").wait_for()
    wait_idle(page)
    no_exception(page)
    offset = first_interactive_offset(page)
    print(f"\nLearn: first interactive element {offset:.0f} px below the top of the page")
    assert offset <= FIRST_SCREEN_PX
    page.screenshot(path=str(screenshots / "learn-01-first-screen.png"))
    shoot(page, screenshots, "learn-02-whole-page")
    height = page.evaluate(
        "document.querySelector(\"[data-testid='stMainBlockContainer']\").getBoundingClientRect().height"
    )
    print(f"Learn: the whole page is {height:.0f} px tall, every method folded")

    main(page).get_by_role("link", name="Try it: a bit of everything").click()
    main(page).locator("h1", has_text="Interaction lab").wait_for()
    wait_idle(page)
    no_exception(page)
    assert "preset" not in page.url
    lesson = main(page).get_by_test_id("stAlertContentInfo").first.inner_text()
    assert "A bit of everything: " in lesson, lesson
    page.screenshot(path=str(screenshots / "learn-03-lab-lesson.png"))

    main(page).get_by_role("link", name="Back to Learn").click()
    main(page).locator("h1", has_text="Learn").wait_for()
    wait_idle(page)
    no_exception(page)
    main(page).get_by_role("link", name="Try it: two halves of the answer").wait_for()

    # Deeper on demand: open one method and its diagram is drawn.
    main(page).get_by_role("tab", name="2. Feature-level (intermediate) fusion").click()
    wait_idle(page)
    main(page).get_by_text("Gated Multimodal Unit", exact=False).first.click()
    wait_idle(page)
    main(page).get_by_test_id("stGraphVizChart").first.wait_for()
    no_exception(page)
    shoot(page, screenshots, "learn-04-one-method-open")


def _list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"
