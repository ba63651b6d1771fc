"""The dashboard in a real headless browser (Debian's Chromium, driven by Playwright): the page
loads without a console error, shows a live run started through the API, cancels it with its
button, and the run ends cancelled with its CLI's process group reaped.

One server for the module; its CLI says one word and then works until it is stopped.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect, sync_playwright

from cliwrap.testing import LiveServer, group_alive

from ..slow_cli import slow_server

pytestmark = pytest.mark.system

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEY = "dashboard-key"
_BOUND = 30.0
"""Seconds; only so that a regression fails instead of hanging the suite."""


def wait_for(check: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + _BOUND
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with slow_server(tmp_path_factory.mktemp("dashboard"), (KEY,)) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install -y chromium)."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


def start_stream(server: LiveServer, run_id: str, received: list[str]) -> threading.Thread:
    """A streaming chat request in a thread; what it receives goes to ``received``."""

    def run() -> None:
        body = {
            "model": "sonnet",
            "stream": True,
            "messages": [{"role": "user", "content": "work for ever"}],
        }
        headers = {"Authorization": f"Bearer {KEY}", "X-Request-Id": run_id}
        with httpx.stream(
            "POST", server.url + "/v1/chat/completions", json=body, headers=headers, timeout=_BOUND
        ) as response:
            received.extend(response.iter_text())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_page_shows_a_live_run_and_its_button_cancels_it(
    server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text}")

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    # The key a user typed earlier in this tab.
    page.add_init_script(f"sessionStorage.setItem('cliwrap.key', {json.dumps(KEY)})")
    page.goto(server.url + "/")
    expect(page.locator("#cli-rows")).to_contain_text("claude")
    expect(page.locator("#try-model option").first).to_be_attached()

    received: list[str] = []
    client = start_stream(server, "browser-1", received)
    try:
        (pgid,) = server.wait_for_cli()
        row = page.locator('#live-rows tr[data-id="browser-1"]')
        expect(row).to_contain_text("running", timeout=_BOUND * 1000)
        page.screenshot(path=tmp_path / "dashboard-live.png", full_page=True)
        row.get_by_role("button", name="Cancel").click()
        ended = page.locator("#recent-rows tr", has_text="browser-1")
        expect(ended).to_contain_text("cancelled", timeout=_BOUND * 1000)
        expect(row).to_have_count(0)
        wait_for(lambda: not group_alive(pgid), "the CLI's group reaped")
        wait_for(lambda: not server.pgids(), "the ledger empty")
    finally:
        client.join(_BOUND)
    text = "".join(received)
    assert "request_cancelled" in text
    assert text.rstrip().endswith("data: [DONE]")
    page.screenshot(path=tmp_path / "dashboard-ended.png", full_page=True)
    page.close()
    assert problems == []


def test_the_explorer_streams_an_answer_and_its_stop_button_cancels_the_run(
    server: LiveServer, browser: Browser
) -> None:
    problems: list[str] = []
    page = browser.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.goto(server.url + "/")
    # No key yet: the page asks for one, and asks the API nothing that would be refused.
    expect(page.locator("#notice")).to_have_text("This server needs an API key.")
    expect(page.locator("#cli-rows")).to_contain_text("claude")  # /health needs no key
    page.locator("#key").fill(KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#notice")).to_be_hidden()
    page.locator("#try-model").select_option("sonnet")
    page.locator("#try-prompt").fill("work for ever")
    page.get_by_role("button", name="Send").click()
    output = page.locator("#try-output")
    expect(output).to_contain_text("working", timeout=_BOUND * 1000)
    (pgid,) = server.wait_for_cli()
    page.get_by_role("button", name="Stop").click()
    expect(output).to_contain_text("[request_cancelled]", timeout=_BOUND * 1000)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    wait_for(lambda: not group_alive(pgid), "the CLI's group reaped")
    wait_for(lambda: not server.pgids(), "the ledger empty")
    page.close()
    assert problems == []
