"""Reads of plans, always scoped to one org."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

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


STEP_FIELDS = ("id", "plan_id", "seq", "text", "owner", "ts")


def plan_steps(plan: LivePlan) -> QuerySet[Any]:
    """The plan's steps in order, as light rows with the attributes of a step (`id`, `seq`, `text`,
    `owner`, `ts`), not model instances: a plan may hold thousands of steps."""
    return plan.steps.order_by("seq").values_list(*STEP_FIELDS, named=True)


def list_plans(
    *, org: Organization, archived: bool | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[LivePlan, list[Any]]], int]:
    """A page of the org's plans, most recently updated first, each with its steps (as in
    `plan_steps`); and the org's total. Three queries whatever the page holds."""
    plans = scope(LivePlan.objects, org)
    if archived is not None:
        plans = plans.filter(archived=archived)
    total = plans.count()
    page = list(plans.order_by("-updated_at", "-id")[offset : offset + limit])
    steps: dict[uuid.UUID, list[Any]] = {plan.id: [] for plan in page}
    if page:
        rows = PlanStep.objects.filter(plan_id__in=list(steps)).order_by("plan_id", "seq")
        for row in rows.values_list(*STEP_FIELDS, named=True):
            steps[row.plan_id].append(row)
    return [(plan, steps[plan.id]) for plan in page], total
