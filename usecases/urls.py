from django.urls import path

from usecases.views import clusters as cluster_views
from usecases.views import deployments as deployment_views
from usecases.views import resources as resource_views
from usecases.views import templates as views
from usecases.views import upgrades as upgrade_views

app_name = "usecases"

urlpatterns = [
    path("templates/", views.template_list, name="template-list"),
    path("templates/<slug:name>/", views.template_detail, name="template-detail"),
    path("templates/<slug:name>/edit", views.template_edit, name="template-edit"),
    path("templates/<slug:name>/delete", views.template_delete, name="template-delete"),
    path("editor/templates/new", views.template_create, name="template-create"),
    path("editor/component", views.editor_component, name="editor-component"),
    path("editor/chart-ref", views.editor_chart_ref, name="editor-chart-ref"),
    path("editor/preview", views.editor_preview, name="editor-preview"),
    path("deployments/", deployment_views.deployment_list, name="deployment-list"),
    path("clusters/<uuid:cluster_id>/", cluster_views.cluster_detail, name="cluster-detail"),
    path("deployments/new", deployment_views.deployment_create, name="deployment-create"),
    path("deployments/<uuid:deployment_id>/", deployment_views.deployment_detail, name="deployment-detail"),
    path("deployments/<uuid:deployment_id>/state", deployment_views.deployment_state, name="deployment-state"),
    path("deployments/<uuid:deployment_id>/delete", deployment_views.deployment_delete, name="deployment-delete"),
    path("deployments/<uuid:deployment_id>/edit", upgrade_views.deployment_edit, name="deployment-edit"),
    path("deployments/<uuid:deployment_id>/plan", upgrade_views.deployment_change_plan, name="deployment-change-plan"),
    path("deployments/<uuid:deployment_id>/apply", upgrade_views.deployment_apply, name="deployment-apply"),
    path("deployments/<uuid:deployment_id>/discard", upgrade_views.deployment_discard, name="deployment-discard"),
    path(
        "deployments/<uuid:deployment_id>/resources", resource_views.deployment_resources, name="deployment-resources"
    ),
    path(
        "deployments/<uuid:deployment_id>/resources/refresh",
        resource_views.deployment_resources_refresh,
        name="deployment-resources-refresh",
    ),
    path(
        "deployments/<uuid:deployment_id>/components/<slug:component>/resync",
        resource_views.component_resync,
        name="component-resync",
    ),
    path(
        "deployments/<uuid:deployment_id>/<slug:action>", deployment_views.deployment_action, name="deployment-action"
    ),
]
