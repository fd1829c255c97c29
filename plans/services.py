"""The business rules of live plans: start, add a step, archive.

Every write of a plan goes through one of these functions, from the API, the pages, the admin and the
management commands alike. Each runs in one transaction with its audit row; metrics and live events
follow only once that transaction has committed.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from aep import audit
from aep.errors import Conflict, InvalidInput, NotFound
from aep.metrics import plan_events_total, plan_step_latency
from aep.models import AuditLog, Organization
from aep.serialization import iso
from aep.tenancy import scope
from memory_graph import services as memory_services
from memory_graph.models import MemoryEdge, MemoryNode
from plans import events
from plans.models import (
    DESCRIPTION_MAX,
    OWNER_MAX,
    PARTICIPANT_NAME_MAX,
    PARTICIPANTS_MAX,
    STEP_TEXT_MAX,
    TITLE_MAX,
    LivePlan,
    PlanStep,
)

ARCHIVED_MESSAGE = "Plan is archived; steps can no longer be added."


def _clean_text(value: Any, *, field: str, max_length: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput("Must be a string.", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidInput("This field is required.", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"Ensure this field has no more than {max_length} characters.", field=field)
    if "\x00" in value:
        raise InvalidInput("Null characters are not allowed.", field=field)
    return value


def _clean_participants(participants: Iterable[Any] | None) -> list[str]:
    names: list[str] = []
    for raw in participants or []:
        name = _clean_text(raw, field="participants", max_length=PARTICIPANT_NAME_MAX, required=False)
        if name and name not in names:
            names.append(name)
    if len(names) > PARTICIPANTS_MAX:
        raise InvalidInput(
            f"Ensure this field has no more than {PARTICIPANTS_MAX} names.", field="participants"
        )
    return names


def display_name(user: Any) -> str:
    """The name a user's steps are signed with by default."""
    if not getattr(user, "is_authenticated", False):
        return "anonymous"
    return (user.get_full_name() or user.get_username())[:OWNER_MAX]


def _count_after_commit(event: str, org: Organization) -> None:
    transaction.on_commit(lambda: plan_events_total.labels(event=event, org_id=org.id).inc(), robust=True)


