"""A step add on PostgreSQL in one SQL statement.

`services.add_step` writes five rows: the plan's next `seq` (under its row lock), the step, its audit
row, the channel's event counter and the stored event. Through the ORM that is eight round trips to
the database (BEGIN, six statements, COMMIT), and each one is a wake-up of the request's thread and of
a PostgreSQL backend: on a busy 2-core machine those wake-ups, not the SQL, were most of a step add's
time (docs/PERFORMANCE.md). PostgreSQL runs the same writes as data-modifying CTEs of one statement,
which is atomic on its own: one round trip, no BEGIN and no COMMIT.

What it writes is what the ORM path of `services.add_step` writes, column for column (tested side by
side, tests/plans/test_step_sql.py). The order of the locks is the same too: the plan's row first (the
`UPDATE` that every other CTE reads from), then the event counter, so event ids follow commit order.
SQLite has no data-modifying CTEs; it keeps the ORM path.
"""

from __future__ import annotations

import datetime
import functools
import json
import uuid
from typing import Any

from django.db import connection
from django_eventstream.models import Event as EventRow
from django_eventstream.models import EventCounter

from aep.models import AuditLog
from plans.models import PARTICIPANTS_MAX, LivePlan, PlanStep


def supported() -> bool:
    return connection.vendor == "postgresql"


@functools.cache
def _statement() -> str:
    """The statement, with table and column names from the models. Named parameters: now, plan,
    org, owner_list (a JSON array of the owner), step, text, owner, user, action, resource_id,
    step_text, channel, event_type, data."""
    q = connection.ops.quote_name

    def table(model: Any) -> str:
        return q(model._meta.db_table)

    def col(model: Any, name: str) -> str:
        return q(model._meta.get_field(name).column)

    def cols(model: Any, *names: str) -> str:
        return ", ".join(col(model, name) for name in names)

    plan_count, participants = col(LivePlan, "step_count"), col(LivePlan, "participants")
    user_type = AuditLog._meta.get_field("user").db_type(connection)  # a NULL needs its type here
    counter_value = col(EventCounter, "value")
    return f"""
WITH p AS (
  UPDATE {table(LivePlan)} SET
    {plan_count} = {plan_count} + 1,
    {col(LivePlan, "updated_at")} = %(now)s,
    {participants} = CASE
      WHEN jsonb_typeof({participants}) <> 'array' OR {participants} @> %(owner_list)s::jsonb
        OR jsonb_array_length({participants}) >= {PARTICIPANTS_MAX:d} THEN {participants}
      ELSE {participants} || %(owner_list)s::jsonb END
  WHERE {col(LivePlan, "id")} = %(plan)s AND {col(LivePlan, "org")} = %(org)s
    AND NOT {col(LivePlan, "archived")}
  RETURNING {col(LivePlan, "id")} AS plan_id, {plan_count} AS seq
), s AS (
  INSERT INTO {table(PlanStep)} ({cols(PlanStep, "id", "plan", "seq", "text", "owner", "created_by", "ts")})
  SELECT %(step)s::uuid, p.plan_id, p.seq, %(text)s::text, %(owner)s::text, %(user)s::{user_type}, %(now)s
  FROM p
), a AS (
  INSERT INTO {table(AuditLog)} ({
        cols(AuditLog, "org", "user", "action", "resource_type", "resource_id", "details", "created_at")
    })
  SELECT %(org)s, %(user)s::{user_type}, %(action)s::text, 'plan', %(resource_id)s::text,
    jsonb_build_object('step_id', %(step_text)s::text, 'seq', p.seq), %(now)s
  FROM p
), c AS (
  INSERT INTO {table(EventCounter)} ({cols(EventCounter, "name", "value", "updated")})
  SELECT %(channel)s::text, 1, %(now)s FROM p
  ON CONFLICT ({col(EventCounter, "name")}) DO UPDATE
    SET {counter_value} = {table(EventCounter)}.{counter_value} + 1, {col(EventCounter, "updated")} = %(now)s
  RETURNING {counter_value} AS eid
), e AS (
  INSERT INTO {table(EventRow)} ({cols(EventRow, "channel", "type", "data", "eid", "created")})
  SELECT %(channel)s::text, %(event_type)s::text, %(data)s::text, c.eid, %(now)s FROM c
  RETURNING {col(EventRow, "eid")} AS eid
)
SELECT p.seq, e.eid FROM p CROSS JOIN e
"""  # noqa: S608  (names from the models' metadata; values are parameters)


def write_step(
    *,
    org_id: str,
    plan_id: uuid.UUID,
    step_id: uuid.UUID,
    text: str,
    owner: str,
    user_id: int | None,
    now: datetime.datetime,
    channel: str,
    event_type: str,
    event_data: str,
) -> tuple[int, int] | None:
    """Write a step with its audit row and stored event; (seq, event id), or None when the org has
    no such plan or the plan is archived (nothing is written then)."""
    dt = LivePlan._meta.get_field("updated_at")
    params = {
        "now": dt.get_db_prep_value(now, connection),
        "plan": plan_id,
        "org": org_id,
        "owner_list": json.dumps([owner]),
        "step": step_id,
        "text": text,
        "owner": owner,
        "user": user_id,
        "action": AuditLog.Action.PLAN_STEP.value,
        "resource_id": str(plan_id),
        "step_text": str(step_id),
        "channel": channel,
        "event_type": event_type,
        "data": event_data,
    }
    with connection.cursor() as cursor:
        cursor.execute(_statement(), params)
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))
