"""The business rules of live plans: start, add, edit, tick off, move, delete and restore steps,
edit a plan, archive.

Every write of a plan goes through one of these functions, from the API, the pages, the admin and the
management commands alike. Each runs in one transaction with its audit row; metrics and live events
follow only once that transaction has committed.
"""

from __future__ import annotations

import datetime
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from aep import audit
from aep.db import db_param, instance_from_row, model_columns, sql_names
from aep.errors import Conflict, InvalidInput, NotFound
from aep.metrics import plan_events_total, plan_step_latency
from aep.models import AuditLog, Organization
from aep.serialization import iso
from aep.tenancy import scope
from live import publish
from memory_graph import selectors as memory_selectors
from memory_graph import services as memory_services
from memory_graph.models import MemoryEdge, MemoryNode
from plans import events, ordering, selectors
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
from plans.selectors import STEP_ORDER
from plans.serializers import plan_json, step_json

ARCHIVED_MESSAGE = "Plan is archived; it can no longer be changed."
STEP_NOT_FOUND = "Step not found in this plan."


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""The default of optional fields of an update: "leave as it is" (None may be a value)."""


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


def _record_change(
    org: Organization,
    user: Any,
    action: str,
    plan_id: uuid.UUID,
    details: dict[str, Any],
    payload: dict[str, Any],
    announce: bool = True,
) -> None:
    """What every change of a plan writes, in its transaction: its audit row, its stored event
    (broadcast once the transaction commits), its count in `plan_events_total` (after commit) and,
    unless `announce` is False, its news on the org's stream (`_tell_org`)."""
    audit.record(
        org=org, user=user, action=action, resource_type="plan", resource_id=plan_id, details=details
    )
    events.record(plan_id, payload)
    _count_after_commit(action, org)
    if announce:
        _tell_org(plan_id)


def announce_plans_changed(plan_ids: list[uuid.UUID]) -> None:
    """`plan_changed` on their org's stream for each of these plans, as they are now, in one
    transaction (ORG_ANNOUNCER calls it once the changes have committed, at most once a second per
    plan). An archived plan has said `plan_archived` instead."""
    with transaction.atomic():
        plans = list(
            LivePlan.objects.select_for_update().filter(id__in=plan_ids, archived=False).order_by("id")
        )
        progress = selectors.progress_of_many([plan.id for plan in plans])
        for plan in plans:
            events.record_for_org(plan.org_id, events.plan_changed_payload(plan, progress[plan.id]))


ORG_ANNOUNCER = publish.Coalescer(announce_plans_changed, lambda: settings.ORG_CHANGE_INTERVAL_SECONDS)


def _tell_org(plan_id: uuid.UUID) -> None:
    """The org's stream hears of a plan's change once it has committed: from the announcer's
    thread, so the write waits for none of it, and at most once per interval per plan with
    everything changed meanwhile. (A process that dies in that moment loses the announcement,
    not the change: the list shows it on its next change or load.)"""
    transaction.on_commit(lambda: ORG_ANNOUNCER.request(plan_id), robust=True)


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
    template: uuid.UUID | str | None = None,
) -> LivePlan:
    """Start a plan; given `template` (a `plan_session` node of the org, else InvalidInput naming
    `template`), with that archived plan's steps (text and owner, not done), in its order."""
    title = _clean_text(title, field="title", max_length=TITLE_MAX, required=True)
    description = _clean_text(description, field="description", max_length=DESCRIPTION_MAX, required=False)
    names = _clean_participants(participants)
    source = None if template is None else memory_services.template_node(org=org, node_id=template)
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
            details={"title": title, **({"template": str(source.id)} if source else {})},
        )
        progress = {"done": 0, "total": 0}
        if source is not None:
            _copy_template_steps(org, user, plan, source)
            plan.refresh_from_db()  # its steps' owners joined the participants
            progress = selectors.progress_of(plan.id)
        events.record_for_org(org.id, events.plan_started_payload(plan, progress))
        _count_after_commit(AuditLog.Action.PLAN_START, org)
    return plan


