from django.apps import AppConfig
from django.db.models.signals import post_migrate

JOB_TIMEOUT_SCHEDULE_NAME = "clusterjobs.expire_overdue_jobs"


def ensure_job_timeout_schedule(**kwargs) -> None:
    """Mark jobs past their deadline TIMEOUT every minute (a worker killed mid-job never finishes it)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=JOB_TIMEOUT_SCHEDULE_NAME,
        defaults={"func": "clusterjobs.tasks.expire_overdue_jobs", "schedule_type": Schedule.MINUTES,
                  "minutes": 1, "repeats": -1},
    )


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = "Clusters and jobs"

    def ready(self) -> None:
        from clusterjobs.actions import register_all

        register_all()
        post_migrate.connect(ensure_job_timeout_schedule, sender=self)
