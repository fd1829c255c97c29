"""Reads of plans, always scoped to one org."""

from __future__ import annotations

import datetime
import functools
import re
import uuid
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce

from aep.db import db_param, instance_from_row, model_columns, sql_names
from aep.errors import NotFound
from aep.models import Organization
from aep.serialization import iso
from aep.tenancy import scope, scope_sql
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
    plan_uuid = _as_uuid(plan_id)
    with connection.cursor() as cursor:
        cursor.execute(_plan_sql(), [db_param(LivePlan, "id", plan_uuid), org.pk])
        rows = cursor.fetchall()
    if not rows:
        raise NotFound("Plan not found.")
    return instance_from_row(LivePlan, rows[0])


@functools.cache
def _plan_sql() -> str:
    """`get_plan`'s query (parameters: the plan's id, the org's). Written as SQL because every stream
    that opens and every plan request reads it: the ORM query was a fifth of a process' CPU during
    a storm of stream opens (py-spy, docs/PERFORMANCE.md)."""
    table, pk = sql_names(LivePlan, "id")
    return (
        f"SELECT {model_columns(LivePlan, 'p')} FROM {table} p "  # noqa: S608 (the model's names)
        f"WHERE p.{pk} = %s AND {scope_sql(LivePlan, 'p')}"
    )


def org_of_plan(*, plan_id: uuid.UUID | str, orgs: list[Organization]) -> Organization | None:
    """Which of these orgs (a user's) holds the plan, or None: a link to a plan works for every
    member of its org, whichever org they last chose."""
    try:
        plan_uuid = _as_uuid(plan_id)
    except NotFound:
        return None
    org_id = LivePlan.objects.filter(id=plan_uuid, org__in=orgs).values_list("org_id", flat=True).first()
    return next((org for org in orgs if org.id == org_id), None)  # the caller's, role and all


STEP_FIELDS = (
    "id",
    "plan_id",
    "seq",
    "text",
    "owner",
    "ts",
    "done",
    "done_by",
    "done_at",
    "version",
    "updated_at",
)
STEP_ORDER = ("position", "seq")


def live_steps(plan_id: uuid.UUID) -> QuerySet[PlanStep]:
    """A plan's steps that are not deleted, in the order people arranged them."""
    return PlanStep.objects.filter(plan_id=plan_id, deleted_at__isnull=True).order_by(*STEP_ORDER)


def annotate_progress(plans: QuerySet[LivePlan]) -> QuerySet[LivePlan]:
    """Plans with `steps_total` and `steps_done` (deleted steps aside), counted in the database:
    the list's cards show progress without loading every step."""
    # Correlated subqueries, not a join and GROUP BY: PostgreSQL counts them for the page's rows only.
    live = PlanStep.objects.filter(plan=OuterRef("pk"), deleted_at__isnull=True).order_by().values("plan")
    total = live.annotate(n=Count("id")).values("n")
    done = live.filter(done=True).annotate(n=Count("id")).values("n")
    return plans.annotate(steps_total=Coalesce(Subquery(total), 0), steps_done=Coalesce(Subquery(done), 0))


def plan_steps(plan: LivePlan) -> QuerySet[Any]:
    """The plan's steps in order, as light rows with the attributes of a step (`id`, `text`,
    `owner`, `ts`, `done`, ...), not model instances: a plan may hold thousands of steps."""
    return live_steps(plan.id).values_list(*STEP_FIELDS, named=True)


class _UtcIsoText(Func):
    """A timestamp column as UTC ISO 8601 text, written by the database (`_json_ts` finishes it).

    Why: psycopg's timestamptz loader, as Django registers it, is pure Python (about 20 µs a value),
    and a plan of 10,000 steps spent most of its GET there; text costs next to nothing to load."""

    output_field = CharField()
    template = "%(expressions)s"  # other databases: the value as it comes, finished in Python

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores an aware datetime as its UTC `str()`: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
        return self.as_sql(compiler, connection, template="replace(%(expressions)s, ' ', 'T')", **extra)


def _json_ts(value: Any) -> str | None:
    if value is None or isinstance(value, datetime.datetime):
        return iso(value)
    return (value if len(value) > 19 else value + ".000000") + "Z"


def _json_uuid(value: Any) -> str:
    value = str(value)
    if len(value) == 32:  # SQLite stores UUIDs without dashes
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


