"""Retention (issue 17.2): the sweep prunes old events and finished executions in bounded batches, never those
of a running execution, of a deployment in flight, or an execution a deployment still points at."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from pipelines import retention, sweep
from pipelines.events import publish
from pipelines.models import Event, PipelineExecution, StepExecution
from tests.pipelines.conftest import dag, step
from usecases.models.deployments import UseCaseDeployment

DAY = 24 * 3600
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retention_of_a_day")]


@pytest.fixture
def retention_of_a_day(settings):
    settings.PIPELINE_RETENTION_SECONDS = DAY


def _age(execution: PipelineExecution, days: float) -> None:
    then = timezone.now() - timedelta(days=days)
    PipelineExecution.objects.filter(pk=execution.pk).update(created_at=then, completed_at=then)
    Event.objects.filter(execution=execution).update(created_at=then)


def _deployment(owner, status: str, **fields) -> UseCaseDeployment:
    return UseCaseDeployment.objects.create(
        name=f"d-{status}",
        owner=owner,
        template_name="t",
        template_version="1",
        namespace="uc-1",
        status=status,
        **fields,
    )


def test_it_prunes_old_finished_executions_with_their_steps_and_events_and_keeps_recent_and_running(run, owner):
    old, recent = run(dag(step("a"), step("b"))), run(dag(step("a")))
    _age(old, 2)
    running = PipelineExecution.objects.create(dag=dag(step("x")), owner=owner, status="RUNNING")
    PipelineExecution.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(days=9))
    assert old.status == recent.status == "COMPLETED"
    assert Event.objects.filter(execution=old).exists()

    counts = sweep.sweep()

    assert counts["executions_pruned"] == 1
    assert set(PipelineExecution.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not StepExecution.objects.filter(execution_id=old.pk).exists()
    assert not Event.objects.filter(execution_id=old.pk).exists()
    assert Event.objects.filter(execution=recent).exists()


def test_it_keeps_the_runs_of_a_deployment_in_flight_and_the_run_a_deployment_points_at(run, owner):
    in_flight, at_rest, pointed_at = run(dag(step("a"))), run(dag(step("a"))), run(dag(step("a")))
    busy = _deployment(owner, "deploying")
    calm = _deployment(owner, "running", pipeline_execution_id=str(pointed_at.pk))
    PipelineExecution.objects.filter(pk=in_flight.pk).update(deployment_id=busy.pk)
    PipelineExecution.objects.filter(pk=at_rest.pk).update(deployment_id=calm.pk)
    busy_event = publish("deploymentNotes", "deployment_note", {}, deployment_id=busy.pk)
    calm_event = publish("deploymentNotes", "deployment_note", {}, deployment_id=calm.pk)
    for execution in (in_flight, at_rest, pointed_at):
        _age(execution, 3)
    Event.objects.filter(pk__in=[busy_event.pk, calm_event.pk]).update(
        created_at=timezone.now() - timedelta(days=3), delivered=True
    )

    sweep.sweep()

    assert set(PipelineExecution.objects.values_list("pk", flat=True)) == {in_flight.pk, pointed_at.pk}
    assert Event.objects.filter(pk=busy_event.pk).exists()
    assert not Event.objects.filter(pk=calm_event.pk).exists()


def test_it_never_prunes_an_event_not_yet_delivered_to_its_handlers():
    event = publish("budpipelineEvents", "job_completed", {"workflow_id": "j-1"})
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=5), delivered=False)

    assert retention.prune()["events_pruned"] == 0
    assert Event.objects.filter(pk=event.pk).exists()


@override_settings(PIPELINE_RETENTION_BATCH=2)
def test_it_prunes_in_bounded_batches_oldest_first(run):
    executions = [run(dag(step("a"))) for _ in range(5)]
    for days, execution in zip((6, 5, 4, 3, 2), executions, strict=True):
        _age(execution, days)

    assert retention.prune()["executions_pruned"] == 2
    assert set(PipelineExecution.objects.values_list("pk", flat=True)) == {e.pk for e in executions[2:]}
    assert retention.prune()["executions_pruned"] == 2
    assert retention.prune()["executions_pruned"] == 1
    assert not PipelineExecution.objects.exists()


@override_settings(PIPELINE_RETENTION_SECONDS=0)
def test_it_keeps_everything_when_retention_is_off(run):
    execution = run(dag(step("a")))
    _age(execution, 400)
    assert sweep.sweep()["executions_pruned"] == 0
    assert PipelineExecution.objects.filter(pk=execution.pk).exists()
