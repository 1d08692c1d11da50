app_name = "clusterjobs"

urlpatterns: list = []
