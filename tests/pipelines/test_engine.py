from datetime import timedelta

import pytest
from django.utils import timezone

from budportal.errors import ConflictError
from pipelines import tasks
from pipelines.models import Event, PipelineExecution, StepExecution
from pipelines.services import execution_cancel, execution_progress, execution_retry, execution_submit
from tests.pipelines.conftest import CANCELLED_JOBS, dag, statuses, step

pytestmark = pytest.mark.django_db


def steps_of(execution) -> dict[str, StepExecution]:
    return {s.step_id: s for s in StepExecution.objects.filter(execution=execution)}


def event_types(execution, step_id=None) -> list[str]:
    qs = Event.objects.filter(execution=execution)
    if step_id:
        qs = qs.filter(step_id=step_id)
    return list(qs.values_list("type", flat=True))


def test_it_runs_a_chain_in_dependency_order(run):
    execution = run(dag(step("c", depends_on=["b"]), step("a"), step("b", depends_on=["a"])))
    s = steps_of(execution)
    assert execution.status == "COMPLETED"
    assert execution.completed_at
    assert execution.started_at
    assert s["a"].completed_at <= s["b"].started_at
    assert s["b"].completed_at <= s["c"].started_at
    assert [e.step_id for e in Event.objects.filter(type="step_started")] == ["a", "b", "c"]
    assert event_types(execution)[-1] == "execution_completed"


def test_it_passes_outputs_through_jinja_keeping_their_type(run):
    execution = run(
        dag(
            step("a", "set_output", params={"values": {"replicas": 3, "url": "http://llm:8000"}}),
            step(
                "b",
                "set_output",
                ["a"],
                params={"values": {"n": "{{ steps.a.outputs.replicas }}", "u": "{{ steps.a.outputs.url }}/v1"}},
            ),
            outputs={"total": "{{ steps.b.outputs.n + 1 }}"},
        )
    )
    assert steps_of(execution)["b"].outputs == {"n": 3, "u": "http://llm:8000/v1"}
    assert steps_of(execution)["b"].params == {"values": {"n": 3, "u": "http://llm:8000/v1"}}
    assert execution.outputs == {"total": 4}


def test_it_fails_the_step_on_a_template_injection_attempt(run):
    execution = run(dag(step("a", params={"message": "{{ ''.__class__.__mro__ }}"}), step("b", depends_on=["a"])))
    s = steps_of(execution)
    assert s["a"].status == "FAILED"
    assert "unsafe" in s["a"].error
    assert s["b"].status == "CANCELLED"
    assert execution.status == "FAILED"
    assert "'a'" in execution.error


def test_it_retries_with_backoff_then_succeeds(run):
    execution = run(dag(step("flaky", "fail", params={"times": 2}, retry={"max_attempts": 3, "backoff_seconds": 0})))
    flaky = steps_of(execution)["flaky"]
    assert (flaky.status, flaky.attempt, flaky.outputs) == ("COMPLETED", 3, {"attempt": 3})
    assert event_types(execution, "flaky").count("step_retrying") == 2
    assert execution.status == "COMPLETED"


def test_it_fails_after_the_last_attempt(run):
    execution = run(
        dag(step("bad", "fail", params={"message": "boom"}, retry={"max_attempts": 2, "backoff_seconds": 0}))
    )
    bad = steps_of(execution)["bad"]
    assert (bad.status, bad.attempt, bad.error) == ("FAILED", 2, "boom")
    assert execution.status == "FAILED"


def test_it_continues_independent_branches_when_on_failure_is_continue(run):
    execution = run(
        dag(
            step("bad", "fail"),
            step("after_bad", depends_on=["bad"]),
            step("other"),
            settings={"on_failure": "continue"},
        )
    )
    assert statuses(execution) == {"bad": "FAILED", "after_bad": "CANCELLED", "other": "COMPLETED"}
    assert execution.status == "FAILED"


