"""Pipeline actions for clusters and Helm; registered in ``ClusterjobsConfig.ready()``."""


def register_all() -> None:
    from clusterjobs.actions.cluster_health import ClusterHealthAction
    from clusterjobs.actions.helm_deploy import HelmDeployAction
    from clusterjobs.actions.helm_uninstall import HelmUninstallAction
    from pipelines.actions.registry import register

    for action in (ClusterHealthAction, HelmDeployAction, HelmUninstallAction):
        register(action)
