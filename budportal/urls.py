from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from budportal import views
from budportal.api import api
from budportal.metrics import metrics_view

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("usecases.urls")),
    path("", include("pipelines.urls")),
    path("", include("clusterjobs.urls")),
]

# With DEBUG off Django calls this for unknown addresses; BrandedNotFoundMiddleware covers DEBUG on.
handler404 = "budportal.middleware.not_found"
