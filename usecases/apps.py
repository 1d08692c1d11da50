from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsecasesConfig(AppConfig):
    name = "usecases"

    def ready(self) -> None:
        from pipelines.actions.registry import register
        from pipelines.sweep import register_sweeper
        from usecases.actions.deployment_create import DeploymentCreateAction
        from usecases.catalog_sync import autoload_catalog
        from usecases.cluster_refs import register as register_cluster_refs
        from usecases.listener import subscribe as subscribe_deployment_listener
        from usecases.retention import register as protect_from_retention
        from usecases.services.health import health_sweep

        # The DAG builder's steps run this action (one Helm release per component).
        register(DeploymentCreateAction)
        # The catalog is loaded on the first migrate, so a fresh install lists templates at once.
        post_migrate.connect(autoload_catalog, sender=self, dispatch_uid="usecases-autoload-catalog")
        # Pipeline events about deployments (budusecasesEvents) update component and deployment statuses.
        subscribe_deployment_listener()
        # clusterjobs checks deployment ids in job bodies, and deployments that still need a cluster, through these.
        register_cluster_refs()
        # The pipelines sweep prunes old events and executions, never those of deployments in flight.
        protect_from_retention()
        # The same sweep checks the health of running deployments, a bounded batch per run.
        register_sweeper("usecases.health", health_sweep)