def test_it_skips_a_step_whose_condition_is_false_and_runs_its_dependents(run):
    execution = run(
        dag(
            step("a", "set_output", params={"values": {"go": False}}),
            step("b", depends_on=["a"], condition="steps.a.outputs.go"),
            step("c", depends_on=["b"]),
        )
    )
    assert statuses(execution) == {"a": "COMPLETED", "b": "SKIPPED", "c": "COMPLETED"}
    assert execution.status == "COMPLETED"


def test_it_completes_an_event_driven_step_from_a_published_job_event(run, publish_job):
    execution = run(
        dag(
            step("deploy", "test_wait_for_job", params={"job_id": "job-1"}),
            step("use", "log", ["deploy"], params={"message": "at {{ steps.deploy.outputs.endpoint_url }}"}),
        )
    )
    assert statuses(execution)["deploy"] == "AWAITING_EVENT"
    publish_job("job-1", endpoint_url="http://llm.uc-1:8000")
    execution.refresh_from_db()
    s = steps_of(execution)
    assert s["deploy"].outputs == {"job_id": "job-1", "status": "running", "endpoint_url": "http://llm.uc-1:8000"}
    assert s["use"].outputs == {"message": "at http://llm.uc-1:8000"}
    assert execution.status == "COMPLETED"


def test_it_ignores_duplicate_and_late_events(run, publish_job):
    execution = run(dag(step("deploy", "test_wait_for_job", params={"job_id": "job-2"})))
    publish_job("job-2")
    publish_job("job-2")
    publish_job("job-2", "job_failed", error="late failure")
    execution.refresh_from_db()
    assert execution.status == "COMPLETED"
    assert statuses(execution) == {"deploy": "COMPLETED"}
    assert event_types(execution, "deploy").count("step_completed") == 1
    assert event_types(execution).count("execution_completed") == 1


def test_it_uses_a_job_event_that_arrived_before_the_step_waited(run, publish_job):
    publish_job("job-early")
    execution = run(dag(step("deploy", "test_wait_for_job", params={"job_id": "job-early"})))
    assert execution.status == "COMPLETED"


def test_it_fails_the_step_on_a_job_failed_event(run, publish_job):
    execution = run(
        dag(step("deploy", "test_wait_for_job", params={"job_id": "job-3"}), step("next", depends_on=["deploy"]))
    )
    publish_job("job-3", "job_failed", error="chart not found")
    execution.refresh_from_db()
    assert statuses(execution) == {"deploy": "FAILED", "next": "CANCELLED"}
    assert steps_of(execution)["deploy"].error == "chart not found"
    assert execution.status == "FAILED"


def test_it_records_progress_events_that_never_go_backwards(run, publish_job):
    execution = run(dag(step("a"), step("deploy", "test_wait_for_job", ["a"], params={"job_id": "job-p"})))
    publish_job("job-p", "job_progress", percent=60)
    publish_job("job-p", "job_progress", percent=40)
    assert steps_of(execution)["deploy"].progress == 60
    progress = execution_progress(execution=execution)
    assert progress["percent"] == 80.0
    assert progress["current_steps"] == ["deploy"]
    # No step like "deploy" has ever finished: no estimate rather than a guess from the quick "a".
    assert progress["eta_seconds"] is None
    assert [s["step_id"] for s in progress["steps"]] == ["a", "deploy"]


