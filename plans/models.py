"""Live plans and their steps.

Steps are rows of their own (`PlanStep`), not a JSON list on the plan: appending is one INSERT
whatever the plan's size, and concurrent appends cannot overwrite each other. `add_step` locks the
plan row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers
anyway), takes the next `seq` from the plan's `step_count` and writes both in one transaction, so
every step gets a distinct, gap-free position and no step is lost. `seq` keeps the order steps were
added; `id` is a stable UUID clients use to de-duplicate.

The order people see is `position`, a fractional key (`plans.ordering`): moving a step writes that
one row, a key between its new neighbours, whatever the plan's size. Deleting a step only marks it
(`deleted_at`), so that it can be restored where it was. `version` counts a step's (or a plan's)
changes, for optimistic concurrency (DESIGN 10).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from aep.models import Organization

TITLE_MAX = 255
DESCRIPTION_MAX = 2000
STEP_TEXT_MAX = 1000
OWNER_MAX = 100
PARTICIPANTS_MAX = 50
PARTICIPANT_NAME_MAX = 100
POSITION_MAX = 255


class OrderKeyField(models.CharField):
    """A fractional order key. Keys sort by their bytes, so on PostgreSQL the column uses the "C"
    collation whatever the database's default (a locale's collation would sort `a` beside `A`)."""

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


class LivePlan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="plans", db_index=True)
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(blank=True, default="")
    participants = models.JSONField(default=list, blank=True)
    archived = models.BooleanField(default=False, db_index=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    memory_node = models.OneToOneField(
        "memory_graph.MemoryNode", null=True, blank=True, on_delete=models.SET_NULL, related_name="plan"
    )
    step_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["org", "archived"], name="liveplan_org_archived"),
            # The list's order, id included: a page deep into a large org is found in the index alone
            # (plans.selectors.list_plans) before any plan row is read.
            models.Index(fields=["org", "archived", "-updated_at", "-id"], name="liveplan_org_arch_upd_id"),
            models.Index(fields=["org", "-updated_at", "-id"], name="liveplan_org_upd_id"),
        ]

    def __str__(self) -> str:
        return self.title


class PlanStep(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(LivePlan, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    owner = models.CharField(max_length=OWNER_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ts = models.DateTimeField()
    position = OrderKeyField(max_length=POSITION_MAX)
    done = models.BooleanField(default=False)
    done_by = models.CharField(max_length=OWNER_MAX, null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # "plan_id", not "plan": ordering by the relation would join the plan and sort by its own
        # ordering (its updated_at) in every query of steps that does not order them itself.
        ordering = ["plan_id", "position", "seq"]
        constraints = [models.UniqueConstraint(fields=["plan", "seq"], name="unique_step_position")]
        indexes = [models.Index(fields=["plan", "position"], name="planstep_plan_position")]

    def __str__(self) -> str:
        return f"{self.seq}. {self.text[:60]}"
