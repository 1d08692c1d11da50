from django.apps import AppConfig
from django.db.models.signals import post_migrate

JOB_TIMEOUT_SCHEDULE_NAME = "clusterjobs.expire_overdue_jobs"


def ensure_job_timeout_schedule(**kwargs) -> None:
    """Every minute: jobs past their deadline become TIMEOUT, and RUNNING jobs whose worker died (lease
    expired) are queued again. ``clusterjobs.services.jobs_sweep`` is the same, for faster sweeps."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=JOB_TIMEOUT_SCHEDULE_NAME,
        defaults={"func": "clusterjobs.tasks.sweep_jobs", "schedule_type": Schedule.MINUTES,
                  "minutes": 1, "repeats": -1},
    )


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = "Clusters and jobs"

    def ready(self) -> None:
        from clusterjobs.actions import register_all

        register_all()
        post_migrate.connect(ensure_job_timeout_schedule, sender=self)