_STEP_COLUMNS = (
    Cast("plan_id", CharField()),
    Cast("id", CharField()),
    "text",
    "owner",
    _UtcIsoText("ts"),
    "done",
    "done_by",
    _UtcIsoText("done_at"),
    "version",
    _UtcIsoText("updated_at"),
)


def _step_row_json(row: tuple[Any, ...]) -> dict[str, Any]:
    _plan_id, step_id, text, owner, ts, done, done_by, done_at, version, updated_at = row[:10]
    return {
        "id": _json_uuid(step_id),
        "text": text,
        "owner": owner,
        "ts": _json_ts(ts),
        "done": bool(done),
        "done_by": done_by,
        "done_at": _json_ts(done_at),
        "version": version,
        "updated_at": _json_ts(updated_at),
    }


def steps_json(plan_ids: list[uuid.UUID]) -> dict[str, list[dict[str, Any]]]:
    """The steps of these plans in their API shape (`plans.serializers.step_json`), in order, by the
    plan's id as text: one query, and no model instance or datetime per step."""
    rows = (
        PlanStep.objects.filter(plan_id__in=plan_ids, deleted_at__isnull=True)
        .order_by("plan_id", *STEP_ORDER)
        .values_list(*_STEP_COLUMNS)
    )
    steps: dict[str, list[dict[str, Any]]] = {str(plan_id): [] for plan_id in plan_ids}
    for row in rows:
        steps[_json_uuid(row[0])].append(_step_row_json(row))
    return steps


_CURSOR = re.compile(r"([0-9A-Za-z]{1,255})\.([0-9]{1,10})")


def parse_steps_cursor(cursor: str) -> tuple[str, int] | None:
    """A `steps_next` cursor as (order key, seq), or None when it is not one."""
    match = _CURSOR.fullmatch(cursor)
    return (match.group(1), int(match.group(2))) if match else None


def steps_page(
    plan_id: uuid.UUID, *, limit: int, after: tuple[str, int] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` of the plan's steps in order, after the cursor's step; and the cursor of the
    next page (None on the last). One query through the (plan, position) index, whatever the page."""
    rows = PlanStep.objects.filter(plan_id=plan_id, deleted_at__isnull=True)
    if after is not None:
        position, seq = after
        rows = rows.filter(Q(position__gt=position) | Q(position=position, seq__gt=seq))
    page = list(rows.order_by(*STEP_ORDER).values_list(*_STEP_COLUMNS, "position", "seq")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    cursor = f"{page[-1][10]}.{page[-1][11]}" if more and page else None
    return [_step_row_json(row) for row in page], cursor


def progress_of(plan_id: uuid.UUID) -> dict[str, int]:
    """The whole plan's progress (`plans.serializers.progress_json`), for a page of its steps."""
    counts = PlanStep.objects.filter(plan_id=plan_id, deleted_at__isnull=True).aggregate(
        total=Count("id"), done=Count("id", filter=Q(done=True))
    )
    return {"done": counts["done"], "total": counts["total"]}


def progress_of_many(plan_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """`progress_of` for several plans in one query."""
    counts = {plan_id: {"done": 0, "total": 0} for plan_id in plan_ids}
    rows = (
        PlanStep.objects.filter(plan_id__in=plan_ids, deleted_at__isnull=True)
        .values("plan_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(done=True)))
        .order_by()
    )
    for row in rows:
        counts[row["plan_id"]] = {"done": row["done"], "total": row["total"]}
    return counts


def list_plans(
    *, org: Organization, archived: bool | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[LivePlan, list[dict[str, Any]]]], int]:
    """A page of the org's plans, most recently updated first, each with its steps (as in
    `steps_json`); and the org's total. Three queries whatever the page holds."""
    plans = scope(LivePlan.objects, org)
    if archived is not None:
        plans = plans.filter(archived=archived)
    total = plans.count()
    ordered = plans.order_by("-updated_at", "-id")
    # Find the page's ids first (an index-only walk past `offset` entries), then read those rows:
    # offset 9,000 no longer reads 9,000 plan rows.
    page = list(ordered.filter(id__in=ordered.values("id")[offset : offset + limit]))
    steps = steps_json([plan.id for plan in page]) if page else {}
    return [(plan, steps[str(plan.id)]) for plan in page], total
