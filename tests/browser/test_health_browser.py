"""A person watches a component go Degraded live: the deployment page is open, the sandbox's llm Pods start
crash-looping, a health check runs elsewhere (the API, as the sweep would) and the page's resource tree turns
Degraded without a reload (the health stream). The sandbox is the Kubernetes API stand-in: nothing runs."""

import time

import pytest

from tests.browser.conftest import log_in, requires_chromium, screenshot

pytestmark = [requires_chromium, pytest.mark.timeout(240)]

LIVE_PASSWORD = "live-pw-123"


def _text(page, selector: str) -> str:
    return page.evaluate(f"() => (document.querySelector({selector!r}) || {{}}).textContent || ''").strip()


def test_a_component_goes_degraded_live_on_the_open_page(page, live, standin):
    status, created = live.api(
        "POST", "/api/deployments", {"name": "rag-health", "template": "agent-rag", "cluster_id": live.cluster_id}
    )
    assert status == 201, created
    assert live.api("POST", f"/api/deployments/{created['id']}/start")[0] == 200
    live.wait_for(lambda: live.api("GET", f"/api/deployments/{created['id']}")[1]["status"] == "running", timeout=120)
    assert live.api("POST", f"/api/deployments/{created['id']}/resources/refresh")[1]["health"] == "Healthy"

    log_in(page, live, live.username, LIVE_PASSWORD, next_path=f"/deployments/{created['id']}/")
    assert _text(page, "#deployment-health") == "Healthy"
    page.evaluate("() => { window.__samePage = true; }")

    standin.crash_loop(created["namespace"], "rag-health-llm-vllm")
    assert live.api("POST", f"/api/deployments/{created['id']}/resources/refresh")[1]["health"] == "Degraded"

    deadline = time.monotonic() + 20
    while _text(page, "#deployment-health") != "Degraded" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _text(page, "#deployment-health") == "Degraded"
    assert page.evaluate("() => window.__samePage === true")  # streamed in, not reloaded
    assert page.locator("#resources-llm[data-health=Degraded]").count() == 1
    assert page.locator("#resources-vector_db[data-health=Healthy]").count() == 1
    screenshot(page, "deployment-degraded.png")
