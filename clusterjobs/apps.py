from django.apps import AppConfig


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = "Clusters and jobs"

    def ready(self) -> None:
        from clusterjobs.actions import register_all
        from clusterjobs.services import jobs_sweep
        from pipelines.sweep import register_sweeper

        register_all()
        # Overdue jobs become TIMEOUT and RUNNING jobs of dead workers are queued again, on the engine's sweep.
        register_sweeper("clusterjobs.jobs", jobs_sweep)
