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
