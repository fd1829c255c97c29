"""The plain-cursor row helpers (aep.db): what they write and read is what the ORM would."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from aep import audit
from aep.db import insert_row, instance_from_row, model_columns
from aep.models import AuditLog
from plans.models import PlanStep

pytestmark = pytest.mark.django_db


def test_insert_row_writes_what_create_would_with_defaults_and_creation_time(org_a: Any, alice: Any) -> None:
    before = timezone.now()
    audit.record(
        org=org_a,
        user=alice,
        action=AuditLog.Action.PLAN_START,
        resource_type="plan",
        resource_id=42,
        details={"title": "Ünïcode ✓", "nested": [1, {"a": None}]},
    )
    row = AuditLog.objects.get(resource_id="42")
    assert (row.org_id, row.user_id, row.action) == (org_a.id, alice.id, AuditLog.Action.PLAN_START)
    assert row.details == {"title": "Ünïcode ✓", "nested": [1, {"a": None}]}
    assert before - datetime.timedelta(seconds=1) <= row.created_at <= timezone.now()
    insert_row(AuditLog, org=None, user=None, action="x", resource_type="plan", resource_id="7", details={})
    assert AuditLog.objects.get(resource_id="7").details == {}  # each row its own id
    assert AuditLog.objects.count() >= 2


def test_instance_from_row_equals_the_orm_instance_field_by_field(plan_a: Any) -> None:
    step = plan_a.steps.order_by("seq").first()
    PlanStep.objects.filter(id=step.id).update(done=True, done_at=timezone.now(), deleted_at=timezone.now())
    table = connection.ops.quote_name(PlanStep._meta.db_table)
    step_id = PlanStep._meta.pk.get_db_prep_value(step.id, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {model_columns(PlanStep, 's')} FROM {table} s WHERE s.id = %s", [step_id])  # noqa: S608
        (row,) = cursor.fetchall()
    read = instance_from_row(PlanStep, row)
    orm = PlanStep.objects.get(id=step.id)
    for field in PlanStep._meta.concrete_fields:
        mine, theirs = getattr(read, field.attname), getattr(orm, field.attname)
        assert (mine, type(mine)) == (theirs, type(theirs)), field.name
    read.text = "saved from a row"
    read.save(update_fields=["text"])  # an instance like any other: it saves
    assert PlanStep.objects.get(id=step.id).text == "saved from a row"


def test_a_plan_read_by_its_key_is_the_orm_plan_and_only_in_its_org(
    plan_a: Any, org_a: Any, org_b: Any
) -> None:
    from aep.errors import NotFound
    from plans import selectors
    from plans.models import LivePlan

    LivePlan.objects.filter(id=plan_a.id).update(participants=["Ünïcode ✓", "Bob"], archived=True)
    read = selectors.get_plan(org=org_a, plan_id=str(plan_a.id))
    orm = LivePlan.objects.get(id=plan_a.id)
    for field in LivePlan._meta.concrete_fields:
        mine, theirs = getattr(read, field.attname), getattr(orm, field.attname)
        assert (mine, type(mine)) == (theirs, type(theirs)), field.name
    with pytest.raises(NotFound):
        selectors.get_plan(org=org_b, plan_id=plan_a.id)  # another org's plan is not found
