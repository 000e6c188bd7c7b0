"""End to end in headless Chromium (Debian's `chromium`, driven by Playwright): log in, move a
task's "as of" slider and see the state change, follow a 履约之星 score to its events, run the
audit. Outside CI these skip when Chromium or Playwright is missing; in CI (CI=true) they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.pages.conftest import PASSWORD, Site

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if shutil.which("chromium") is None:
        return "no chromium on PATH (apt-get install chromium)"
    return None


IN_CI = os.environ.get("CI") == "true"
MISSING = _missing()
pytestmark = pytest.mark.skipif(
    MISSING is not None and not IN_CI, reason=f"{MISSING} (in CI, CI=true, this fails)"
)


def require_browser() -> None:
    """In CI a missing browser is a failure, never a skip."""
    if MISSING is not None:
        pytest.fail(f"CI=true but {MISSING}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(site: Site) -> Iterator[str]:
    """The pages served by uvicorn in a background thread on a free localhost port."""
    require_browser()
    port = _free_port()
    config = uvicorn.Config(site.make_app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=shutil.which("chromium"),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 390, "height": 844},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    browser.clear_cookies()
    tab = browser.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    tab.close()


def log_in(page: Any, base_url: str, username: str, target: str = "/") -> None:
    page.goto(f"{base_url}{target}")
    assert "/login" in page.url
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base_url}{target}")


def test_moving_the_slider_shows_the_task_as_it_was(page: Any, base_url: str, site: Site) -> None:
    log_in(page, base_url, "manager")
    page.fill("#find-task", site.task_no)
    with page.expect_navigation():
        page.click("form[action='/tasks'] button")
    assert page.url.endswith(f"/tasks/{site.task_no}")
    latest = page.inner_text("#status")

    with page.expect_navigation():
        page.locator("#version").press("Home")

    assert page.url.endswith(f"/tasks/{site.task_no}?version=1")
    assert page.inner_text("#status") == "已登记 registered"
    assert page.inner_text("#status") != latest

    with page.expect_navigation():
        page.locator("#version").press("ArrowRight")

    assert page.url.endswith("?version=2")
    assert page.inner_text("#status") != "已登记 registered"
    assert page.locator(".steps li.current").get_attribute("data-version") == "2"


def test_a_score_leads_to_the_events_behind_it(page: Any, base_url: str) -> None:
    log_in(page, base_url, "manager", "/ranking?period=2026Q3&property=P-GARDEN")
    assert "履约之星" in page.title()
    scores = page.locator("a.score")
    assert scores.count() > 0

    for index in range(scores.count()):
        page.locator("a.score").nth(index).click()
        page.wait_for_selector("text=得分明细 Score breakdown")
        if page.locator(".events a.eid").count():
            break
        page.go_back()
    page.locator(".events a.eid").first.click()

    page.wait_for_selector("text=包含证明 Inclusion proof")
    assert "/events/" in page.url
    assert page.locator("a[href^='/api/trail/proofs/inclusion']").count() == 1


def test_the_audit_page_runs_the_audit(page: Any, base_url: str) -> None:
    log_in(page, base_url, "auditor", "/audit")
    assert page.locator("text=最新检查点 Latest checkpoint").count() == 1

    page.click("#run-audit")

    page.wait_for_selector("#audit-result")
    assert "通过 OK" in page.inner_text("#audit-result")


def test_logging_out_ends_the_session(page: Any, base_url: str) -> None:
    log_in(page, base_url, "manager")

    page.click("form.logout button")

    page.wait_for_url(f"{base_url}/login")
    page.goto(f"{base_url}/audit")
    assert "/login?next=" in page.url
