"""The portal's pages under its Content-Security-Policy, in a real browser: no violation, no console error, and
the htmx interactions (search as you type, the notifications bell, the editor rows, the live deployment
stream) still work. Also the login lockout as daphne serves it."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import log_in, requires_chromium

pytestmark = [requires_chromium, pytest.mark.timeout(240)]

_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber}) ${e.sample}`));
"""
_STAFF = """
from django.contrib.auth import get_user_model
User = get_user_model()
User.objects.create_superuser("csp-staff", "staff@example.com", "csp-staff-pw-123")
User.objects.create_user("locked", password="locked-pw-123")
print("OK")
"""


@pytest.fixture(scope="module")
def users(live):
    assert "OK" in live.manage("shell", "-c", _STAFF).stdout


@pytest.fixture
def watched(page):
    """The page, recording CSP violations and console errors from the first script on."""
    console: list[str] = []

    def on_console(message) -> None:
        # The browser's own favicon.ico request is a 404 (the portal has none); that is not a page error.
        if message.type in ("error", "warning") and not message.location.get("url", "").endswith("/favicon.ico"):
            console.append(f"{message.type}: {message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.add_init_script(_WATCH)
    page.console_log = console
    return page


def _assert_clean(page, where: str) -> None:
    violations = page.evaluate("window.__csp || []")
    assert violations == [], f"{where}: {violations}"
    assert [m for m in page.console_log if "Content Security Policy" in m or m.startswith("pageerror")] == [], where
    errors = [m for m in page.console_log if m.startswith("error") and not _sse_reconnect(m)]
    assert errors == [], f"{where}: {page.console_log}"


def _sse_reconnect(message: str) -> bool:
    """htmx's SSE extension logs the EventSource's own ``error`` event (an ``[object Event]``, no script error)
    when the server ends a finished deployment's stream and the browser reconnects; it is not a CSP matter."""
    return message.startswith("error: [object Event]") and "/static/vendor/htmx" in message


def _wait_until(page, expression: str, timeout: float = 15) -> None:
    """page.wait_for_function evaluates its predicate with eval() in the page, which this CSP refuses; poll."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


def _visit(page, live, path: str) -> None:
    response = page.goto(f"{live.url}{path}")
    assert response.status == 200, (path, response.status)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    _assert_clean(page, path)


def test_it_keeps_the_portal_pages_working_under_the_csp(watched, live, users):
    page = watched
    page.goto(f"{live.url}/accounts/login/")
    _assert_clean(page, "login")
    log_in(page, live, live.username, "live-pw-123")
    # The bell asks for its badge on load (htmx): answered, and nothing refused.
    with page.expect_response(lambda r: "/notifications/badge" in r.url):
        page.reload()
    page.wait_for_load_state("networkidle")
    _assert_clean(page, "/")

    for path in (
        "/templates/agent-rag/",
        "/deployments/",
        "/deployments/new?template=agent-rag",
        "/clusters/",
        "/notifications/",
        "/api/docs",
    ):
        _visit(page, live, path)
    page.locator("#swagger-ui .info .title").filter(has_text="Bud Portal API").wait_for()  # Swagger UI ran
    _assert_clean(page, "/api/docs after render")

    # Search as you type swaps the grid in place.
    _visit(page, live, "/templates/")
    tiles = page.locator("#template-grid article")
    before = tiles.count()
    with page.expect_response(lambda r: "/templates/?" in r.url and "q=rag" in r.url):
        page.fill("#template-q", "rag")
    _wait_until(page, f"document.querySelectorAll('#template-grid article').length < {before}")
    assert "q=rag" in page.url
    assert all("rag" in t.lower() for t in tiles.all_inner_texts())
    _assert_clean(page, "/templates/ search")


def test_it_keeps_the_editor_interactions_working_under_the_csp(watched, live, users):
    page = watched
    log_in(page, live, live.username, "live-pw-123", next_path="/editor/templates/new")
    rows = page.locator(".component-row")
    page.click("text=+ Add component")
    rows.nth(1).wait_for()
    # The new row's first field has the focus (was an hx-on handler, now portal.js).
    assert page.evaluate(
        "document.activeElement.closest('.component-row') === document.querySelectorAll('.component-row')[1]"
    )
    rows.nth(1).locator("text=Remove component").click()  # confirm() is accepted by the fixture
    _wait_until(page, "document.querySelectorAll('.component-row').length === 1")
    rows.first.locator("input[name$='-chart_ref']").fill("charts/valkey")
    rows.first.locator(".ref-status").filter(has_text="valid chart ref").wait_for()
    _assert_clean(page, "editor")


def test_it_streams_a_deployment_and_draws_its_progress_under_the_csp(watched, live, users):
    page = watched
    status, body = live.api(
        "POST", "/api/deployments", json={"name": "csp-rag", "template": "agent-rag", "cluster_id": live.cluster_id}
    )
    assert status == 201, body
    log_in(page, live, live.username, "live-pw-123", next_path=f"/deployments/{body['id']}/")
    assert page.locator(".progress svg.bar rect").get_attribute("width") == "0%"
    with page.expect_navigation():
        page.click("#start-button")
    _wait_until(page, "document.getElementById('progress-card')?.dataset.status === 'running'", timeout=90)
    bar = page.locator(".progress svg.bar rect")
    assert bar.get_attribute("width") == "100%"
    assert page.evaluate("document.querySelector('.progress svg.bar rect').getBoundingClientRect().width") > 100
    _assert_clean(page, "deployment stream")


def test_it_keeps_the_admin_working_under_the_csp(watched, live, users):
    page = watched
    log_in(page, live, "csp-staff", "csp-staff-pw-123", next_path="/admin/")
    _assert_clean(page, "/admin/")
    for path in (
        "/admin/usecases/usecasetemplate/",
        "/admin/axes/accessattempt/",
        "/admin/budportal/apitoken/add/",
        "/admin/auth/user/",
    ):
        _visit(page, live, path)
    page.goto(f"{live.url}/admin/usecases/usecasetemplate/")
    page.locator("#result_list tbody a").first.click()
    page.locator("pre.template-yaml").wait_for()
    assert page.evaluate("getComputedStyle(document.querySelector('pre.template-yaml')).whiteSpace") == "pre-wrap"
    _assert_clean(page, "admin template")


def test_it_answers_a_locked_out_login_with_the_form_and_a_message(watched, live, users):
    page = watched
    page.goto(f"{live.url}/accounts/login/")
    statuses = []
    for _ in range(5):
        page.fill("#id_username", "locked")
        page.fill("#id_password", "wrong")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button[type=submit]")
        statuses.append(answer.value.status)
    assert statuses == [200, 200, 200, 200, 429]
    page.fill("#id_password", "locked-pw-123")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 429
    assert "Try again in 15 minutes" in page.locator("#lockout").inner_text()
    assert page.input_value("#id_username") == "locked"
    assert json.loads(
        live.manage(
            "shell",
            "-c",
            "from axes.models import AccessAttempt; import json; "
            "print(json.dumps(list(AccessAttempt.objects.values_list('username', 'ip_address'))))",
        )
        .stdout.strip()
        .splitlines()[-1]
    ) == [["locked", "127.0.0.1"]]