def _locked_plan(org: Organization, plan_id: uuid.UUID | str) -> LivePlan:
    """The plan, locked for this transaction, or NotFound (also for another org's plan)."""
    try:
        return scope(LivePlan.objects, org).select_for_update().get(id=plan_id)
    except (LivePlan.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound("Plan not found.") from None


def start_plan(
    *,
    org: Organization,
    user: Any,
    title: str,
    description: str = "",
    participants: Iterable[str] | None = None,
) -> LivePlan:
    title = _clean_text(title, field="title", max_length=TITLE_MAX, required=True)
    description = _clean_text(description, field="description", max_length=DESCRIPTION_MAX, required=False)
    names = _clean_participants(participants)
    with transaction.atomic():
        plan = LivePlan.objects.create(
            org=org,
            title=title,
            description=description,
            participants=names,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit.record(
            org=org,
            user=user,
            action=AuditLog.Action.PLAN_START,
            resource_type="plan",
            resource_id=plan.id,
            details={"title": title},
        )
        _count_after_commit(AuditLog.Action.PLAN_START, org)
    return plan


def add_step(
    *,
    org: Organization,
    user: Any,
    plan_id: uuid.UUID | str,
    text: str,
    owner: str | None = None,
) -> PlanStep:
    """Append a step. Refused with Conflict (409) when the plan is archived."""
    started = time.perf_counter()
    text = _clean_text(text, field="text", max_length=STEP_TEXT_MAX, required=True)
    owner = _clean_text(owner, field="owner", max_length=OWNER_MAX, required=False) or display_name(user)
    plan_uuid = _plan_uuid(plan_id)
    author = user if getattr(user, "is_authenticated", False) else None
    step = _append_step(org, author, plan_uuid, text, owner)
    _count_after_commit(AuditLog.Action.PLAN_STEP, org)
    transaction.on_commit(
        lambda: plan_step_latency.labels(org_id=org.id).observe(time.perf_counter() - started), robust=True
    )
    return step


def _plan_uuid(plan_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return plan_id if isinstance(plan_id, uuid.UUID) else uuid.UUID(str(plan_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("Plan not found.") from None


def _append_step(org: Organization, author: Any, plan_uuid: uuid.UUID, text: str, owner: str) -> PlanStep:
    """The step's writes, in one transaction: its number under the plan's row lock, the step, the
    owner joining the participants, the audit row and the stored event."""
    with transaction.atomic():
        now = timezone.now()
        seq, participants = _claim_next_seq(org, plan_uuid, now)
        step = PlanStep.objects.create(
            plan_id=plan_uuid, seq=seq, text=text, owner=owner, created_by=author, ts=now
        )
        if owner not in participants and len(participants) < PARTICIPANTS_MAX:
            participants = [*participants, owner]
            scope(LivePlan.objects, org).filter(id=plan_uuid).update(participants=participants)
        audit.record(
            org=org,
            user=author,
            action=AuditLog.Action.PLAN_STEP,
            resource_type="plan",
            resource_id=plan_uuid,
            details={"step_id": str(step.id), "seq": seq},
        )
        events.record(plan_uuid, events.step_payload(step, participants))
    return step


def _claim_next_seq(org: Organization, plan_uuid: uuid.UUID, now: datetime.datetime) -> tuple[int, list[str]]:
    """Lock the plan's row and take its next step number, in one statement.

    `UPDATE ... RETURNING` does what `select_for_update()` followed by `save()` would, in one round
    trip: the row lock serialises concurrent writers of the plan (no lost or repeated `seq`) until
    commit, and the event ids handed out under it follow commit order. The WHERE clause is the
    org scope of `aep.tenancy.scope`: another org's plan is not found. Raises NotFound, or Conflict
    for an archived plan (the transaction then rolls the increment back).
    """
    meta = LivePlan._meta
    table = connection.ops.quote_name(meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET step_count = step_count + 1, updated_at = %s "  # noqa: S608
            "WHERE id = %s AND org_id = %s RETURNING step_count, archived, participants",
            [
                meta.get_field("updated_at").get_db_prep_value(now, connection),
                meta.pk.get_db_prep_value(plan_uuid, connection),
                org.pk,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Plan not found.")
    seq, archived, participants = row
    if archived:
        raise Conflict(ARCHIVED_MESSAGE)
    participants = meta.get_field("participants").from_db_value(participants, None, connection)
    return int(seq), list(participants or [])


def plan_session_content(plan: LivePlan, steps: Iterable[PlanStep]) -> str:
    """The memory node's content: the JSON of the plan's title, steps and participants."""
    return json.dumps(
        {
            "title": plan.title,
            "description": plan.description,
            "steps": [{"id": str(s.id), "text": s.text, "owner": s.owner, "ts": iso(s.ts)} for s in steps],
            "participants": plan.participants,
        },
        ensure_ascii=False,
    )


def archive_plan(
    *,
    org: Organization,
    user: Any,
    plan_id: uuid.UUID | str,
    context_id: uuid.UUID | str | None = None,
) -> LivePlan:
    """Archive a plan into a `plan_session` memory node. Idempotent: archiving again returns the
    plan with the same memory node and writes nothing."""
    with transaction.atomic():
        plan = _locked_plan(org, plan_id)
        if plan.archived and plan.memory_node_id is not None:
            return plan
        context = None
        if context_id is not None:
            context = scope(MemoryNode.objects, org).filter(id=context_id).first()
            if context is None:
                raise InvalidInput("No memory node with this id in this org.", field="context_id")
        steps = list(plan.steps.order_by("seq"))
        archived_at = plan.archived_at or timezone.now()
        node = memory_services.create_node(
            org=org,
            kind=MemoryNode.Kind.PLAN_SESSION,
            content=plan_session_content(plan, steps),
            metadata={
                "plan_id": str(plan.id),
                "title": plan.title,
                "step_count": len(steps),
                "participants": plan.participants,
                "archived_at": iso(archived_at),
            },
        )
        if context is not None:
            memory_services.link(source=context, target=node, kind=MemoryEdge.Kind.USED_IN_PLANNING)
        plan.archived = True
        plan.archived_at = archived_at
        plan.memory_node = node
        plan.save(update_fields=["archived", "archived_at", "memory_node", "updated_at"])
        audit.record(
            org=org,
            user=user,
            action=AuditLog.Action.PLAN_ARCHIVE,
            resource_type="plan",
            resource_id=plan.id,
            details={
                "memory_node_id": str(node.id),
                "step_count": len(steps),
                "context_id": str(context.id) if context else None,
            },
        )
        events.record(plan.id, events.archived_payload(plan))
        _count_after_commit(AuditLog.Action.PLAN_ARCHIVE, org)
    return plan
