"""Writes to the memory graph, and its search (DESIGN 1 names `search` among these; it lives with
the other reads in `selectors`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from aep.errors import InvalidInput
from aep.models import Organization
from aep.tenancy import scope
from memory_graph import embeddings
from memory_graph import search as engine
from memory_graph.models import MemoryEdge, MemoryNode, NodeEmbedding, TemplateUse
from memory_graph.selectors import search

__all__ = [
    "create_node",
    "embed_nodes",
    "link",
    "link_derived",
    "record_template_use",
    "search",
]

logger = logging.getLogger(__name__)


def create_node(
    *, org: Organization, kind: str, content: str, metadata: dict[str, Any] | None = None
) -> MemoryNode:
    """Store a node and index it for search, both or neither (callers may hold a wider transaction:
    archive_plan does). Its embedding is computed once that transaction has committed: a rolled-back
    archive leaves none behind, and the model never runs while the plan's row is locked."""
    with transaction.atomic():
        node = MemoryNode.objects.create(org=org, kind=kind, content=content, metadata=metadata or {})
        engine.index_node(node)
        node_id, using = node.id, node._state.db or "default"
        transaction.on_commit(lambda: _embed_after_commit(node_id, using), using=using)
    # The vector was written by SQL, not from this instance: mark the field as not loaded (as
    # `.defer()` would), so reading it fetches the stored value and a later save() leaves it alone.
    node.__dict__.pop("search_vector", None)
    return node


def _embed_after_commit(node_id: uuid.UUID, using: str) -> None:
    # The node is committed whatever happens here: a failure is logged, and `embed_memory_nodes`
    # fills in any node left without an embedding. Until then lexical search still finds it.
    try:
        embed_nodes(MemoryNode.objects.using(using).filter(id=node_id))
    except Exception:
        logger.exception("Embedding memory node %s failed; run manage.py embed_memory_nodes", node_id)


def embed_nodes(nodes: Iterable[MemoryNode], *, batch_size: int = 256) -> int:
    """Embed the given nodes that have no embedding yet; returns how many were written."""
    written = 0
    batch: list[MemoryNode] = []

    def flush() -> int:
        if not batch:
            return 0
        vectors = embeddings.embed(
            [embeddings.node_text(content=n.content, metadata=n.metadata) for n in batch]
        )
        rows = [
            NodeEmbedding(
                node_id=n.id,
                org_id=n.org_id,
                kind=n.kind,
                model=embeddings.MODEL_NAME,
                vector=embeddings.to_bytes(v),
            )
            for n, v in zip(batch, vectors, strict=True)
        ]
        using = batch[0]._state.db or "default"
        # ignore_conflicts: a backfill racing an archive's own embedding keeps whichever came first.
        NodeEmbedding.objects.using(using).bulk_create(rows, ignore_conflicts=True)
        count = len(rows)
        batch.clear()
        return count

    for node in nodes:
        if NodeEmbedding.objects.using(node._state.db or "default").filter(node_id=node.id).exists():
            continue
        batch.append(node)
        if len(batch) >= batch_size:
            written += flush()
    written += flush()
    return written


def link(*, source: MemoryNode, target: MemoryNode, kind: str) -> MemoryEdge:
    """Edge `source -> target`. Both nodes must belong to one org: the graph never crosses orgs."""
    if source.org_id != target.org_id:
        raise InvalidInput("Memory nodes of different orgs cannot be linked.")
    edge, _ = MemoryEdge.objects.get_or_create(
        source=source, target=target, kind=kind, defaults={"org_id": source.org_id}
    )
    return edge


def link_nodes(*, org: Organization, source: MemoryNode, target_id: uuid.UUID | str) -> MemoryEdge:
    """A `relates_to` edge made by a person (the node page): `target_id` must name another node of
    the same org (else InvalidInput naming `target`). Linking twice keeps the one edge."""
    try:
        target_uuid = uuid.UUID(str(target_id))
    except ValueError:
        raise InvalidInput("Not a memory node id.", field="target") from None
    target = scope(MemoryNode.objects, org).defer("search_vector").filter(id=target_uuid).first()
    if target is None:
        raise InvalidInput("No memory node with this id in this org.", field="target")
    if target.id == source.id:
        raise InvalidInput("A node cannot be linked to itself.", field="target")
    return link(source=source, target=target, kind=MemoryEdge.Kind.RELATES_TO)


def template_node(*, org: Organization, node_id: Any) -> MemoryNode:
    """The org's `plan_session` node that a new plan starts from, or InvalidInput naming `template`."""
    try:
        node_uuid = node_id if isinstance(node_id, uuid.UUID) else uuid.UUID(str(node_id))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput("Not a memory node id.", field="template") from None
    node = (
        scope(MemoryNode.objects, org)
        .defer("search_vector")
        .filter(id=node_uuid, kind=MemoryNode.Kind.PLAN_SESSION)
        .first()
    )
    if node is None:
        raise InvalidInput("No archived plan with this id in this org.", field="template")
    return node


def record_template_use(*, org: Organization, plan_id: uuid.UUID, template: MemoryNode) -> None:
    """Remember that plan `plan_id` started from `template` (for its `derived_from` edge on archive)."""
    try:
        with transaction.atomic():
            TemplateUse.objects.create(org=org, plan_id=plan_id, template=template)
    except IntegrityError:
        pass  # recorded already (a retried start): one template per plan


def link_derived(*, org: Organization, plan_id: uuid.UUID, node: MemoryNode) -> MemoryEdge | None:
    """On archive: the edge `node -derived_from-> template` if the plan was started from one."""
    use = scope(TemplateUse.objects, org).filter(plan_id=plan_id).select_related("template").first()
    if use is None:
        return None
    return link(source=node, target=use.template, kind=MemoryEdge.Kind.DERIVED_FROM)
