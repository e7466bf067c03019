"""The chat UI in a real browser: ask, watch the answer stream in, open a citation's source; reopen, continue
and delete past conversations from the sidebar."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

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


def answered(page: Page, question: str) -> None:
    """Asks and waits until the streamed answer is complete."""
    page.fill("#question", question)
    page.keyboard.press("Enter")
    last = page.locator(".assistant .bubble").last
    expect(last).to_have_class("bubble", timeout=30000)
    expect(page.locator("#send")).to_be_enabled(timeout=30000)


def test_past_conversations_reopen_continue_and_delete(chat_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            problems: list[str] = []
            page.on(
                "console",
                lambda m: problems.append(f"{m.text} {m.location.get('url')}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(chat_url)
            page.locator("#tenant").select_option("contoso")
            sidebar = page.locator("#sessions")
            expect(sidebar).to_be_visible()
            items = page.locator("#sessionList li[data-session]")

            answered(page, "How long is parental leave?")
            expect(items.first).to_contain_text("How long is parental leave?")
            expect(items.first).to_have_class("current")
            first_id = items.first.get_attribute("data-session")
            page.get_by_role("button", name="New chat").click()
            answered(page, "What is the hotel limit in London?")
            expect(items.first).to_contain_text("What is the hotel limit in London?")

            page.reload()  # the conversations are the server's, not the tab's
            expect(items.first).to_contain_text("What is the hotel limit in London?")
            expect(page.locator(".assistant")).to_have_count(0)
            page.locator(f'#sessionList li[data-session="{first_id}"] .open-session').click()
            expect(page.locator(".user .bubble").first).to_have_text("How long is parental leave?")
            expect(page.locator(".assistant sup.cite button").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "reopened.png"))

            answered(page, "Does that apply to both parents?")  # continues the reopened conversation
            expect(page.locator(".user .bubble")).to_have_count(2)
            expect(items.first).to_have_attribute("data-session", first_id or "", timeout=5000)
            stored = httpx.get(
                f"{chat_url}/chat_history/sessions/{first_id}", headers={"X-Chatfleet-Tenant": "contoso"}
            ).json()
            assert [a["question"] for a in stored["answers"]] == [
                "How long is parental leave?",
                "Does that apply to both parents?",
            ]

            page.locator(f'#sessionList li[data-session="{first_id}"] .delete-session').click()
            expect(page.locator(f'#sessionList li[data-session="{first_id}"]')).to_have_count(0)
            expect(page.locator(".empty")).to_be_visible()
            gone = httpx.get(
                f"{chat_url}/chat_history/sessions/{first_id}", headers={"X-Chatfleet-Tenant": "contoso"}
            )
            assert gone.status_code == 404

            page.locator("#tenant").select_option("fabrikam")  # another owner: none of contoso's
            expect(page.locator("#sessionList")).not_to_contain_text("hotel limit")
            page.locator("#tenant").select_option("contoso")
            page.once("dialog", lambda dialog: dialog.accept())
            page.get_by_role("button", name="Delete all conversations").click()
            expect(page.locator("#sessionList")).to_contain_text("No conversations yet.")
            assert [p for p in problems if "favicon.ico" not in p] == [], problems
        finally:
            browser.close()


def test_an_answer_is_rated_with_a_comment(chat_url: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(chat_url)
            expect(page.locator("#tenant")).to_have_value("contoso")
            answered(page, "How do I connect to the VPN?")
            down = page.get_by_role("button", name="Bad answer").last
            down.click()
            expect(down).to_have_attribute("aria-pressed", "true")
            comment = page.get_by_label("Feedback comment").last
            expect(comment).to_be_visible()
            comment.fill("The Linux steps are missing.")
            page.get_by_role("button", name="Send comment").last.click()
            expect(page.locator(".feedback-status").last).to_have_text("Thanks for the comment.")
            session_id = page.evaluate("state.sessionId")
            session = httpx.get(
                f"{chat_url}/chat_history/sessions/{session_id}", headers={"X-Chatfleet-Tenant": "contoso"}
            ).json()
            turn = session["answers"][-1]
            assert (turn["rating"], turn["comment"]) == ("down", "The Linux steps are missing.")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
