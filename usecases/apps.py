from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsecasesConfig(AppConfig):
    name = "usecases"

    def ready(self) -> None:
        from usecases.catalog_sync import autoload_catalog

        # The catalog is loaded on the first migrate, so a fresh install lists templates at once.
        post_migrate.connect(autoload_catalog, sender=self, dispatch_uid="usecases-autoload-catalog")