def _copy_template_steps(org: Organization, user: Any, plan: LivePlan, template: MemoryNode) -> None:
    """The template's steps appended as any step is (same limits and rules), and the record that
    gives the plan's node a `derived_from` edge to the template when it is archived."""
    memory_services.record_template_use(org=org, plan_id=plan.id, template=template)
    author = _author(user)
    for text, owner in memory_selectors.template_steps(template):
        text = _clean_text(text, field="text", max_length=STEP_TEXT_MAX, required=True)
        owner = _clean_text(owner, field="owner", max_length=OWNER_MAX, required=False) or display_name(user)
        _append_step(org, author, plan.id, text, owner)


def add_step(
    *,
    org: Organization,
    user: Any,
    plan_id: uuid.UUID | str,
    text: str,
    owner: str | None = None,
) -> PlanStep:
    """Append a step (last in the plan's order). Refused with Conflict (409) when the plan is
    archived or already holds `MAX_STEPS_PER_PLAN` steps."""
    started = time.perf_counter()
    text = _clean_text(text, field="text", max_length=STEP_TEXT_MAX, required=True)
    owner = _clean_text(owner, field="owner", max_length=OWNER_MAX, required=False) or display_name(user)
    plan_uuid = _plan_uuid(plan_id)
    author = _author(user)
    step = _append_step(org, author, plan_uuid, text, owner)
    transaction.on_commit(
        lambda: plan_step_latency.labels(org_id=org.id).observe(time.perf_counter() - started), robust=True
    )
    return step


