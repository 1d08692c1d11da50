"""Browser tests: Playwright for Python driving Debian's chromium against a live portal (daphne + qcluster
on a temporary SQLite file, ``tests.livestack.LiveStack``) and a sandbox cluster (the Kubernetes stand-in,
run in this process). No browser is ever downloaded: ``/usr/bin/chromium`` is launched by path."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusterjobs.standin import KubeStandIn
from tests.livestack import ROOT, LiveStack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Locally a machine without chromium skips these; in CI they must run (a missing browser fails loudly).
requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not IN_CI,
    reason="/usr/bin/chromium is not installed (apt-get install chromium); browser tests run in CI",
)

_REGISTER = """
import json
from django.contrib.auth import get_user_model
from clusterjobs.services import cluster_register_sandbox
User = get_user_model()
owner = User.objects.get(username={owner!r})
cluster = cluster_register_sandbox(url={url!r}, kubeconfig={kubeconfig!r}, owner=owner)
User.objects.create_user("intruder", password="intruder-pw-123")
print("REGISTERED" + json.dumps({{"cluster_id": str(cluster.pk)}}))
"""


@pytest.fixture(scope="module")
def standin() -> Iterator[KubeStandIn]:
    kube = KubeStandIn(host="127.0.0.1", port=0, controllers=True).start()
    # A second per install makes each step's deploying → running visible in the browser.
    kube.install_delay_seconds = 1.0
    yield kube
    kube.stop()


@pytest.fixture(scope="module")
def live(standin: KubeStandIn) -> Iterator[LiveStack]:
    with LiveStack(workers=3) as stack:
        out = stack.manage(
            "shell", "-c", _REGISTER.format(owner=stack.username, url=standin.url, kubeconfig=standin.kubeconfig())
        ).stdout
        stack.cluster_id = json.loads(out.split("REGISTERED", 1)[1].strip())["cluster_id"]
        yield stack


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of Stop / Delete / Remove
    yield page
    if getattr(request.node, "browser_failed", False):
        # What the browser showed when the test failed, for the CI artifacts.
        screenshot(page, f"failed-{request.node.name}.png")
        (ARTIFACTS / f"failed-{request.node.name}.html").write_text(page.content())
    context.close()


def log_in(page, live: LiveStack, username: str, password: str, next_path: str = "/") -> None:
    page.goto(f"{live.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}{next_path}")


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