def test_it_times_out_a_waiting_step_and_cancels_its_job(run, django_capture_on_commit_callbacks):
    execution = run(dag(step("deploy", "test_wait_for_job", params={"job_id": "job-t"}, timeout_seconds=5)))
    deploy = steps_of(execution)["deploy"]
    assert (deploy.deadline - deploy.started_at).total_seconds() == pytest.approx(5, abs=1)
    StepExecution.objects.filter(pk=deploy.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    execution.refresh_from_db()
    assert statuses(execution) == {"deploy": "TIMEOUT"}
    assert execution.status == "FAILED"
    assert "job-t" in CANCELLED_JOBS


def test_it_times_out_the_whole_execution(run, django_capture_on_commit_callbacks):
    execution = run(
        dag(
            step("deploy", "test_wait_for_job", params={"job_id": "job-x"}),
            step("b", depends_on=["deploy"]),
            settings={"timeout_seconds": 60},
        )
    )
    PipelineExecution.objects.filter(pk=execution.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    execution.refresh_from_db()
    assert execution.status == "TIMEOUT"
    assert execution.completed_at
    assert statuses(execution) == {"deploy": "CANCELLED", "b": "CANCELLED"}


def test_it_cancels_pending_and_waiting_steps(run, django_capture_on_commit_callbacks):
    execution = run(
        dag(step("deploy", "test_wait_for_job", params={"job_id": "job-c"}), step("b", depends_on=["deploy"]))
    )
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = execution_cancel(execution_id=execution.pk)
    assert cancelled.status == "CANCELLED"
    assert cancelled.completed_at
    assert statuses(execution) == {"deploy": "CANCELLED", "b": "CANCELLED"}
    assert "job-c" in CANCELLED_JOBS
    with pytest.raises(ConflictError):
        execution_cancel(execution_id=execution.pk)


def test_it_resumes_a_cancelled_execution_keeping_completed_steps(run, publish_job, django_capture_on_commit_callbacks):
    execution = run(dag(step("a"), step("deploy", "test_wait_for_job", ["a"], params={"job_id": "job-r"})))
    first_a = steps_of(execution)["a"]
    with django_capture_on_commit_callbacks(execute=True):
        execution_cancel(execution_id=execution.pk)
    with django_capture_on_commit_callbacks(execute=True):
        resumed = execution_retry(execution_id=execution.pk)
    assert resumed.status == "RUNNING"
    assert resumed.completed_at is None
    assert steps_of(execution)["a"].started_at == first_a.started_at
    assert statuses(execution) == {"a": "COMPLETED", "deploy": "AWAITING_EVENT"}
    publish_job("job-r")
    execution.refresh_from_db()
    assert execution.status == "COMPLETED"
    with pytest.raises(ConflictError):
        execution_retry(execution_id=execution.pk)


def test_it_recovers_a_stale_running_step_of_a_killed_worker(owner, django_capture_on_commit_callbacks):
    # Submitted but the queued task is "lost" with the worker: the step sits RUNNING with an expired lease.
    execution = execution_submit(dag=dag(step("a"), step("b", depends_on=["a"])), owner=owner)
    a = StepExecution.objects.get(execution=execution, step_id="a")
    StepExecution.objects.filter(pk=a.pk).update(
        status="RUNNING", attempt=1, started_at=timezone.now(), lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = tasks.sweep()
    assert counts["stale_steps_recovered"] == 1
    execution.refresh_from_db()
    assert statuses(execution) == {"a": "COMPLETED", "b": "COMPLETED"}
    assert execution.status == "COMPLETED"
    assert StepExecution.objects.get(pk=a.pk).attempt == 2


def test_it_never_runs_a_step_twice_when_its_task_is_delivered_twice(run):
    execution = run(dag(step("once", "set_output", params={"values": {"x": 1}})))
    once = steps_of(execution)["once"]
    tasks.run_step(once.pk)
    StepExecution.objects.filter(pk=once.pk).update(status="RUNNING")  # another worker holds the claim
    tasks.run_step(once.pk)
    assert StepExecution.objects.get(pk=once.pk).attempt == 1
    assert event_types(execution, "once").count("step_started") == 1


def test_it_publishes_seed_shaped_events_to_callback_topics(run):
    execution = run(dag(step("a"), callback_topics=["budusecasesEvents"]))
    events = list(Event.objects.filter(execution=execution, topic="budusecasesEvents"))
    assert [e.type for e in events] == ["step_started", "step_completed", "workflow_progress", "execution_completed"]
    completed = events[1].payload
    assert completed == {
        "type": "step_completed",
        "execution_id": str(execution.pk),
        "step_id": "a",
        "status": "COMPLETED",
        "outputs": {"message": "a"},
        "error": None,
        "progress": None,
    }
    assert events[2].payload["progress"] == 100.0
    assert "eta_seconds" in events[2].payload
    assert events[3].payload["status"] == "COMPLETED"


def test_it_registers_the_periodic_sweep_as_a_django_q_schedule():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="pipelines.sweep")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "pipelines.tasks.sweep",
        Schedule.MINUTES,
        1,
        -1,
    )
