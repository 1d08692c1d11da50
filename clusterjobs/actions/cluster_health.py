"""Action ``cluster_health``: fail the step unless the cluster's API server is healthy."""

from __future__ import annotations

from typing import Any

from clusterjobs import services
from clusterjobs.actions.common import CLUSTER_PARAM, ActionInputError, cluster_for, validate_references
from pipelines.actions.base import Action, ActionContext, ActionMeta, ActionResult, ExecutionMode, OutputSpec


class ClusterHealthAction(Action):
    meta = ActionMeta(
        type="cluster_health",
        name="Check cluster health",
        description="Checks that the cluster's API server answers /version and /readyz; fails when it does not.",
        category="Cluster",
        params=(CLUSTER_PARAM,),
        outputs=(
            OutputSpec("healthy", "boolean"),
            OutputSpec("server_version", "string"),
            OutputSpec("latency_ms", "float"),
        ),
        execution_mode=ExecutionMode.SYNC,
        timeout_seconds=60,
        icon="heart-pulse",
        color="#16a34a",
        required_services=("kubernetes",),
    )

    def validate_references(self, params: dict[str, Any], owner: Any) -> list[str]:
        return validate_references(params, owner)

    def execute(self, ctx: ActionContext) -> ActionResult:
        try:
            cluster, _ = cluster_for(ctx)
        except ActionInputError as exc:
            return ActionResult(success=False, error=str(exc))
        health = services.cluster_health(cluster=cluster)
        outputs = {key: health[key] for key in self.meta.output_names}
        if not health["healthy"]:
            return ActionResult(
                success=False, outputs=outputs, error=f"cluster {cluster.name!r} is not healthy: {health['error']}"
            )
        return ActionResult(success=True, outputs=outputs)
