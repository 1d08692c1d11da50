"""Pipeline state: executions, their steps, the append-only event log and in-app notifications.

Every status change goes through a compare-and-set in ``pipelines.engine`` / ``pipelines.services``
(``filter(pk=..., status__in=ALLOWED_FROM).update(...)``), so two workers, a retried task or a duplicate event
cannot both win.

Lock order (PostgreSQL; SQLite serialises writers anyway). A transaction that locks more than one of these
rows takes them in this order, never the other way round, so two of them cannot wait for each other:

1. the deployment row (``usecases``), when the caller changes one;
2. the ``PipelineExecution`` row: ``engine.lock_execution`` (``SELECT ... FOR NO KEY UPDATE``) is the first
   statement of every engine transaction that changes steps — step completion and failure, ``advance``,
   cancel/stop, retry;
3. its ``StepExecution`` rows, several at once in primary-key order (``engine.cancel_open_steps``);
4. ``Event`` rows (inserted last; ``events._mark_handled`` locks one at a time, alone).

A transaction that touches a single step row and nothing else (the claim PENDING → RUNNING, a lease renewal,
the sweep re-queueing a lost message) may skip the execution lock: it never waits for a second row. A chain
hop (``engine._hop_targets``: a step completes and its one dependent, with a higher primary key, becomes ready)
skips it too: it locks its step rows in primary-key order, the order of rule 3, and never the execution. Inserting
an event or step takes ``FOR KEY SHARE`` on its execution (the foreign-key check), which the ``NO KEY`` locks
above never block; only deleting an execution conflicts with it, and only finished executions are deleted
(``pipelines.retention``). A transaction PostgreSQL still aborts as a deadlock victim is run again
(``pipelines.locking.retry_on_deadlock``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExecutionStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"


class StepStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    AWAITING_EVENT = "AWAITING_EVENT"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"


EXECUTION_ACTIVE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
EXECUTION_FINISHED = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.TIMEOUT,
)
STEP_DONE_OK = (StepStatus.COMPLETED, StepStatus.SKIPPED)
STEP_ACTIVE = (StepStatus.RUNNING, StepStatus.AWAITING_EVENT)
STEP_FINISHED = (
    StepStatus.COMPLETED,
    StepStatus.SKIPPED,
    StepStatus.FAILED,
    StepStatus.CANCELLED,
    StepStatus.TIMEOUT,
)
STEP_BAD = (StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.TIMEOUT)


class PipelineExecution(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True)
    dag = models.JSONField()
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    parameters = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    callback_topics = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pipeline_executions")
    deployment_id = models.UUIDField(null=True, blank=True, db_index=True)
    error = models.TextField(blank=True)
    # Highest percent reported so far: progress never goes backwards.
    progress = models.FloatField(default=0.0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    # Ready steps were left unqueued by the owner's running-step limit (pipelines.fairness): advance it again
    # when one of the owner's steps leaves a worker.
    held_steps = models.BooleanField(default=False)
    # The saved pipeline this is a run of (its run history), and what started it.
    saved_pipeline = models.ForeignKey(
        "pipelines.SavedPipeline", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    trigger = models.CharField(max_length=16, blank=True)  # "", or a SavedPipeline.Trigger

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "deadline"]), models.Index(fields=["status", "completed_at"])]

    def __str__(self) -> str:
        return f"{self.name or 'execution'} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in EXECUTION_FINISHED

    @property
    def settings(self) -> dict:
        return self.dag.get("settings") or {}


class SavedPipeline(models.Model):
    """A named DAG of one owner, run on demand, on an interval schedule or by its webhook.

    Only a hash of the webhook secret is stored: the secret is shown once (create, rotate). Schedules are
    django-q2 ``Schedule`` rows named ``schedule_name`` (``pipelines.saved`` keeps them in step).
    """

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"
        WEBHOOK = "webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_pipelines")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    dag = models.JSONField()
    parameters = models.JSONField(default=dict, blank=True)  # defaults; a run may override them
    # Minutes between scheduled runs; null: no schedule. (Cron needs croniter, which is not installed.)
    schedule_minutes = models.PositiveIntegerField(null=True, blank=True)
    paused = models.BooleanField(default=False)
    webhook_secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="uniq_saved_pipeline_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule_name(self) -> str:
        return f"pipelines.saved:{self.pk}"


class StepExecution(models.Model):
    execution = models.ForeignKey(PipelineExecution, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0, help_text="Index of the step in the DAG's step list.")
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    depends_on = models.JSONField(default=list, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="Resolved (rendered) params of the last attempt.")
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    awaiting_event = models.BooleanField(default=False)
    external_workflow_id = models.CharField(max_length=200, blank=True, db_index=True)
    progress = models.FloatField(default=0.0)
    # Set when a run_step task is queued for the PENDING step; cleared on retry. Prevents double enqueue.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "position"]
        constraints = [models.UniqueConstraint(fields=["execution", "step_id"], name="uniq_step_per_execution")]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"]),
            models.Index(fields=["status", "deadline"]),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} ({self.status})"

    @property
    def dag_step(self) -> dict:
        return self.execution.dag["steps"][self.position]


class Event(models.Model):
    """One entry of the append-only event log; ``id`` orders events and is the SSE ``Last-Event-ID``."""

    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=100, db_index=True)
    type = models.CharField(max_length=100)
    execution = models.ForeignKey(
        PipelineExecution, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    step_id = models.CharField(max_length=200, blank=True)
    deployment_id = models.UUIDField(null=True, blank=True, db_index=True)
    # payload["workflow_id"] of job events, so a step that starts waiting can find an event that came early.
    workflow_id = models.CharField(max_length=200, blank=True, db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    handled_by = models.JSONField(default=list, blank=True)
    delivered = models.BooleanField(default=False, db_index=True)
    failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        # The SSE stream and GET /api/events read "events of one execution (deployment) after id N, by id":
        # an index range scan in id order, no sort of the execution's whole log (tests/production EXPLAIN).
        indexes = [
            models.Index(fields=["execution", "id"], name="event_execution_after_id"),
            models.Index(fields=["deployment_id", "id"], name="event_deployment_after_id"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.topic}/{self.type}"


class NotificationLevel(models.TextChoices):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    level = models.CharField(max_length=10, choices=NotificationLevel.choices, default=NotificationLevel.INFO)
    title = models.CharField(max_length=200, blank=True)
    message = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.level}: {self.message[:40]}"
