"""Writes to the memory graph. Callers hold the transaction (archive_plan does)."""

from __future__ import annotations

from typing import Any

from aep.errors import InvalidInput
from aep.models import Organization
from memory_graph.models import MemoryEdge, MemoryNode


def create_node(
    *, org: Organization, kind: str, content: str, metadata: dict[str, Any] | None = None
) -> MemoryNode:
    return MemoryNode.objects.create(org=org, kind=kind, content=content, metadata=metadata or {})


def link(*, source: MemoryNode, target: MemoryNode, kind: str) -> MemoryEdge:
    """Edge `source -> target`. Both nodes must belong to one org: the graph never crosses orgs."""
    if source.org_id != target.org_id:
        raise InvalidInput("Memory nodes of different orgs cannot be linked.")
    edge, _ = MemoryEdge.objects.get_or_create(
        source=source, target=target, kind=kind, defaults={"org_id": source.org_id}
    )
    return edge
