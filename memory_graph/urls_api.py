from django.urls import path

from memory_graph import api

urlpatterns = [
    path("search", api.MemorySearchView.as_view(), name="api-memory-search"),
    path("nodes/<str:node_id>", api.MemoryNodeDetailView.as_view(), name="api-memory-node"),
    path("nodes/<str:node_id>/related", api.MemoryNodeRelatedView.as_view(), name="api-memory-related"),
    path("nodes/<str:node_id>/links", api.MemoryNodeLinksView.as_view(), name="api-memory-links"),
]
