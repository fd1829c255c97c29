"""The memory graph: nodes (archived plans and other knowledge) and typed edges between them."""

from __future__ import annotations

import uuid

from django.contrib.postgres.search import SearchVectorField
from django.db import models

from aep.models import Organization
from memory_graph.documents import node_title


class MemoryNode(models.Model):
    """A piece of an org's memory. Written only by `memory_graph.services.create_node`.

    `search_vector` is the PostgreSQL full-text index of the node (see `memory_graph.search`): filled by
    `create_node`, searched through the GIN index `memnode_search_gin` that migration 0002 creates on
    PostgreSQL only. On SQLite the column stays empty and the FTS5 table `memory_graph_fts` does the job.
    Nodes are immutable: there is no update path that would leave the index stale.
    """

    class Kind(models.TextChoices):
        PLAN_SESSION = "plan_session", "Plan session"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memory_nodes")
    kind = models.CharField(max_length=64, db_index=True)
    content = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    search_vector = SearchVectorField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "kind", "-created_at"], name="memnode_org_kind_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    @property
    def title(self) -> str:
        """What lists call the node: its title, else the start of its text."""
        return node_title(content=self.content, metadata=self.metadata)


class MemoryEdge(models.Model):
    """A directed, typed edge `source -> target`; both ends belong to the edge's org."""

    class Kind(models.TextChoices):
        USED_IN_PLANNING = "used_in_planning", "Used in planning"
        DERIVED_FROM = "derived_from", "Derived from"
        RELATES_TO = "relates_to", "Relates to"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memory_edges")
    source = models.ForeignKey(MemoryNode, on_delete=models.CASCADE, related_name="edges_out")
    target = models.ForeignKey(MemoryNode, on_delete=models.CASCADE, related_name="edges_in")
    kind = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="unique_memory_edge"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -[{self.kind}]-> {self.target_id}"


class NodeEmbedding(models.Model):
    """A node's embedding (`memory_graph.embeddings`): float32 bytes, unit length, so that cosine is a
    dot product. Written after the node's transaction commits, or by `embed_memory_nodes`.

    A plain binary column rather than a vector type, so that SQLite and a PostgreSQL without pgvector
    store it alike; `org` and `kind` are copied from the node so that one org's matrix loads without a
    join. `id` only grows: with the row count it tells a process whether its cached matrix is stale.
    """

    id = models.BigAutoField(primary_key=True)
    node = models.OneToOneField(MemoryNode, on_delete=models.CASCADE, related_name="embedding")
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=64)
    model = models.CharField(max_length=100)
    vector = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["org", "id"], name="memembed_org_id")]

    def __str__(self) -> str:
        return f"embedding of {self.node_id}"


class TemplateUse(models.Model):
    """A plan started from an archived plan's node (`POST /api/plan/start` with `template`). When that
    plan is archived, its node gets a `derived_from` edge to `template`. Kept here, by plan id, so
    that the plans app needs no new column for it."""

    plan_id = models.UUIDField(unique=True)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(MemoryNode, on_delete=models.CASCADE, related_name="template_uses")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"plan {self.plan_id} from {self.template_id}"
