import pytest
from django.urls import reverse

from pipelines.events import publish
from tests.dbstate import everything
from tests.pages.conftest import htmx
from usecases import sse_render
from usecases.models.deployments import UseCaseDeployment
from usecases.services.deployments import deployment_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(owner, catalog, sandbox):
    return deployment_create(owner=owner, name="rag-1", template="agent-rag", cluster_id=sandbox.pk)


def _wizard_post(sandbox, **overrides) -> dict:
    data = {
        "template": "agent-rag",
        "name": "rag-web",
        "cluster_id": str(sandbox.pk),
        "component-vector_db": "qdrant",
        "component-llm": "mistral-7b",
        "param-chunk_size": "1024",
        "param-agent_concurrency": "",
    }
    data.update(overrides)
    return data


def test_it_offers_the_sandbox_cluster_and_typed_parameters(owner_browser, catalog, sandbox):
    html = owner_browser.get(reverse("usecases:deployment-create"), {"template": "agent-rag"}).content.decode()
    assert "simulated sandbox" in html
    assert f'value="{sandbox.pk}" selected' in html
    assert 'type="number" name="param-chunk_size" value="512" step="1" min="128" max="2048"' in html
    assert '<option value="mistral-7b"' in html
    assert '<option value="milvus"' in html


def test_it_swaps_the_wizard_form_when_the_template_changes(owner_browser, catalog, sandbox):
    response = owner_browser.get(reverse("usecases:deployment-create"), {"template": "agent-rag"}, **htmx())
    html = response.content.decode()
    assert html.startswith("{") is False
    assert '<form method="post"' in html
    assert "<html" not in html


def test_it_creates_a_pending_deployment_and_shows_its_plan(owner_browser, owner, catalog, sandbox):
    response = owner_browser.post(reverse("usecases:deployment-create"), _wizard_post(sandbox))
    deployment = UseCaseDeployment.objects.get(owner=owner, name="rag-web")
    assert response.status_code == 302
    assert response["Location"] == reverse("usecases:deployment-detail", args=[deployment.pk])
    assert deployment.status == "pending"
    assert deployment.parameters == {"chunk_size": 1024, "agent_concurrency": 4}
    assert deployment.components.get(component_name="llm").selected_component == "mistral-7b"
    html = owner_browser.get(response["Location"]).content.decode()
    assert "Wave 1" in html
    assert "Wave 2" in html
    assert 'id="start-button"' in html
    assert "mistralai/Mistral-7B-Instruct-v0.3" in html  # the chosen model's values in the plan
    assert "sse-connect" not in html  # nothing moves before Start
    assert "<title>rag-web · Deployments</title>" in html  # the tab's title, not the history table's markup
    assert html.count('id="revision-history"') <= 1


def test_it_shows_parameter_errors_at_the_field(owner_browser, owner, catalog, sandbox):
    response = owner_browser.post(
        reverse("usecases:deployment-create"), _wizard_post(sandbox, **{"param-chunk_size": "99999"})
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "above the maximum 2048" in html
    response = owner_browser.post(
        reverse("usecases:deployment-create"), _wizard_post(sandbox, **{"param-chunk_size": "abc"})
    )
    assert response.status_code == 422
    assert "expected an integer" in response.content.decode()
    assert not UseCaseDeployment.objects.filter(owner=owner).exists()


def test_it_starts_a_deployment_and_connects_the_live_stream(owner_browser, deployment):
    response = owner_browser.post(reverse("usecases:deployment-action", args=[deployment.pk, "start"]))
    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.status == "deploying"
    assert deployment.pipeline_execution_id
    html = owner_browser.get(reverse("usecases:deployment-detail", args=[deployment.pk])).content.decode()
    assert f'sse-connect="/deployments/{deployment.pk}/events?last_event_id=' in html
    assert 'sse-swap="state"' in html
    assert 'sse-swap="log"' in html
    for step in ("cluster_health", "vector_db", "llm", "agent_runtime"):
        assert f'id="step-{step}"' in html
    assert 'id="stop-button"' in html


def test_it_answers_a_wrong_state_with_a_message_not_an_error(owner_browser, deployment):
    before = everything()
    response = owner_browser.post(reverse("usecases:deployment-action", args=[deployment.pk, "stop"]), follow=True)
    assert response.status_code == 200
    assert "only a deploying or running one can be stopped" in response.content.decode()
    assert everything() == before


def test_it_redirects_htmx_actions_with_hx_redirect(owner_browser, deployment):
    response = owner_browser.post(reverse("usecases:deployment-delete", args=[deployment.pk]), **htmx())
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("usecases:deployment-list")
    assert not UseCaseDeployment.objects.filter(pk=deployment.pk).exists()


def test_it_renders_the_state_fragment_for_htmx(owner_browser, deployment):
    response = owner_browser.get(reverse("usecases:deployment-state", args=[deployment.pk]), **htmx())
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="progress-card"' in html
    assert "<html" not in html
    assert 'role="progressbar"' in html


def test_it_lists_deployments_with_badges_and_polls_while_one_moves(owner_browser, deployment):
    html = owner_browser.get(reverse("usecases:deployment-list")).content.decode()
    assert "rag-1" in html
    assert 'data-status="pending"' in html
    assert "every 3s" not in html
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="deploying")
    fragment = owner_browser.get(reverse("usecases:deployment-list"), **htmx()).content.decode()
    assert fragment.startswith('<div id="deployment-rows"')
    assert "every 3s" in fragment


