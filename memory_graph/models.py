"""The memory graph: nodes (archived plans and other knowledge) and typed edges between them."""

from __future__ import annotations

import uuid

from django.db import models

from aep.models import Organization


class MemoryNode(models.Model):
    class Kind(models.TextChoices):
        PLAN_SESSION = "plan_session", "Plan session"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memory_nodes")
    kind = models.CharField(max_length=64, db_index=True)
    content = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "kind", "-created_at"], name="memnode_org_kind_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


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
