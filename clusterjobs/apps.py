from django.apps import AppConfig


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
