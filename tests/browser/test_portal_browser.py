import time

import pytest

from tests.browser.conftest import log_in, requires_chromium, screenshot

pytestmark = [requires_chromium, pytest.mark.timeout(240)]

LIVE_PASSWORD = "live-pw-123"
COMPONENTS = ("vector_db", "llm", "agent_runtime")


def test_it_creates_a_template_with_a_helm_component_after_an_inline_chart_ref_error(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD, next_path="/editor/templates/new")
    page.keyboard.press("Tab")  # keyboard users land on the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.fill("input[name=name]", "browser-agent")
    page.fill("input[name=display_name]", "Browser agent")
    row = page.locator(".component-row").first
    row.locator("input[name$='-name']").fill("agent")
    ref = row.locator("input[name$='-chart_ref']")
    status = row.locator(".ref-status")

    ref.fill("charts/nope")
    status.filter(has_text="no bundled chart").wait_for()
    screenshot(page, "editor-chart-ref-error.png")
    assert ref.get_attribute("aria-invalid") is None  # the field itself is only marked after a save attempt
    ref.fill("charts/agent-runtime")
    status.filter(has_text="valid chart ref").wait_for()
    row.locator("textarea[name$='-values']").fill("replicaCount: 1\nport: 8080\n")

    # Components are added and removed with htmx, without leaving the page.
    page.click("text=+ Add component")
    page.locator(".component-row").nth(1).wait_for()
    page.locator(".component-row").nth(1).locator("text=Remove component").click()
    assert page.locator(".component-row").count() == 1

    page.click("text=Save template")
    page.wait_for_url(f"{live.url}/templates/browser-agent/")
    assert page.locator("h1").inner_text() == "Browser agent"
    assert page.locator("svg.dep-graph .node").count() == 1
    assert "charts/agent-runtime" in page.content()
    page.goto(f"{live.url}/templates/agent-rag/")
    screenshot(page, "template-detail.png")


def _statuses(page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.step')].map(
               el => [el.id.replace('step-', ''), el.dataset.status]).concat(
               [['__deployment', document.getElementById('progress-card')?.dataset.status],
                ['__same_page', String(window.__samePage === true)]]))"""
    )


def _watch(page, until: str, timeout: float = 90) -> dict[str, dict[str, float]]:
    """Record when each row was first seen in each status, until the deployment reaches ``until``."""
    seen: dict[str, dict[str, float]] = {}
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        statuses = _statuses(page)
        assert statuses["__same_page"] == "true", "the page reloaded; it must update in place"
        for name, status in statuses.items():
            seen.setdefault(name, {}).setdefault(status, time.monotonic() - start)
        if statuses["__deployment"] == until:
            return seen
        page.wait_for_timeout(50)
    raise AssertionError(f"deployment did not reach {until}: {_statuses(page)}")


def test_it_deploys_agent_rag_to_the_sandbox_live_and_stops_it(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD, next_path="/deployments/new?template=agent-rag")
    assert "sandbox" in page.locator("select[name=cluster_id] option:checked").inner_text()
    page.fill("input[name=name]", "rag-live")
    page.click("button:has-text('Review the plan')")
    page.locator("#plan").wait_for()
    assert page.locator(".plan-wave").count() == 2
    with page.expect_navigation():  # htmx posts, the server answers HX-Redirect to the same page
        page.click("#start-button")
    page.evaluate("() => { window.__samePage = true; }")

    seen = _watch(page, until="running")
    for name in COMPONENTS:
        assert "deploying" in seen[name], seen
        assert "running" in seen[name], seen
        assert seen[name]["deploying"] <= seen[name]["running"]
    # Wave 2 starts only after both components of wave 1 are running.
    assert seen["agent_runtime"]["deploying"] >= max(seen["vector_db"]["running"], seen["llm"]["running"]), seen
    assert page.locator("#progress-percent").inner_text() == "100 %"
    # Cluster-internal endpoints are copyable text with a port-forward hint, not links a browser cannot open.
    assert page.locator("code.endpoint").count() == len(COMPONENTS)
    assert page.locator("a.endpoint").count() == 0
    page.locator("details.port-forward summary").first.click()
    assert "kubectl port-forward -n uc-" in page.locator(".step-detail .port-forward .hint").first.inner_text()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page.locator(".endpoint-text button.copy").first.click()
    page.locator(".endpoint-text button.copy", has_text="Copied").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("code.endpoint").first.inner_text()
    assert page.locator("#event-log li").count() >= 6
    assert ".uc-" in page.locator("code.endpoint").first.inner_text()  # the deployment's own namespace

    screenshot(page, "deployment-running.png")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "deployment-running-phone.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    with page.expect_navigation():
        page.click("#stop-button")
    page.evaluate("() => { window.__samePage = true; }")
    _watch(page, until="stopped", timeout=60)
    statuses = _statuses(page)
    assert all(statuses[name] == "stopped" for name in COMPONENTS), statuses
    screenshot(page, "deployment-stopped.png")


def test_it_shows_another_users_deployment_as_not_found(page, live):
    status, body = live.api(
        "POST", "/api/deployments", json={"name": "private-rag", "template": "agent-rag", "cluster_id": live.cluster_id}
    )
    assert status == 201, body
    url = f"{live.url}/deployments/{body['id']}/"
    log_in(page, live, "intruder", "intruder-pw-123")
    assert page.goto(url).status == 404
    assert page.goto(f"{live.url}/deployments/{body['id']}/events").status == 404
    page.goto(f"{live.url}/deployments/")
    assert "private-rag" not in page.content()
