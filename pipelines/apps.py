from importlib import import_module

from django.apps import AppConfig
from django.db.models.signals import post_migrate

BUILTIN_ACTIONS = (
    "log", "set_output", "fail", "delay", "notification", "http_request",
    "conditional", "transform", "aggregate", "wait_until",
)  # fmt: skip
SWEEP_SCHEDULE_NAME = "pipelines.sweep"


def ensure_sweep_schedule(**kwargs) -> None:
    """Register the periodic sweep as a django-q2 Schedule (idempotent; runs after every migrate).

    django-q2's scheduler only looks for due schedules every ~30 s and its finest type is MINUTES, so the
    schedule runs every minute; ``manage.py pipeline_sweep --loop`` adds enforcement every
    ``PIPELINE_SWEEP_SECONDS`` where that matters.
    """
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={"func": "pipelines.tasks.sweep", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )


class PipelinesConfig(AppConfig):
    name = "pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pipelines.events import JOB_EVENTS_TOPIC, subscribe
        from pipelines.runner import route_job_event

        for name in BUILTIN_ACTIONS:
            import_module(f"pipelines.actions.{name}")
        subscribe(JOB_EVENTS_TOPIC, route_job_event, name="pipelines.step_router")
        post_migrate.connect(ensure_sweep_schedule, sender=self)
