from django.urls import path

from memory_graph import views

urlpatterns = [
    path("memory", views.memory_search, name="memory-search"),
    # Before the node page: its `str` converter would take "search" for a node id.
    path("memory/search", views.memory_search_results, name="memory-search-results"),
    path("memory/similar", views.similar_plans, name="memory-similar"),
    # `str`, not `uuid`: a malformed id still goes through login and the org, then 404s like any
    # other node the org does not have.
    path("memory/<str:node_id>", views.memory_node, name="memory-node"),
    path("memory/<str:node_id>/links", views.memory_node_link, name="memory-node-link"),
]
