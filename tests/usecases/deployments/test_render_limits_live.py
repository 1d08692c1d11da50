"""A real daphne stays responsive while hostile previews render (issue 10, part 3): ``/healthz`` used to go
unanswered for 18 s while one ``sum(start=[])`` preview held the GIL of the web process."""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import urllib.request

import pytest

from tests.livestack import LiveStack

pytestmark = pytest.mark.timeout(240)

# About a minute of CPU for a fifth of the sandbox's work budget: only the render process's time limit stops it.
SLOW = "{% for i in range(10000) %}{{ range(10000)|sort|first }}{% endfor %}"
BOMBS = ["{{ ([[0]*100000]*250)|sum(start=[]) }}", "{{ '{:0>999999999}'.format(1) }}", SLOW]


def _preview(stack: LiveStack, csrf: str, source: str) -> str:
    form = {
        "name": "x",
        "version": "1.0.0",
        "visibility": "private",
        "component_keys": "k1",
        "c-k1-name": "agent",
        "c-k1-type": "helm",
        "c-k1-chart_ref": "charts/agent-runtime",
        "key": "k1",
        "c-k1-values": f'v: "{source}"\n',
    }
    request = urllib.request.Request(
        stack.url + "/editor/preview",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Cookie": f"{stack.session_cookie}; csrftoken={csrf}", "X-CSRFToken": csrf, "HX-Request": "true"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()


def test_it_answers_healthz_while_bomb_previews_are_in_flight():
    with LiveStack(workers=1, env={"RENDER_TIMEOUT_SECONDS": "3", "LOG_LEVEL": "WARNING"}) as stack:
        page = urllib.request.Request(stack.url + "/editor/templates/new", headers={"Cookie": stack.session_cookie})
        with urllib.request.urlopen(page, timeout=30) as response:
            csrf = re.search(r"csrftoken=([^;]+)", response.headers["Set-Cookie"]).group(1)
        _preview(stack, csrf, "{{ 1 }}")  # the render workers are warm
        answers: dict[str, str] = {}
        threads = [threading.Thread(target=lambda s=s: answers.__setitem__(s, _preview(stack, csrf, s))) for s in BOMBS]
        for thread in threads:
            thread.start()
        slowest = 0.0
        while any(t.is_alive() for t in threads):
            started = time.monotonic()
            with urllib.request.urlopen(stack.url + "/healthz", timeout=60) as response:
                assert response.status == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        assert slowest < 2, f"/healthz took {slowest:.2f} s while previews rendered"  # generous: shared 2 cores
        assert all("TemplateLimitError" in answers[s] for s in BOMBS), answers
        assert "exceeded 3 s" in answers[SLOW]
