"""Reads of plans, always scoped to one org."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from aep.errors import NotFound
from aep.models import Organization
from aep.tenancy import scope
from plans.models import LivePlan, PlanStep


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("Plan not found.") from None


def get_plan(*, org: Organization, plan_id: uuid.UUID | str) -> LivePlan:
    """The plan of this org with this id, or NotFound (a malformed id or another org's plan too)."""
    plan = scope(LivePlan.objects, org).filter(id=_as_uuid(plan_id)).first()
    if plan is None:
        raise NotFound("Plan not found.")
    return plan


def plan_steps(plan: LivePlan) -> QuerySet[PlanStep]:
    return plan.steps.order_by("seq")


def list_plans(
    *, org: Organization, archived: bool | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[LivePlan], int]:
    """A page of the org's plans, most recently updated first, with their steps; and the total."""
    plans = scope(LivePlan.objects, org)
    if archived is not None:
        plans = plans.filter(archived=archived)
    total = plans.count()
    page = list(
        plans.order_by("-updated_at", "-id").prefetch_related(
            Prefetch("steps", queryset=PlanStep.objects.order_by("seq"))
        )[offset : offset + limit]
    )
    return page, total
