from django.urls import path

from clusterjobs import views

app_name = "clusterjobs"

urlpatterns = [
    path("clusters/", views.cluster_list, name="cluster-list"),
    path("clusters/<uuid:cluster_id>/health", views.cluster_health, name="cluster-health"),
    path("clusters/<uuid:cluster_id>/delete", views.cluster_delete, name="cluster-delete"),
]
