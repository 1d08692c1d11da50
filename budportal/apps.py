from django.apps import AppConfig


class BudPortalConfig(AppConfig):
    name = "budportal"
    verbose_name = "Bud Portal"
