app_name = "pipelines"

urlpatterns: list = []
