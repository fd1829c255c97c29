from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aep.metrics import metrics_view

urlpatterns = [
    path("api/", include("aep.accounts.urls_api")),
    path("api/", include("plans.urls_api")),
    path("api/memory/", include("memory_graph.urls_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("aep.accounts.urls_pages")),
    path("", include("memory_graph.urls_pages")),
    path("", include("plans.urls_pages")),
]

handler400 = "aep.errors.json_or_html_400"
handler404 = "aep.errors.json_or_html_404"
handler500 = "aep.errors.json_or_html_500"
