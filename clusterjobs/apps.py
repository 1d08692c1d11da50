from django.apps import AppConfig


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = "Clusters and jobs"

    def ready(self) -> None:
        from clusterjobs.actions import register_all

        register_all()
