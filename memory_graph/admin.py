"""Admin for the memory graph: browse and delete. Nodes and edges are created only by the services
(`create_node` also indexes a node for search), so the admin does not add or edit them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from aep.admin import ReadOnlyAdmin as BaseReadOnlyAdmin
from memory_graph.models import MemoryEdge, MemoryNode


class ReadOnlyAdmin(BaseReadOnlyAdmin):
    allow_delete = True  # moderators may remove a node or an edge


@admin.register(MemoryNode)
class MemoryNodeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "org", "node_title", "created_at"]
    list_filter = ["kind", "org"]
    list_select_related = ["org"]
    search_fields = ["content"]
    date_hierarchy = "created_at"
    fields = ["id", "org", "kind", "node_title", "content", "metadata", "created_at"]
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("search_vector")

    @admin.display(description="title")
    def node_title(self, node: MemoryNode) -> str:
        return node.title


@admin.register(MemoryEdge)
class MemoryEdgeAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "kind", "target", "org", "created_at"]
    list_filter = ["kind", "org"]
    list_select_related = ["org", "source", "target"]
    raw_id_fields = ["source", "target"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("source__search_vector", "target__search_vector")