def _author(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _plan_uuid(plan_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return plan_id if isinstance(plan_id, uuid.UUID) else uuid.UUID(str(plan_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("Plan not found.") from None


def _step_uuid(step_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return step_id if isinstance(step_id, uuid.UUID) else uuid.UUID(str(step_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(STEP_NOT_FOUND) from None


def _append_step(org: Organization, author: Any, plan_uuid: uuid.UUID, text: str, owner: str) -> PlanStep:
    """The step's writes, in one transaction: its number under the plan's row lock, the step, the
    owner joining the participants, the audit row and the stored event."""
    with transaction.atomic():
        now = timezone.now()
        locked = _lock_plan(org, plan_uuid, now, claim_seq=True)
        last_position, live_steps = _step_bounds(plan_uuid)
        _check_room(live_steps)
        step = PlanStep.objects.create(
            plan_id=plan_uuid,
            seq=locked.seq,
            text=text,
            owner=owner,
            created_by=author,
            ts=now,
            updated_at=now,
            position=ordering.key_between(last_position, None),
        )
        participants = locked.participants
        if owner not in participants and len(participants) < PARTICIPANTS_MAX:
            participants = [*participants, owner]
            scope(LivePlan.objects, org).filter(id=plan_uuid).update(participants=participants)
        details = {"step_id": str(step.id), "seq": locked.seq}
        payload = events.step_payload(step, participants)
        _record_change(org, author, AuditLog.Action.PLAN_STEP, plan_uuid, details, payload)
    return step


def _check_room(live_steps: int) -> None:
    if live_steps >= settings.MAX_STEPS_PER_PLAN:
        raise Conflict(f"A plan holds at most {settings.MAX_STEPS_PER_PLAN} steps; this one is full.")


@dataclass(frozen=True)
class _LockedPlan:
    seq: int
    participants: list[str]


def _lock_plan(
    org: Organization, plan_uuid: uuid.UUID, now: datetime.datetime, *, claim_seq: bool
) -> _LockedPlan:
    """Lock the plan's row for this transaction (and take its next step number), in one statement.

    `UPDATE ... RETURNING` does what `select_for_update()` followed by `save()` would, in one round
    trip: the row lock serialises every writer of the plan and its steps (no lost or repeated
    `seq`, order keys computed from committed neighbours) until commit, and the event ids handed out
    under it follow commit order. The WHERE clause is the org scope of `aep.tenancy.scope`: another
    org's plan is not found. Raises NotFound, or Conflict for an archived plan (the transaction then
    rolls the update back).
    """
    meta = LivePlan._meta
    table = connection.ops.quote_name(meta.db_table)
    increment = "step_count = step_count + 1, " if claim_seq else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {increment}updated_at = %s "  # noqa: S608
            "WHERE id = %s AND org_id = %s RETURNING step_count, archived, participants",
            [db_param(LivePlan, "updated_at", now), db_param(LivePlan, "id", plan_uuid), org.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Plan not found.")
    seq, archived, participants = row
    if archived:
        raise Conflict(ARCHIVED_MESSAGE)
    participants = meta.get_field("participants").from_db_value(participants, None, connection)
    return _LockedPlan(int(seq), list(participants or []))


def _step_bounds(plan_uuid: uuid.UUID) -> tuple[str | None, int]:
    """The plan's last order key and its number of steps (deleted ones aside), read once its lock
    is held. Not in the locking statement itself: on PostgreSQL its subqueries would read the
    snapshot taken before it waited for the lock, missing the step the previous writer added.
    Written as SQL because every step add pays for it: building the same `aggregate()` took half a
    millisecond of CPU per add (a py-spy profile, docs/PERFORMANCE.md), the query itself 0.05."""
    with connection.cursor() as cursor:
        cursor.execute(_step_bounds_sql(), [db_param(PlanStep, "plan", plan_uuid)])
        last, live = cursor.fetchone()
    return last, int(live or 0)


@functools.cache
def _step_bounds_sql() -> str:
    table, position, deleted_at, plan = sql_names(PlanStep, "position", "deleted_at", "plan")
    return (
        f"SELECT MAX({position}), SUM(CASE WHEN {deleted_at} IS NULL THEN 1 ELSE 0 END) "  # noqa: S608
        f"FROM {table} WHERE {plan} = %s"
    )


def _step_in_plan(plan_uuid: uuid.UUID, step_id: uuid.UUID | str, *, deleted: bool = False) -> PlanStep:
    """A step of this plan (a deleted one too when `deleted`), or NotFound. The caller holds the
    plan's lock, which every writer of its steps takes first."""
    params = [db_param(PlanStep, "plan", plan_uuid), db_param(PlanStep, "id", _step_uuid(step_id))]
    with connection.cursor() as cursor:
        cursor.execute(_step_sql(deleted), params)
        rows = cursor.fetchall()
    if not rows:
        raise NotFound(STEP_NOT_FOUND)
    return instance_from_row(PlanStep, rows[0])


@functools.cache
def _step_sql(deleted: bool) -> str:
    """`_step_in_plan`'s query (parameters: plan id, step id). Written as SQL: the same ORM query
    took 0.8 ms of CPU to build on every edit, tick and delete, more than a whole step add's reads
    (py-spy, bench/step_in_process.py)."""
    table, plan, pk, deleted_at = sql_names(PlanStep, "plan", "id", "deleted_at")
    live = "" if deleted else f" AND s.{deleted_at} IS NULL"
    return (
        f"SELECT {model_columns(PlanStep, 's')} FROM {table} s "  # noqa: S608 (names from the model)
        f"WHERE s.{plan} = %s AND s.{pk} = %s{live}"
    )


def _check_version(version: Any, current: int, conflict: Callable[[], Conflict]) -> None:
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("Must be a positive integer.", field="version")
    if version != current:
        raise conflict()


def _stale_step(step: PlanStep) -> Conflict:
    return Conflict(
        "Someone else changed this step since you loaded it: nothing was saved. Here is the current step.",
        extra={"step": step_json(step)},
    )


def update_step(
    *,
    org: Organization,
    user: Any,
    plan_id: uuid.UUID | str,
    step_id: uuid.UUID | str,
    text: Any = UNSET,
    owner: Any = UNSET,
    done: Any = UNSET,
    version: int | None = None,
) -> PlanStep:
    """Change a step's text, owner or done state; only the fields given. With `version`, a stale
    one is Conflict (409) carrying the current step and nothing is written; without it the last
    writer wins, field by field. Ticking (done) records who and when; unticking clears them."""
    changes: dict[str, Any] = {}
    if text is not UNSET:
        changes["text"] = _clean_text(text, field="text", max_length=STEP_TEXT_MAX, required=True)
    if owner is not UNSET:
        changes["owner"] = _clean_text(owner, field="owner", max_length=OWNER_MAX, required=True)
    if done is not UNSET:
        if not isinstance(done, bool):
            raise InvalidInput("Must be true or false.", field="done")
        changes["done"] = done
    plan_uuid = _plan_uuid(plan_id)
    author = _author(user)
    with transaction.atomic():
        now = timezone.now()
        _lock_plan(org, plan_uuid, now, claim_seq=False)
        step = _step_in_plan(plan_uuid, step_id)
        _check_version(version, step.version, lambda: _stale_step(step))
        changed = sorted(name for name, value in changes.items() if getattr(step, name) != value)
        if not changed:
            transaction.set_rollback(True)  # nothing changes, the plan's updated_at included
            return step
        for name in changed:
            setattr(step, name, changes[name])
        if "done" in changed:
            step.done_by = display_name(user) if step.done else None
            step.done_at = now if step.done else None
        step.version += 1
        step.updated_at = now
        step.save(update_fields=[*changed, "done_by", "done_at", "version", "updated_at"])
        details: dict[str, Any] = {"step_id": str(step.id), "fields": changed}
        if "done" in changed:
            details["done"] = step.done
        _record_change(
            org, author, AuditLog.Action.STEP_UPDATE, plan_uuid, details, events.step_updated_payload(step)
        )
    return step


def _live_steps_except(plan_uuid: uuid.UUID, step_uuid: uuid.UUID) -> QuerySet[PlanStep]:
    return PlanStep.objects.filter(plan_id=plan_uuid, deleted_at__isnull=True).exclude(id=step_uuid)


def _rebalance_if_long(plan_uuid: uuid.UUID, key: str) -> None:
    """Rewrite the plan's keys evenly, in their order, when a new key has grown long. Clients never
    see keys, so nothing is announced; the plan's lock is held."""
    if not ordering.needs_rebalance(key):
        return
    steps = list(PlanStep.objects.filter(plan_id=plan_uuid).order_by(*STEP_ORDER).only("id", "position"))
    for step, new_key in zip(steps, ordering.spread(len(steps)), strict=True):
        step.position = new_key
    PlanStep.objects.bulk_update(steps, ["position"], batch_size=500)


def move_step(
    *,
    org: Organization,
    user: Any,
    plan_id: uuid.UUID | str,
    step_id: uuid.UUID | str,
    after: uuid.UUID | str | None,
) -> tuple[PlanStep, uuid.UUID | None]:
    """Put a step right after `after` (None: first). Writes the one row, whatever the plan's size.
    Returns the step and the id it now follows. `after` that is the step itself, or not a step of
    this plan, is InvalidInput (400)."""
    plan_uuid = _plan_uuid(plan_id)
    step_uuid = _step_uuid(step_id)
    after_uuid = _after_uuid(after)
    if after_uuid == step_uuid:
        raise InvalidInput("A step cannot be moved after itself.", field="after")
    author = _author(user)
    with transaction.atomic():
        now = timezone.now()
        _lock_plan(org, plan_uuid, now, claim_seq=False)
        found = _move_ends(plan_uuid, step_uuid, after_uuid)
        if step_uuid not in found:
            raise NotFound(STEP_NOT_FOUND)
        step, upper = found[step_uuid]
        lower = None
        if after_uuid is not None:
            if after_uuid not in found:
                raise InvalidInput("No step with this id in this plan.", field="after")
            after_step, upper = found[after_uuid]
            lower = after_step.position
        if (lower is None or step.position > lower) and (upper is None or step.position < upper):
            transaction.set_rollback(True)  # already there: nothing changes
            return step, after_uuid
        # The order is the plan's, not a field of the step: its version stays, so a move never
        # makes someone's edit of the step stale.
        step.position = ordering.key_between(lower, upper)
        step.save(update_fields=["position"])
        _rebalance_if_long(plan_uuid, step.position)
        _record_change(
            org,
            author,
            AuditLog.Action.STEP_MOVE,
            plan_uuid,
            {"step_id": str(step.id), "after": str(after_uuid) if after_uuid else None},
            events.step_moved_payload(step, after_uuid),
        )
    return step, after_uuid


def _move_ends(
    plan_uuid: uuid.UUID, step_uuid: uuid.UUID, after_uuid: uuid.UUID | None
) -> dict[uuid.UUID, tuple[PlanStep, str | None]]:
    """In one query, the live step that moves and the one it goes after (when there is one), each
    with the key of the first live step after it, the moving one aside; moving to the top, the
    step with the first key of all. The caller holds the plan's lock."""
    wanted = [step_uuid] if after_uuid is None else [step_uuid, after_uuid]
    params = [
        db_param(PlanStep, "id", step_uuid),
        db_param(PlanStep, "plan", plan_uuid),
        *(db_param(PlanStep, "id", value) for value in wanted),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_move_ends_sql(after_uuid is not None), params)
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        instance = instance_from_row(PlanStep, row)
        found[instance.id] = (instance, row[-1])
    return found


@functools.cache
def _move_ends_sql(after: bool) -> str:
    """`_move_ends`' query (parameters: the moving step's id, the plan's, then the ids wanted).
    Written as SQL: the same ORM query with its Subquery annotation took a millisecond of CPU to
    build on every move (py-spy, bench/step_in_process.py)."""
    names = sql_names(PlanStep, "plan", "id", "position", "seq", "deleted_at")
    table, plan, pk, position, seq, deleted_at = names
    after_it = f" AND o.{position} > s.{position}" if after else ""
    upper = (
        f"(SELECT o.{position} FROM {table} o WHERE o.{plan} = s.{plan} "  # noqa: S608 (the model's names)
        f"AND o.{deleted_at} IS NULL AND o.{pk} <> %s{after_it} ORDER BY o.{position}, o.{seq} LIMIT 1)"
    )
    ids = "%s, %s" if after else "%s"
    return (
        f"SELECT {model_columns(PlanStep, 's')}, {upper} FROM {table} s "  # noqa: S608 (names from the model)
        f"WHERE s.{plan} = %s AND s.{pk} IN ({ids}) AND s.{deleted_at} IS NULL"
    )


def _after_uuid(after: uuid.UUID | str | None) -> uuid.UUID | None:
    if after is None or isinstance(after, uuid.UUID):
        return after
    try:
        return uuid.UUID(str(after))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput("Must be a valid UUID or null.", field="after") from None


def delete_step(
    *, org: Organization, user: Any, plan_id: uuid.UUID | str, step_id: uuid.UUID | str
) -> PlanStep:
    """Delete a step; it keeps its place for `restore_step`. Deleting it again changes nothing."""
    plan_uuid = _plan_uuid(plan_id)
    author = _author(user)
    with transaction.atomic():
        now = timezone.now()
        _lock_plan(org, plan_uuid, now, claim_seq=False)
        step = _step_in_plan(plan_uuid, step_id, deleted=True)
        if step.deleted_at is not None:
            transaction.set_rollback(True)
            return step
        step.deleted_at = now
        step.version += 1
        step.updated_at = now
        step.save(update_fields=["deleted_at", "version", "updated_at"])
        _record_change(
            org,
            author,
            AuditLog.Action.STEP_DELETE,
            plan_uuid,
            {"step_id": str(step.id), "text": step.text[:200]},
            events.step_deleted_payload(step),
        )
    return step


def _step_to_restore(plan_uuid: uuid.UUID, step_id: uuid.UUID | str) -> PlanStep:
    """A step of this plan, deleted or not, or NotFound; annotated, in the same query, with what
    restoring it needs of the other live steps: how many there are (`live_others`), the last one
    before its key (`predecessor`), the last one holding its very key (`holder`: it took the key
    meanwhile) and the first key after it (`next_position`)."""
    step_uuid = _step_uuid(step_id)
    others = _live_steps_except(plan_uuid, step_uuid)
    key = OuterRef("position")
    before, after = others.filter(position__lt=key), others.filter(position__gt=key)
    steps = PlanStep.objects.filter(plan_id=plan_uuid, id=step_uuid).annotate(
        live_others=Subquery(others.order_by().values("plan").annotate(n=Count("id")).values("n")[:1]),
        predecessor=Subquery(before.order_by("-position", "-seq").values("id")[:1]),
        holder=Subquery(others.filter(position=key).order_by("-seq").values("id")[:1]),
        next_position=Subquery(after.order_by(*STEP_ORDER).values("position")[:1]),
    )
    try:
        return steps.get()
    except PlanStep.DoesNotExist:
        raise NotFound(STEP_NOT_FOUND) from None


def restore_step(
    *, org: Organization, user: Any, plan_id: uuid.UUID | str, step_id: uuid.UUID | str
) -> tuple[PlanStep, uuid.UUID | None]:
    """Bring a deleted step back where it was (its old key; right after the step that took that
    key meanwhile, if any). Returns the step and the id it now follows. A step that is not deleted
    is returned as it is."""
    plan_uuid = _plan_uuid(plan_id)
    author = _author(user)
    with transaction.atomic():
        now = timezone.now()
        _lock_plan(org, plan_uuid, now, claim_seq=False)
        step = _step_to_restore(plan_uuid, step_id)
        after = step.predecessor
        if step.deleted_at is None:
            transaction.set_rollback(True)  # nothing changes (a query after this would be refused)
            return step, after
        _check_room(step.live_others or 0)
        if step.holder is not None:
            step.position = ordering.key_between(step.position, step.next_position)
            after = step.holder
        step.deleted_at = None
        step.version += 1
        step.updated_at = now
        step.save(update_fields=["position", "deleted_at", "version", "updated_at"])
        _rebalance_if_long(plan_uuid, step.position)
        _record_change(
            org,
            author,
            AuditLog.Action.STEP_RESTORE,
            plan_uuid,
            {"step_id": str(step.id), "after": str(after) if after else None},
            events.step_restored_payload(step, after),
        )
    return step, after


def update_plan(
    *,
    org: Organization,
    user: Any,
    plan_id: uuid.UUID | str,
    title: Any = UNSET,
    description: Any = UNSET,
    version: int | None = None,
) -> LivePlan:
    """Change a plan's title or description; only the fields given, with the same version rule as
    `update_step` (a stale one is Conflict carrying the current plan)."""
    changes: dict[str, Any] = {}
    if title is not UNSET:
        changes["title"] = _clean_text(title, field="title", max_length=TITLE_MAX, required=True)
    if description is not UNSET:
        changes["description"] = _clean_text(
            description, field="description", max_length=DESCRIPTION_MAX, required=False
        )
    with transaction.atomic():
        plan = _locked_plan(org, plan_id)
        if plan.archived:
            raise Conflict(ARCHIVED_MESSAGE)
        _check_version(version, plan.version, lambda: _stale_plan(plan))
        changed = sorted(name for name, value in changes.items() if getattr(plan, name) != value)
        if not changed:
            return plan
        for name in changed:
            setattr(plan, name, changes[name])
        plan.version += 1
        plan.save(update_fields=[*changed, "version", "updated_at"])
        _record_change(
            org,
            user,
            AuditLog.Action.PLAN_UPDATE,
            plan.id,
            {"fields": changed, **{name: changes[name][:200] for name in changed}},
            events.plan_updated_payload(plan),
        )
    return plan


def _stale_plan(plan: LivePlan) -> Conflict:
    steps = selectors.steps_json([plan.id])[str(plan.id)]
    return Conflict(
        "Someone else changed this plan since you loaded it: nothing was saved. Here is the current plan.",
        extra={"plan": plan_json(plan, steps)},
    )


def plan_session_content(plan: LivePlan, steps: Iterable[PlanStep]) -> str:
    """The memory node's content: the JSON of the plan's title, steps (in their final order, with
    their done state; deleted ones left out) and participants."""
    return json.dumps(
        {
            "title": plan.title,
            "description": plan.description,
            "steps": [
                {
                    "id": str(s.id),
                    "text": s.text,
                    "owner": s.owner,
                    "ts": iso(s.ts),
                    "done": s.done,
                    "done_by": s.done_by,
                    "done_at": iso(s.done_at),
                }
                for s in steps
            ],
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
        steps = list(selectors.live_steps(plan.id))
        archived_at = plan.archived_at or timezone.now()
        node = memory_services.create_node(
            org=org,
            kind=MemoryNode.Kind.PLAN_SESSION,
            content=plan_session_content(plan, steps),
            metadata={
                "plan_id": str(plan.id),
                "title": plan.title,
                "step_count": len(steps),
                "done_count": sum(1 for step in steps if step.done),
                "participants": plan.participants,
                "archived_at": iso(archived_at),
            },
        )
        if context is not None:
            memory_services.link(source=context, target=node, kind=MemoryEdge.Kind.USED_IN_PLANNING)
        memory_services.link_derived(org=org, plan_id=plan.id, node=node)
        plan.archived = True
        plan.archived_at = archived_at
        plan.memory_node = node
        plan.save(update_fields=["archived", "archived_at", "memory_node", "updated_at"])
        _record_change(
            org,
            user,
            AuditLog.Action.PLAN_ARCHIVE,
            plan.id,
            {
                "memory_node_id": str(node.id),
                "step_count": len(steps),
                "context_id": str(context.id) if context else None,
            },
            events.archived_payload(plan),
            announce=False,
        )
        events.record_for_org(org.id, events.plan_archived_payload(plan))
    return plan
