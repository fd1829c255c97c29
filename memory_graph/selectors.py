"""Reads of the memory graph, always scoped to one org."""

from __future__ import annotations

import json
import uuid

from django.db.models import QuerySet

from aep.errors import InvalidInput, NotFound
from aep.models import Organization
from aep.tenancy import scope
from memory_graph import search as engine
from memory_graph.models import MemoryEdge, MemoryNode

SEARCH_LIMIT_DEFAULT = 20
SEARCH_LIMIT_MAX = 100
RELATED_LIMIT_DEFAULT = 5
RELATED_LIMIT_MAX = 50
MODES = tuple(mode.value for mode in engine.Mode)


def search(
    *,
    query: str,
    org: Organization,
    kind: str | None = None,
    limit: int = SEARCH_LIMIT_DEFAULT,
    mode: str = engine.Mode.HYBRID,
) -> list[MemoryNode]:
    """The org's nodes that match `query`, best match first, each with `rank`, `match` and
    `snippet` (see `memory_graph.search.find`).

    Any text is a valid query: one with nothing searchable in it (empty, punctuation, stop words)
    finds nothing by words. The last word matches as a prefix, for search as you type.
    """
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise InvalidInput(f"Ensure this value is between 1 and {SEARCH_LIMIT_MAX}.", field="limit")
    if mode not in MODES:
        raise InvalidInput(f"Must be one of {', '.join(MODES)}.", field="mode")
    return engine.find(org=org, text=query, mode=engine.Mode(mode), kind=kind, limit=limit)


def related(*, org: Organization, node: MemoryNode, limit: int = RELATED_LIMIT_DEFAULT) -> list[MemoryNode]:
    """The org's nodes most like `node`, best first, without it; each with a `score` (cosine)."""
    if not 1 <= limit <= RELATED_LIMIT_MAX:
        raise InvalidInput(f"Ensure this value is between 1 and {RELATED_LIMIT_MAX}.", field="limit")
    return engine.related(org=org, node=node, limit=limit)


def template_steps(node: MemoryNode) -> list[tuple[str, str]]:
    """(text, owner) of an archived plan's steps, in the plan's final order: what a plan started
    from it begins with. Read defensively: a malformed step is left out."""
    try:
        data = json.loads(node.content)
    except (ValueError, RecursionError):
        return []
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        return []
    return [
        (s["text"], s["owner"] if isinstance(s.get("owner"), str) else "")
        for s in steps
        if isinstance(s, dict) and isinstance(s.get("text"), str) and s["text"].strip()
    ]


def get_node(*, org: Organization, node_id: uuid.UUID | str) -> MemoryNode:
    """The node, or NotFound: also for a malformed id or another org's node."""
    try:
        node_uuid = node_id if isinstance(node_id, uuid.UUID) else uuid.UUID(str(node_id))
    except ValueError:
        raise NotFound("Memory node not found.") from None
    node = scope(MemoryNode.objects, org).defer("search_vector").filter(id=node_uuid).first()
    if node is None:
        raise NotFound("Memory node not found.")
    return node


def edges_out(*, org: Organization, node: MemoryNode) -> QuerySet[MemoryEdge]:
    return scope(MemoryEdge.objects, org).filter(source=node).order_by("created_at", "id")


def edges_in(*, org: Organization, node: MemoryNode) -> QuerySet[MemoryEdge]:
    return scope(MemoryEdge.objects, org).filter(target=node).order_by("created_at", "id")


def recent_nodes(*, org: Organization, kind: str | None = None, limit: int = 20) -> list[MemoryNode]:
    """The org's newest nodes (of one kind, if given): what /memory shows before anything is typed."""
    nodes = scope(MemoryNode.objects, org).defer("search_vector")
    if kind:
        nodes = nodes.filter(kind=kind)
    return list(nodes.order_by("-created_at", "-id")[:limit])


def node_kinds(*, org: Organization) -> set[str]:
    """The kinds of node the org has."""
    return set(scope(MemoryNode.objects, org).order_by().values_list("kind", flat=True).distinct())


def archived_plan_id(*, org: Organization, node: MemoryNode) -> uuid.UUID | None:
    """The id of the plan this node is the archive of, while that plan exists in the org. Read
    through the plan's own link to its node (`LivePlan.memory_node`, reverse name `plan`), so this
    app needs nothing of the plans app."""
    return (
        scope(MemoryNode.objects, org)
        .filter(pk=node.pk, plan__org=org)
        .values_list("plan__id", flat=True)
        .first()
    )
