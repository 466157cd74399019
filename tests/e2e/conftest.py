"""A real app server and a headless Chromium for the browser tests.

The server is ``streamlit run app.py`` on a free local port, with its run store
and cache in temporary folders. The browser is Debian's Chromium, driven by
Playwright; Playwright never downloads a browser of its own. Without
``/usr/bin/chromium`` the tests skip and say how to enable them, unless
``FUSION_EXPLORER_REQUIRE_BROWSER=1`` (as in CI), where they fail instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FUSION_EXPLORER_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_ENV = "FUSION_EXPLORER_REQUIRE_BROWSER"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
SERVER_START_TIMEOUT = 60


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (browser tests are required because {REQUIRE_ENV}=1)")
    pytest.skip(reason)


@dataclass
class AppServer:
    url: str
    runs: Path
    healthy_at: float  # time.monotonic() when /_stcore/health first answered ok
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    with serve(tmp_path_factory.mktemp("app-server")) as server:
        yield server


@pytest.fixture
def fresh_server(tmp_path_factory) -> Iterator[Callable[[], AppServer]]:
    """Start another server, with its own empty run store, when the test asks for one."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(serve(tmp_path_factory.mktemp("fresh-server")))


@contextmanager
def serve(folder: Path) -> Iterator[AppServer]:
    """``streamlit run app.py`` with its run store and cache under ``folder``, until the block ends."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        FUSION_EXPLORER_RUNS=str(folder / "runs"),
        FUSION_EXPLORER_CACHE=str(folder / "cache"),
        PYTHONUNBUFFERED="1",
    )
    log = folder / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"the app server exited with status {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the app server did not become healthy in {SERVER_START_TIMEOUT} s:\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield AppServer(url=url, runs=folder / "runs", healthy_at=time.monotonic(), log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        _unavailable(f"no Chromium at {CHROMIUM}; install Debian's chromium package to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(
            "playwright is not installed; install the project with its dev extras (pip install -e '.[dev]')"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS
