"""Writes to the memory graph, and its search (DESIGN 1 names `search` among these; it lives with
the other reads in `selectors`)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from aep.errors import InvalidInput
from aep.models import Organization
from memory_graph import search as engine
from memory_graph.models import MemoryEdge, MemoryNode
from memory_graph.selectors import search

__all__ = ["create_node", "link", "search"]


def create_node(
    *, org: Organization, kind: str, content: str, metadata: dict[str, Any] | None = None
) -> MemoryNode:
    """Store a node and index it for search, both or neither (callers may hold a wider transaction:
    archive_plan does)."""
    with transaction.atomic():
        node = MemoryNode.objects.create(org=org, kind=kind, content=content, metadata=metadata or {})
        engine.index_node(node)
    # The vector was written by SQL, not from this instance: mark the field as not loaded (as
    # `.defer()` would), so reading it fetches the stored value and a later save() leaves it alone.
    node.__dict__.pop("search_vector", None)
    return node


def link(*, source: MemoryNode, target: MemoryNode, kind: str) -> MemoryEdge:
    """Edge `source -> target`. Both nodes must belong to one org: the graph never crosses orgs."""
    if source.org_id != target.org_id:
        raise InvalidInput("Memory nodes of different orgs cannot be linked.")
    edge, _ = MemoryEdge.objects.get_or_create(
        source=source, target=target, kind=kind, defaults={"org_id": source.org_id}
    )
    return edge
