"""django-q2 entry points: load by id, call a service, nothing else."""

from __future__ import annotations

from clusterjobs import services
from pipelines.logcontext import log_context


def execute_job(job_id: str) -> str | None:
    with log_context(job_id=job_id):
        job = services.job_run(job_id=job_id)
        return job.status if job else None


def expire_overdue_jobs() -> int:
    return services.job_expire_overdue()
