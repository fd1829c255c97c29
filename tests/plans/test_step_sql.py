"""The one-statement step add of PostgreSQL (plans.step_sql) writes what the ORM path writes.

On PostgreSQL `services.add_step` takes the one-statement path, so the rest of the suite tests its
behaviour there (and the ORM path on SQLite); these tests run both paths on PostgreSQL and compare
every row they write, column by column.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone
from django_eventstream.models import Event, EventCounter

from aep.errors import Conflict, NotFound
from aep.models import AuditLog
from plans import events, services, step_sql
from plans.models import PARTICIPANTS_MAX, LivePlan, PlanStep

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL only (SQLite always takes the ORM path)"
    ),
]

WRITE_PATHS = {"orm": services._add_step_with_orm, "one statement": services._add_step_in_one_statement}


@pytest.fixture
def frozen_now(monkeypatch) -> datetime.datetime:  # type: ignore[no-untyped-def]
    """Every timestamp either path writes (its own, auto_now and auto_now_add) is this one."""
    now = datetime.datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def rows_of(plan: LivePlan) -> dict[str, Any]:
    """Everything written for the plan, with its ids replaced by their position (the paths draw
    different random ids)."""
    plan.refresh_from_db()
    steps = list(PlanStep.objects.filter(plan=plan).order_by("seq"))
    names = {str(plan.id): "<plan>", **{str(s.id): f"<step {s.seq}>" for s in steps}}

    def named(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: named(v) for k, v in value.items()}
        return names.get(str(value), value)

    channel = events.plan_channel(plan.id)
    return {
        "plan": [plan.step_count, plan.participants, plan.updated_at, plan.archived],
        "steps": [[s.seq, s.text, s.owner, s.created_by_id, s.ts] for s in steps],
        "audit": [
            [
                a.org_id,
                a.user_id,
                a.action,
                a.resource_type,
                named(a.resource_id),
                named(a.details),
                a.created_at,
            ]
            for a in AuditLog.objects.filter(resource_id=str(plan.id)).order_by("id")
        ],
        "events": [
            [e.type, e.eid, named(json.loads(e.data)), e.created]
            for e in Event.objects.filter(channel=channel).order_by("eid")
        ],
        "counter": list(EventCounter.objects.filter(name=channel).values_list("value", "updated")),
    }


def add_steps(write: Any, org: Any, alice: Any, participants: list[str]) -> LivePlan:
    plan = services.start_plan(org=org, user=alice, title="Same rows", participants=participants)
    write(org, alice, plan.id, "by a participant", "alice")
    write(org, alice, plan.id, "by a newcomer", "newcomer")
    write(org, None, plan.id, "anonymous, a newcomer's name again", "newcomer")
    write(org, alice, plan.id, 'quotes " and \\ and unicode ✓', "zoë")
    return plan


def test_both_paths_write_the_same_rows(org_a, alice, frozen_now):
    written = {
        name: rows_of(add_steps(write, org_a, alice, ["alice"])) for name, write in WRITE_PATHS.items()
    }
    assert written["one statement"] == written["orm"]
    rows = written["orm"]
    assert rows["plan"] == [4, ["alice", "newcomer", "zoë"], frozen_now, False]
    assert [a[5] for a in rows["audit"] if a[2] == AuditLog.Action.PLAN_STEP] == [
        {"step_id": f"<step {n}>", "seq": n} for n in (1, 2, 3, 4)
    ]
    assert [e[1] for e in rows["events"]] == [1, 2, 3, 4]
    assert rows["counter"] == [(4, frozen_now)]


def test_both_paths_stop_adding_participants_at_the_limit(org_a, alice, frozen_now):
    full = [f"p{i}" for i in range(PARTICIPANTS_MAX)]
    written = {name: rows_of(add_steps(write, org_a, alice, full)) for name, write in WRITE_PATHS.items()}
    assert written["one statement"] == written["orm"]
    assert written["orm"]["plan"][1] == full


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_an_archived_or_foreign_plan_gets_nothing_written(path, org_a, org_b, alice, bob, db_state):
    write = WRITE_PATHS[path]
    archived = services.start_plan(org=org_a, user=alice, title="Done")
    services.archive_plan(org=org_a, user=alice, plan_id=archived.id)
    foreign = services.start_plan(org=org_b, user=bob, title="Theirs")
    before = db_state()
    with pytest.raises(Conflict):
        write(org_a, alice, archived.id, "late", "alice")
    with pytest.raises(NotFound):
        write(org_a, alice, foreign.id, "not mine", "alice")
    assert db_state() == before


def test_the_statement_names_every_table_and_column_from_the_models():
    sql = step_sql._statement()
    for model, fields in (
        (LivePlan, ["step_count", "participants", "updated_at", "archived"]),
        (PlanStep, ["plan", "seq", "text", "owner", "created_by", "ts"]),
        (AuditLog, ["org", "user", "action", "resource_type", "resource_id", "details", "created_at"]),
        (EventCounter, ["name", "value", "updated"]),
        (Event, ["channel", "type", "data", "eid", "created"]),
    ):
        assert connection.ops.quote_name(model._meta.db_table) in sql
        for field in fields:
            assert connection.ops.quote_name(model._meta.get_field(field).column) in sql


def test_a_step_is_one_statement_after_the_token(client_a, plan_a, django_assert_num_queries):
    with django_assert_num_queries(2) as captured:
        response = client_a.post(
            "/api/plan/step", {"plan_id": str(plan_a.id), "text": "one trip"}, format="json"
        )
    assert response.status_code == 200
    assert PlanStep.objects.get(id=response.json()["step"]["id"]).seq == plan_a.step_count + 1
    assert captured.captured_queries[1]["sql"].lstrip().startswith("WITH p AS (")


def test_an_anonymous_user_is_written_as_null(org_a, plan_a, frozen_now):
    step = services.add_step(org=org_a, user=AnonymousUser(), plan_id=plan_a.id, text="nobody")
    row = PlanStep.objects.get(id=step.id)
    assert (row.created_by_id, row.owner, row.ts) == (None, "anonymous", frozen_now)
    assert row.seq == plan_a.step_count + 1
    audit = AuditLog.objects.filter(action=AuditLog.Action.PLAN_STEP, resource_id=str(plan_a.id)).latest("id")
    assert (audit.user_id, audit.details) == (None, {"step_id": str(step.id), "seq": row.seq})
