from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsecasesConfig(AppConfig):
    name = "usecases"

    def ready(self) -> None:
        from usecases.catalog_sync import autoload_catalog
        from usecases.listener import subscribe as subscribe_deployment_listener

        # The catalog is loaded on the first migrate, so a fresh install lists templates at once.
        post_migrate.connect(autoload_catalog, sender=self, dispatch_uid="usecases-autoload-catalog")
        # Pipeline events about deployments (budusecasesEvents) update component and deployment statuses.
        subscribe_deployment_listener()
        # The pipelines sweep prunes old events and executions, never those of deployments in flight.
        from usecases.retention import register as protect_from_retention

        protect_from_retention()
