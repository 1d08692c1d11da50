"""The portal as people first meet it, in a real browser: API docs offline, the 404 page with DEBUG on, dark
mode and its contrast, and screenshots of the main pages at desktop and phone width (``test-artifacts/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from clusterjobs.standin import KubeStandIn
from tests.browser.conftest import _REGISTER, log_in, requires_chromium, screenshot
from tests.livestack import LiveStack

pytestmark = [requires_chromium, pytest.mark.timeout(240)]

LIVE_PASSWORD = "live-pw-123"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# WCAG contrast of an element's text against the first opaque background behind it.
CONTRAST_JS = """(selector) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.9) { return c; }
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)].filter((el) => el.offsetParent !== null).map((el) => {
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))].sort((x, y) => y - x);
    return [el.className + ': ' + el.textContent.trim().slice(0, 30), (a + 0.05) / (b + 0.05)];
  });
}"""


@pytest.fixture(scope="module")
def live(standin: KubeStandIn) -> Iterator[LiveStack]:
    # DEBUG on explicitly: it is the default of scripts/portal.sh, and the mode in which Django would show its
    # own 404 page listing every URL pattern.
    with LiveStack(workers=1, env={"DEBUG": "true"}) as stack:
        out = stack.manage(
            "shell", "-c", _REGISTER.format(owner=stack.username, url=standin.url, kubeconfig=standin.kubeconfig())
        ).stdout
        stack.cluster_id = json.loads(out.split("REGISTERED", 1)[1].strip())["cluster_id"]
        stack.manage("sync_templates")
        yield stack


def test_it_renders_the_api_docs_with_no_request_leaving_the_machine(page, live):
    requests: list[str] = []

    def only_local(route) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith(live.url + "/"):
            route.continue_()
        else:
            route.abort()  # as on a machine with no internet access

    page.route("**/*", only_local)
    page.goto(f"{live.url}/api/docs")
    page.locator(".opblock").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/deployments" in p for p in paths), paths
    assert len(paths) > 20
    outside = [url for url in requests if not url.startswith(live.url + "/")]
    assert outside == [], outside
    assert any("/static/ninja/swagger-ui-bundle.js" in url for url in requests)
    screenshot(page, "api-docs.png")


def test_it_shows_the_branded_404_with_debug_on(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD)
    response = page.goto(f"{live.url}/no/such/page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    text = page.content()
    assert "URLconf" not in text
    assert "healthz" not in text
    assert "admin/" not in text
    screenshot(page, "not-found.png")
    page.set_viewport_size(PHONE)
    screenshot(page, "not-found-phone.png")


def test_it_follows_the_system_dark_mode_with_readable_badges(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD, next_path="/templates/")
    backgrounds = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for path in ("/templates/", "/templates/agent-rag/", "/deployments/new?template=agent-rag", "/clusters/", "/"):
            page.goto(f"{live.url}{path}")
            page.locator(".chip, .badge").first.wait_for()
            page.locator(".badge.pending").first.wait_for(state="detached")  # health checks answered
            backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
            low = [
                (name, round(ratio, 2))
                for name, ratio in page.evaluate(
                    CONTRAST_JS,
                    ".badge, .chip, button, .button, .meta, .hint, a, .stat, mark, code, .y-key, legend, label, .empty",
                )
                if ratio < 4.5
            ]
            assert low == [], (scheme, path, low)
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "dashboard"
            screenshot(page, f"{scheme}-{name}.png")
    assert backgrounds == {"light": "rgb(245, 246, 248)", "dark": "rgb(15, 20, 27)"}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/templates/",
        "/deployments/",
        "/clusters/",
        "/notifications/",
        "/templates/agent-rag/",
        "/deployments/new?template=agent-rag",
    ],
)
def test_it_screenshots_the_main_pages_at_desktop_and_phone_width(page, live, path):
    log_in(page, live, live.username, LIVE_PASSWORD, next_path=path.split("?")[0])
    page.goto(f"{live.url}{path}")
    name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "dashboard"
    screenshot(page, f"page-{name}.png")
    page.set_viewport_size(PHONE)
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, f"page-{name}-phone.png")
    page.set_viewport_size(DESKTOP)


_NOTES = """
from django.contrib.auth import get_user_model
from pipelines.notifications import notification_create
user = get_user_model().objects.get(username={username!r})
for n in range(3):
    notification_create(user=user, message=f"Deployment demo-{{n}} is running", title=f"demo-{{n}} running",
                        level="success", link="/deployments/")
"""


def test_it_offers_the_sandbox_demo_on_the_first_dashboard(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD)
    assert "Bud Portal deploys multi-component AI use cases" in page.locator(".lead").inner_text()
    page.click("#deploy-demo")
    page.wait_for_url(f"{live.url}/deployments/new?template=valkey-cache")
    assert "sandbox" in page.locator("select[name=cluster_id] option:checked").inner_text()


def test_it_opens_the_bell_dropdown_and_marks_all_read(page, live):
    live.manage("shell", "-c", _NOTES.format(username=live.username))
    log_in(page, live, live.username, LIVE_PASSWORD)
    page.locator('.bell-count[data-unread="3"]').wait_for()
    assert page.locator("#unread-stat").inner_text() == "3"  # the dashboard card agrees with the bell
    page.click("summary.bell")
    page.locator("#bell-dropdown .note.unread").first.wait_for()
    assert page.locator("#bell-dropdown .note").count() == 3
    title = page.locator("#bell-dropdown time").first.get_attribute("title")
    assert title
    assert title.endswith("UTC")
    screenshot(page, "bell-dropdown.png")
    page.set_viewport_size(PHONE)
    screenshot(page, "bell-dropdown-phone.png")
    page.set_viewport_size(DESKTOP)

    page.click("#bell-dropdown button:has-text('Mark all read')")
    page.locator('.bell-count[data-unread="0"]').wait_for(state="attached")  # empty, so hidden
    page.locator("#bell-dropdown .note.unread").first.wait_for(state="detached")
    assert page.locator("#bell-dropdown .note").count() == 3  # still listed, now read
    page.keyboard.press("Escape")
    assert page.locator("details.bell-menu").get_attribute("open") is None
    assert page.evaluate("document.activeElement.matches('summary.bell')")
    page.click("summary.bell")
    page.click("h1")  # a click elsewhere closes it too
    assert page.locator("details.bell-menu").get_attribute("open") is None


def test_it_moves_the_focus_to_the_first_error_after_a_failed_submit(page, live):
    log_in(page, live, live.username, LIVE_PASSWORD, next_path="/deployments/new")
    page.goto(f"{live.url}/deployments/new?template=valkey-cache")
    page.fill("input[name=name]", "Not A Valid Name!")
    page.click("button:has-text('Review the plan')")
    page.locator(".field.invalid").first.wait_for()
    page.wait_for_function("document.activeElement && document.activeElement.name === 'name'")
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    screenshot(page, "wizard-error-focus.png")


STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def test_it_renders_the_api_docs_under_a_strict_content_security_policy(page, live):
    """No inline script, no eval, no third-party host: the policy the portal is moving to keeps the docs working."""

    def with_csp(route) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route(f"{live.url}/api/docs", with_csp)
    page.add_init_script("""window.__violations = [];
        document.addEventListener('securitypolicyviolation',
            (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
    page.goto(f"{live.url}/api/docs")
    page.locator(".opblock").first.wait_for()
    page.locator(".opblock-summary-path").nth(20).wait_for()
    assert page.evaluate("window.__violations") == []
    # The policy is really in force: an inline script is refused, and reported.
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                              document.body.appendChild(s); }""")
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__ran") is None
