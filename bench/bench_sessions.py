"""Fresh page loads while several browser sessions train at once on one app server.

Starts ``streamlit run app.py`` on a free port (runs and cache in a temporary
folder), then, in headless Chromium driven by Playwright:

1. times fresh loads of the Home page with nothing training (the baseline);
2. opens ``--sessions`` browser sessions (separate contexts, as separate users),
   each starting a training on the Train page;
3. times fresh loads of the Home page (a new session each: first byte to the
   page's heading drawn and the script done) while those trainings run;
4. waits for every training to finish and checks each session's own job ended.

Prints p50 and p95 of both sets of loads, their ratio, the workers the queue
ran with and the machine's load average. The goal: p95 under 2 s with 4
sessions on 2 cores.

    .venv/bin/python bench/bench_sessions.py
    .venv/bin/python bench/bench_sessions.py --sessions 8 --epochs 20
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the app's ui package lives next to app.py, not in site-packages
CHROMIUM = os.environ.get("FUSION_EXPLORER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
TARGET_P95 = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(
        os.environ, FUSION_EXPLORER_RUNS=str(folder / "runs"), FUSION_EXPLORER_CACHE=str(folder / "cache")
    )
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--global.developmentMode", "false"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the app server did not start within 60 s")


def home_ready(page) -> None:
    page.get_by_test_id("stMainBlockContainer").locator("h1", has_text="Fusion Explorer").wait_for()
    page.wait_for_selector(IDLE)


def fresh_load(browser, url: str) -> float:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        started = time.monotonic()
        page.goto(url)
        home_ready(page)
        return time.monotonic() - started
    finally:
        context.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def progress(page) -> str:
    bars = page.get_by_test_id("stMainBlockContainer").get_by_test_id("stProgress")
    return bars.first.inner_text() if bars.count() else ""


def report(idle: list[float], busy: list[float], sessions: int, load_average: tuple[float, ...]) -> None:
    from ui.jobs import worker_count

    p50_idle, p95_idle = statistics.median(idle), percentile(idle, 0.95)
    p50, p95 = statistics.median(busy), percentile(busy, 0.95)
    print(f"cores {os.cpu_count()} · workers {worker_count()} · load average (1, 5, 15 min) {load_average}")
    print(
        f"fresh page load, nothing training      : p50 {p50_idle:.2f} s · p95 {p95_idle:.2f} s ({len(idle)} loads)"
    )
    print(
        f"fresh page load, {sessions} sessions training: p50 {p50:.2f} s · p95 {p95:.2f} s ({len(busy)} loads)"
    )
    print(f"ratio under load / idle                : p50 {p50 / p50_idle:.2f}x · p95 {p95 / p95_idle:.2f}x")
    verdict = "met" if p95 < TARGET_P95 else "NOT met"
    print(f"goal p95 < {TARGET_P95:.0f} s with {sessions} sessions training: {verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4, help="sessions training at once (default 4)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each session's training")
    parser.add_argument("--loads", type=int, default=20, help="fresh page loads timed in each phase")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the trainings to end")
    parser.add_argument("--sample", default="cancer-views", help="the sample dataset the sessions train on")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server, url = start_server(Path(folder))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            fresh_load(browser, url)  # warm-up: the first load imports the app's modules
            idle = [fresh_load(browser, url) for _ in range(max(3, args.loads // 2))]

            trainers = []
            for _ in range(args.sessions):
                context = browser.new_context()
                page = context.new_page()
                page.set_default_timeout(120_000)
                page.goto(url)
                home_ready(page)
                card = page.locator(f".st-key-home_card_{args.sample}")
                card.get_by_role("button", name="Use this dataset").click()
                page.get_by_test_id("stMainBlockContainer").locator("h1", has_text="Data").first.wait_for()
                page.wait_for_selector(IDLE)
                page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train", exact=True).click()
                page.wait_for_selector(IDLE)
                field = page.get_by_role("spinbutton", name="Epochs")
                field.fill(str(args.epochs))
                field.press("Enter")
                page.wait_for_selector(IDLE)
                page.get_by_role("button", name="Train", exact=True).click()
                trainers.append((context, page))
            loaded = time.monotonic()

            busy = []
            for _ in range(args.loads):
                busy.append(fresh_load(browser, url))
            load_average = os.getloadavg()
            report(idle, busy, args.sessions, load_average)
            states = [progress(page) for _, page in trainers]
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline and not all(
                s.startswith(("Finished", "Stopped")) for s in states
            ):
                time.sleep(1)
                states = [progress(page) for _, page in trainers]
            done = sum(s.startswith("Finished") for s in states)
            print(
                f"trainings finished: {done}/{args.sessions}, {time.monotonic() - loaded:.0f} s after they started"
            )
            for context, _ in trainers:
                context.close()
        finally:
            browser.close()
            server.terminate()  # trainings still running keep it busy: kill it if it does not stop soon
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


if __name__ == "__main__":
    main()