def test_it_gives_another_user_404_on_every_deployment_page(other_browser, deployment):
    pk = deployment.pk
    before = everything()
    assert other_browser.get(reverse("usecases:deployment-detail", args=[pk])).status_code == 404
    assert other_browser.get(reverse("usecases:deployment-state", args=[pk])).status_code == 404
    for action in ("start", "stop", "retry"):
        assert other_browser.post(reverse("usecases:deployment-action", args=[pk, action])).status_code == 404
    assert other_browser.post(reverse("usecases:deployment-delete", args=[pk])).status_code == 404
    assert "rag-1" not in other_browser.get(reverse("usecases:deployment-list")).content.decode()
    deployment.refresh_from_db()
    assert deployment.status == "pending"
    assert everything() == before


def test_it_enforces_csrf_on_deployment_actions(csrf_browser, deployment):
    before = everything()
    assert csrf_browser.post(reverse("usecases:deployment-action", args=[deployment.pk, "start"])).status_code == 403
    deployment.refresh_from_db()
    assert deployment.status == "pending"
    assert everything() == before  # no execution, no event, no component moved


def test_it_prerenders_sse_log_state_and_done_for_the_stream(deployment, owner):
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="running")
    deployment.components.update(status="running", endpoint_url="http://x.uc.svc.cluster.local:8080")
    event = publish(
        "budusecasesEvents",
        "step_completed",
        {"status": "COMPLETED", "step_id": "llm"},
        step_id="llm",
        deployment_id=deployment.pk,
    )
    [out] = sse_render.prerender(deployment, [event])
    text = sse_render.rendered(out).decode()
    assert f'id: {event.pk}\nevent: log\ndata: <li id="ev-{event.pk}"' in text
    assert "event: state\n" in text
    assert '<code class="endpoint">http://x.uc.svc.cluster.local:8080</code>' in text
    assert text.endswith("event: done\ndata: \n\n")  # running and nothing executing: the page may close


def test_it_does_not_send_done_while_a_deployment_moves(deployment):
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="deploying")
    event = publish(
        "budusecasesEvents", "step_started", {"status": "RUNNING"}, step_id="llm", deployment_id=deployment.pk
    )
    text = sse_render.rendered(sse_render.prerender(deployment, [event])[0]).decode()
    assert "event: state" in text
    assert "event: done" not in text


def test_it_shows_the_error_helm_output_and_retry_of_a_failed_component(owner_browser, deployment, owner, sandbox):
    from clusterjobs.models import Job

    job = Job.objects.create(
        owner=owner,
        cluster=sandbox,
        job_type="helm_deploy",
        status="FAILED",
        timeout_seconds=60,
        error="Error: INSTALLATION FAILED: context deadline exceeded",
    )
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="failed", error="agent_runtime failed")
    deployment.components.filter(component_name="agent_runtime").update(
        status="failed", error="helm install of rag-1-agent-runtime failed", job_id=str(job.pk)
    )
    html = owner_browser.get(reverse("usecases:deployment-detail", args=[deployment.pk])).content.decode()
    assert 'id="step-agent_runtime" data-status="failed"' in html
    # The cause first, in plain words; the raw step error and Helm output folded under "Details".
    cause = html.index("Timed out waiting for the release to be ready")
    assert html.index("<summary>Details</summary>") > cause
    assert "helm install of rag-1-agent-runtime failed" in html
    assert "context deadline exceeded" in html
    assert 'id="retry-button"' in html
    assert 'id="stop-button"' not in html
    assert "sse-connect" not in html  # at rest: the page shows the final state without a stream
