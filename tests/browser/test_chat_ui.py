"""The chat UI in a real browser: ask, watch the answer stream in, open a citation's source."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_question_streams_answer_with_clickable_citation(chat_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: apt-get install -y chromium")
    screenshots = tmp_path  # kept by pytest (last 3 runs) for a human look
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            external = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(chat_url) else None)
            page.goto(chat_url)
            expect(page.locator("#tenant")).to_have_value("contoso")
            page.locator("#tenant").select_option("fabrikam")
            page.fill("#question", "What does error E1 mean on my thermostat?")
            page.keyboard.press("Enter")
            bubble = page.locator(".assistant .bubble").first
            # Progressive rendering: the cursor class is present while tokens arrive, then removed.
            expect(bubble).to_have_class("bubble streaming", timeout=15000)
            partial = bubble.inner_text()
            expect(bubble).to_have_class("bubble", timeout=30000)
            final = bubble.inner_text()
            assert len(final) > len(partial), "the answer grew while streaming"
            assert "C wire" in final or "C terminal" in final
            citation = page.locator(".assistant sup.cite button").first
            expect(citation).to_be_visible()
            page.screenshot(path=str(screenshots / "answer.png"))
            panel = page.locator("#panel")
            opened = []
            buttons = page.locator(".assistant sup.cite button")
            for i in range(buttons.count()):
                buttons.nth(i).click()
                expect(panel).to_have_class("open")
                opened.append((panel.locator(".path").inner_text(), panel.locator(".content").inner_text()))
            assert all(path.startswith("thermostat-error-codes.md#") or "#" in path for path, _ in opened)
            assert any("C wire" in content for _, content in opened), opened
            page.screenshot(path=str(screenshots / "citation.png"))
            page.get_by_role("button", name="Thought process").first.click()
            expect(panel).to_contain_text("answer@2")
            assert external == [], f"the UI fetched external resources: {external}"
        finally:
            browser.close()
