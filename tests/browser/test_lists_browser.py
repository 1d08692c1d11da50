"""The deployment list pages and filters in a real browser (the URL is the state: reload and back keep it),
and the deployment page's wave graph changing colour while a deployment runs."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import log_in, requires_chromium, screenshot

pytestmark = [requires_chromium, pytest.mark.timeout(300)]

LIVE_PASSWORD = "live-pw-123"


def _names(page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#deployment-rows tbody th a')].map(a => a.textContent.trim())"
    )


def _wait(page, predicate, timeout: float = 15):
    """Poll the page (the strict CSP blocks Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError("condition not met")


def test_it_pages_and_filters_the_deployment_list_and_keeps_it_on_reload_and_back(page, live):
    for i in range(23):
        status, body = live.api(
            "POST",
            "/api/deployments",
            json={"name": f"list-{i:02d}", "template": "valkey-cache", "cluster_id": live.cluster_id},
        )
        assert status == 201, body
    status, body = live.api("GET", "/api/deployments?q=list-&page_size=5&page=2")
    assert status == 200
    assert body["total"] == 23
    assert body["page_size"] == 5
    assert len(body["items"]) == 5

    log_in(page, live, live.username, LIVE_PASSWORD, next_path="/deployments/")
    page.fill("#deployment-q", "list-1")
    _wait(page, lambda: "q=list-1" in page.url)
    _wait(page, lambda: _names(page) and all(n.startswith("list-1") for n in _names(page)))
    assert len(_names(page)) == 10  # list-10 .. list-19
    page.select_option("select[name=sort]", "name")
    _wait(page, lambda: "sort=name" in page.url and _names(page)[0] == "list-10")
    screenshot(page, "deployments-filtered.png")

    page.reload()
    assert page.input_value("#deployment-q") == "list-1"
    assert _names(page)[0] == "list-10"
    assert len(_names(page)) == 10

    page.goto(f"{live.url}/deployments/?q=list-&sort=name&page_size=10")
    assert _names(page)[0] == "list-00"
    assert "23 in all · page 1 of 3" in page.content()
    page.click("a[rel=next]")
    _wait(page, lambda: "page=2" in page.url and _names(page)[:1] == ["list-10"])
    page.go_back()
    _wait(page, lambda: "page=2" not in page.url and _names(page)[:1] == ["list-00"])
    assert page.input_value("#deployment-q") == "list-"
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "deployments-filtered-phone.png")


def _node_statuses(page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#live-graph g.node')].map(
               g => [g.dataset.name, ([...g.classList].find(c => c.startsWith('status-')) || '').slice(7)]))"""
    )


def test_it_colours_the_wave_graph_live_during_a_deployment(page, live):
    status, body = live.api(
        "POST", "/api/deployments", json={"name": "graph-rag", "template": "agent-rag", "cluster_id": live.cluster_id}
    )
    assert status == 201, body
    log_in(page, live, live.username, LIVE_PASSWORD, next_path=f"/deployments/{body['id']}/")
    assert set(_node_statuses(page).values()) == {"pending"}
    with page.expect_navigation():
        page.click("#start-button")
    seen: dict[str, list[str]] = {}
    colours: dict[str, set[str]] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = _node_statuses(page)
        for name, status in statuses.items():
            if not seen.setdefault(name, []) or seen[name][-1] != status:
                seen[name].append(status)
                rect = f"#live-graph g.node[data-name='{name}'] rect"
                colours.setdefault(name, set()).add(
                    page.evaluate(f'() => getComputedStyle(document.querySelector("{rect}")).fill')
                )
        if statuses and all(s == "running" for s in statuses.values()):
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError(f"the graph never showed every component running: {seen}")
    # The second wave waited while the first installed, then deployed, then ran; each state had its own colour.
    assert seen["agent_runtime"][0] == "waiting", seen
    assert "running" in seen["agent_runtime"], seen
    assert any("deploying" in s for s in seen.values()), seen
    assert all(len(c) >= 2 for c in colours.values()), colours
    timers = page.evaluate("() => [...document.querySelectorAll('#live-graph .node-timer')].map(t => t.textContent)")
    assert all(t.endswith(" s") for t in timers), timers
    screenshot(page, "deployment-wave-graph.png")
