"""Pipeline actions for clusters and Helm; registered in ``ClusterjobsConfig.ready()``."""


def register_all() -> None:
    from pipelines.actions.registry import register

    from clusterjobs.actions.cluster_health import ClusterHealthAction
    from clusterjobs.actions.helm_deploy import HelmDeployAction
    from clusterjobs.actions.helm_uninstall import HelmUninstallAction

    for action in (ClusterHealthAction, HelmDeployAction, HelmUninstallAction):
        register(action)
