"""Day 2 in a real browser against the live portal and the sandbox cluster: edit a value, review the diff,
apply, and roll back from the history table."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import log_in, requires_chromium, screenshot
from tests.browser.test_portal_browser import LIVE_PASSWORD

pytestmark = [requires_chromium, pytest.mark.timeout(300)]


def _wait_for(page, url: str, selector: str, text: str = "", timeout: float = 150) -> None:
    """Reload ``url`` until ``selector`` (and ``text``) are on it (the history table is not part of the live
    stream). Both in one page: the page reads the deployment before the history, so a revision that succeeds
    in between shows in the table a page before the header names it live."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        page.goto(url)
        if page.locator(selector).count() and text in page.content():
            return
        page.wait_for_timeout(500)
    card = page.locator("#progress-card")
    status = card.get_attribute("data-status") if card.count() else "?"
    history = page.locator("#revision-history").inner_text() if page.locator("#revision-history").count() else ""
    raise AssertionError(f"{selector} never appeared on {url} (deployment {status}; history: {history[:300]!r})")


def test_it_edits_a_value_reviews_the_diff_applies_and_rolls_back(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD, next_path="/deployments/new?template=agent-rag")
    page.fill("input[name=name]", "rag-day2")
    page.click("button:has-text('Review the plan')")
    page.locator("#plan").wait_for()
    with page.expect_navigation():
        page.click("#start-button")
    detail = page.url.split("?")[0]
    _wait_for(page, detail, "#revision-1[data-status=succeeded]")

    page.click("#edit-link")
    page.fill("#values-vector_db", "replicaCount: 2\n")
    with page.expect_navigation():
        page.click("#save-draft")
    assert page.locator("#plan-vector_db[data-action=upgrade]").count() == 1
    assert page.locator("#plan-llm[data-action=skip]").count() == 1
    assert "+replicaCount: 2" in page.locator("#plan-vector_db pre.diff").first.inner_text()
    assert page.locator("#plan-vector_db details.manifest-object[data-change=changed]").count() >= 1
    screenshot(page, "day2-plan.png")
    with page.expect_navigation():
        page.click("#apply-button")
    _wait_for(page, detail, "#revision-2[data-status=succeeded]", text="revision 2 live")

    page.click("#revision-1 a:has-text('Roll back')")
    assert "-replicaCount: 2" in page.locator("#plan-vector_db pre.diff").first.inner_text()
    with page.expect_navigation():
        page.click("#rollback-button")
    _wait_for(page, detail, "#revision-3[data-status=succeeded]", text="revision 3 live")
    screenshot(page, "day2-history.png")
