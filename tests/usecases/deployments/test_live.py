"""agent-rag on a real portal (LiveStack: daphne + a qcluster with 3 workers) against the stand-in with real
helm: the two components of the first wave install at the same time, the agent only after both."""

from __future__ import annotations

from datetime import datetime

import pytest

from clusterjobs.standin import KubeStandIn
from tests.livestack import LiveStack

pytestmark = pytest.mark.timeout(240)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def stack_and_cluster(helm_binary):
    env = {"HELM_BINARY": helm_binary, "HELM_DEFAULT_TIMEOUT_SECONDS": "60", "LOG_LEVEL": "WARNING"}
    with KubeStandIn() as standin, LiveStack(workers=3, env=env) as stack:
        standin.install_delay_seconds = 2.5  # every install waits for readiness, so the runs are long enough to overlap
        stack.manage("sync_templates")
        status, cluster = stack.api("POST", "/api/clusters", {"name": "sandbox", "kubeconfig": standin.kubeconfig()})
        assert status == 201, cluster
        yield stack, cluster["id"]


def test_it_installs_the_first_wave_concurrently_and_the_agent_after_both(stack_and_cluster):
    stack, cluster_id = stack_and_cluster
    status, created = stack.api(
        "POST", "/api/deployments", {"name": "live-rag", "template": "agent-rag", "cluster_id": cluster_id}
    )
    assert status == 201, created
    url = f"/api/deployments/{created['id']}"
    assert stack.api("POST", f"{url}/start")[0] == 200
    body = stack.wait_for(
        lambda: (lambda b: b if b["status"] in ("running", "failed") else None)(stack.api("GET", url)[1]),
        timeout=120,
        interval=0.2,
    )
    assert body["status"] == "running", body["error"]

    jobs = {c["name"]: stack.api("GET", f"/api/jobs/{c['job_id']}")[1] for c in body["components"]}
    span = {name: (ts(job["started_at"]), ts(job["completed_at"])) for name, job in jobs.items()}
    assert span["vector_db"][0] < span["llm"][1]
    assert span["llm"][0] < span["vector_db"][1]
    assert span["agent_runtime"][0] >= max(span["vector_db"][1], span["llm"][1])
