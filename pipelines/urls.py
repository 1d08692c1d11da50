from django.urls import path

from pipelines import views

app_name = "pipelines"

urlpatterns = [
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/badge", views.notification_badge, name="notification-badge"),
    path("notifications/menu", views.notification_menu, name="notification-menu"),
    path("notifications/read-all", views.notification_read_all, name="notification-read-all"),
    path("notifications/<int:notification_id>/read", views.notification_read, name="notification-read"),
]
