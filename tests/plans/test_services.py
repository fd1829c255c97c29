"""The service layer directly: audit rows, events (stored in the transaction, broadcast after commit),
metrics after commit, and the business rules (DESIGN 1, 4, 5, 7)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import transaction
from django_eventstream.models import Event
from prometheus_client import REGISTRY

from aep.errors import Conflict, InvalidInput, NotFound
from aep.models import AuditLog
from aep.serialization import iso
from memory_graph.models import MemoryNode
from memory_graph.services import create_node
from plans import events, services
from plans.models import PARTICIPANTS_MAX, LivePlan, PlanStep


class Boom(Exception):
    pass


def channel_events(plan_id: Any) -> list[Event]:
    """The plan's stored events, oldest first (without django-eventstream's eid-0 placeholder)."""
    return list(Event.objects.filter(channel=f"plan-{plan_id}", eid__gt=0).order_by("eid"))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
class TestAuditRows:
    def test_start_plan_writes_exactly_one_audit_row(self, org_a, alice):
        plan = services.start_plan(org=org_a, user=alice, title="Audited", participants=["x"])
        rows = list(AuditLog.objects.all())
        assert len(rows) == 1
        row = rows[0]
        assert (row.org, row.user, row.action, row.resource_type, row.resource_id) == (
            org_a,
            alice,
            "PLAN_START",
            "plan",
            str(plan.id),
        )
        assert row.details == {"title": "Audited"}

    def test_add_step_writes_exactly_one_audit_row(self, org_a, alice, plan_a):
        before = AuditLog.objects.count()
        step = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="one more")
        assert AuditLog.objects.count() == before + 1
        row = AuditLog.objects.order_by("-id").first()
        assert (row.org, row.user, row.action, row.resource_type, row.resource_id) == (
            org_a,
            alice,
            "PLAN_STEP",
            "plan",
            str(plan_a.id),
        )
        assert row.details == {"step_id": str(step.id), "seq": 3}

    def test_archive_plan_writes_exactly_one_audit_row(self, org_a, alice, plan_a):
        before = AuditLog.objects.count()
        plan = services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        assert AuditLog.objects.count() == before + 1
        row = AuditLog.objects.order_by("-id").first()
        assert (row.org, row.user, row.action, row.resource_type, row.resource_id) == (
            org_a,
            alice,
            "PLAN_ARCHIVE",
            "plan",
            str(plan_a.id),
        )
        assert row.details == {
            "memory_node_id": str(plan.memory_node_id),
            "step_count": 2,
            "context_id": None,
        }

    def test_archive_audit_row_names_the_context(self, org_a, alice, plan_a):
        context = create_node(org=org_a, kind="note", content="earlier")
        services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id, context_id=context.id)
        row = AuditLog.objects.get(action="PLAN_ARCHIVE")
        assert row.details["context_id"] == str(context.id)

    def test_refused_writes_leave_no_audit_row(self, org_a, org_b, alice, plan_a, plan_b):
        before = AuditLog.objects.count()
        with pytest.raises(InvalidInput):
            services.start_plan(org=org_a, user=alice, title="")
        with pytest.raises(NotFound):
            services.add_step(org=org_a, user=alice, plan_id=plan_b.id, text="x")
        with pytest.raises(NotFound):
            services.archive_plan(org=org_a, user=alice, plan_id=plan_b.id)
        assert AuditLog.objects.count() == before


@pytest.mark.django_db
class TestEvents:
    def test_add_step_stores_its_event_and_broadcasts_it_only_after_commit(
        self, org_a, alice, plan_a, broadcasts, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                step = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Live", owner="dora")
                stored = channel_events(plan_a.id)[-1]
                assert broadcasts == []  # stored in the transaction, not yet sent
            assert broadcasts == []  # the test's own transaction has not committed yet either
        expected = {
            "type": "step",
            "plan_id": str(plan_a.id),
            "id": str(step.id),
            "text": "Live",
            "owner": "dora",
            "ts": iso(step.ts),
            "done": False,
            "done_by": None,
            "done_at": None,
            "version": 1,
            "updated_at": iso(step.ts),
            "participants": ["alice", "Alice Archer", "bob", "dora"],
        }
        assert json.loads(stored.data) == expected
        assert stored.type == "message"
        assert len(broadcasts) == 1
        sent = broadcasts[0]
        assert (sent.channel, sent.eid, sent.event_type, sent.data) == (
            f"plan-{plan_a.id}",
            stored.eid,
            "message",
            expected,
        )

    def test_rolled_back_step_leaves_no_step_no_event_and_no_broadcast(
        self, org_a, alice, plan_a, broadcasts, django_capture_on_commit_callbacks
    ):
        events_before = Event.objects.count()
        audit_before = AuditLog.objects.count()
        latency_before = sample("plan_step_latency_count", org_id="org-a")
        steps_before = sample("plan_events_total", event="PLAN_STEP", org_id="org-a")
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(Boom),
            transaction.atomic(),
        ):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Never happened")
            raise Boom
        assert callbacks == []
        assert broadcasts == []
        assert not PlanStep.objects.filter(text="Never happened").exists()
        assert Event.objects.count() == events_before
        assert AuditLog.objects.count() == audit_before
        plan_a.refresh_from_db()
        assert plan_a.step_count == 2
        assert sample("plan_step_latency_count", org_id="org-a") == latency_before
        assert sample("plan_events_total", event="PLAN_STEP", org_id="org-a") == steps_before

    def test_a_step_after_a_rollback_takes_the_next_position_and_event_id(
        self, org_a, alice, plan_a, broadcasts, django_capture_on_commit_callbacks
    ):
        with pytest.raises(Boom), transaction.atomic():
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="rolled back")
            raise Boom
        with django_capture_on_commit_callbacks(execute=True):
            step = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="kept")
        assert step.seq == 3
        assert [e.eid for e in channel_events(plan_a.id)] == [1, 2, 3]
        assert [b.eid for b in broadcasts] == [3]

    def test_archive_emits_the_archived_event(
        self, org_a, alice, plan_a, broadcasts, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            plan = services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
            assert broadcasts == []
        expected = {"type": "archived", "plan_id": str(plan_a.id), "memory_node_id": str(plan.memory_node_id)}
        assert [b.data for b in broadcasts] == [expected]
        stored = channel_events(plan_a.id)
        assert json.loads(stored[-1].data) == expected
        assert [e.eid for e in stored] == [1, 2, 3]

    def test_a_second_archive_emits_nothing_and_creates_nothing(
        self, org_a, alice, plan_a, broadcasts, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            first = services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        counts = (MemoryNode.objects.count(), Event.objects.count(), AuditLog.objects.count())
        archive_count = sample("plan_events_total", event="PLAN_ARCHIVE", org_id="org-a")
        broadcasts.clear()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            second = services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        assert second.memory_node_id == first.memory_node_id
        assert broadcasts == [] and callbacks == []
        assert (MemoryNode.objects.count(), Event.objects.count(), AuditLog.objects.count()) == counts
        assert sample("plan_events_total", event="PLAN_ARCHIVE", org_id="org-a") == archive_count

    def test_event_ids_are_1_to_n_in_step_order(self, org_a, alice):
        plan = services.start_plan(org=org_a, user=alice, title="Numbered")
        assert channel_events(plan.id) == []
        steps = [services.add_step(org=org_a, user=alice, plan_id=plan.id, text=f"s{i}") for i in range(12)]
        stored = channel_events(plan.id)
        assert [e.eid for e in stored] == list(range(1, 13))
        assert [json.loads(e.data)["id"] for e in stored] == [str(s.id) for s in steps]
        assert [s.seq for s in steps] == list(range(1, 13))
        assert events.current_event_id(plan.id) == f"plan-{plan.id}:12"

    def test_event_ids_are_counted_per_plan(self, org_a, alice, plan_a):
        other = services.start_plan(org=org_a, user=alice, title="Other")
        services.add_step(org=org_a, user=alice, plan_id=other.id, text="first of other")
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="third of a")
        assert [e.eid for e in channel_events(other.id)] == [1]
        assert [e.eid for e in channel_events(plan_a.id)] == [1, 2, 3]

    def test_start_plan_emits_no_event(self, org_a, alice, broadcasts, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            plan = services.start_plan(org=org_a, user=alice, title="Quiet")
        assert broadcasts == []
        assert channel_events(plan.id) == []


@pytest.mark.django_db
class TestMetrics:
    @pytest.mark.parametrize("org_fixture", ["org_a", "org_b"])
    def test_each_action_counts_once_after_commit(
        self, request, org_fixture, broadcasts, django_capture_on_commit_callbacks
    ):
        org = request.getfixturevalue(org_fixture)
        user = request.getfixturevalue("alice" if org.id == "org-a" else "bob")

        def counts() -> tuple[float, ...]:
            return (
                sample("plan_events_total", event="PLAN_START", org_id=org.id),
                sample("plan_events_total", event="PLAN_STEP", org_id=org.id),
                sample("plan_events_total", event="PLAN_ARCHIVE", org_id=org.id),
                sample("plan_step_latency_count", org_id=org.id),
            )

        start = counts()
        with django_capture_on_commit_callbacks(execute=True):
            plan = services.start_plan(org=org, user=user, title="Counted")
            assert counts() == start  # not before commit
        assert counts() == (start[0] + 1, start[1], start[2], start[3])

        with django_capture_on_commit_callbacks(execute=True):
            services.add_step(org=org, user=user, plan_id=plan.id, text="a")
            services.add_step(org=org, user=user, plan_id=plan.id, text="b")
            assert counts() == (start[0] + 1, start[1], start[2], start[3])
        assert counts() == (start[0] + 1, start[1] + 2, start[2], start[3] + 2)

        with django_capture_on_commit_callbacks(execute=True):
            services.archive_plan(org=org, user=user, plan_id=plan.id)
        assert counts() == (start[0] + 1, start[1] + 2, start[2] + 1, start[3] + 2)

    def test_step_latency_is_observed_in_seconds(
        self, org_a, alice, plan_a, django_capture_on_commit_callbacks
    ):
        sum_before = sample("plan_step_latency_sum", org_id="org-a")
        inf_before = sample("plan_step_latency_bucket", org_id="org-a", le="+Inf")
        with django_capture_on_commit_callbacks(execute=True):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="timed")
        assert sample("plan_step_latency_bucket", org_id="org-a", le="+Inf") == inf_before + 1
        # A step takes far less than a minute: a value in milliseconds would be off by 1000x.
        assert 0 < sample("plan_step_latency_sum", org_id="org-a") - sum_before < 60

    def test_refused_actions_count_nothing(
        self, org_a, alice, plan_a, plan_b, django_capture_on_commit_callbacks
    ):
        before = [sample("plan_events_total", event=e, org_id="org-a") for e in ("PLAN_START", "PLAN_STEP")]
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(InvalidInput):
                services.start_plan(org=org_a, user=alice, title="t" * 256)
            with pytest.raises(NotFound):
                services.add_step(org=org_a, user=alice, plan_id=plan_b.id, text="x")
        after = [sample("plan_events_total", event=e, org_id="org-a") for e in ("PLAN_START", "PLAN_STEP")]
        assert after == before


@pytest.mark.django_db
class TestRules:
    def test_a_step_on_an_archived_plan_raises_conflict_and_writes_nothing(
        self, org_a, alice, plan_a, db_state
    ):
        services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        before = db_state()
        with pytest.raises(Conflict) as excinfo:
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="too late")
        assert excinfo.value.status_code == 409
        assert db_state() == before

    @pytest.mark.parametrize("function", ["add_step", "archive_plan"])
    def test_another_orgs_plan_raises_not_found_and_writes_nothing(
        self, function, org_b, bob, plan_a, db_state
    ):
        before = db_state()
        kwargs: dict[str, Any] = {"org": org_b, "user": bob, "plan_id": plan_a.id}
        if function == "add_step":
            kwargs["text"] = "sneaky"
        with pytest.raises(NotFound):
            getattr(services, function)(**kwargs)
        assert db_state() == before
        plan_a.refresh_from_db()
        assert not plan_a.archived

    @pytest.mark.parametrize("plan_id", [uuid.uuid4(), "not-a-uuid", "", None, 42])
    @pytest.mark.parametrize("function", ["add_step", "archive_plan"])
    def test_an_unknown_or_malformed_plan_id_raises_not_found(
        self, function, plan_id, org_a, alice, db_state
    ):
        before = db_state()
        kwargs: dict[str, Any] = {"org": org_a, "user": alice, "plan_id": plan_id}
        if function == "add_step":
            kwargs["text"] = "x"
        with pytest.raises(NotFound):
            getattr(services, function)(**kwargs)
        assert db_state() == before

    def test_a_new_owner_joins_the_participants_once(self, org_a, alice, plan_a):
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="x", owner="dora")
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="y", owner="dora")
        plan_a.refresh_from_db()
        assert plan_a.participants.count("dora") == 1
        assert plan_a.participants[-1] == "dora"

    def test_the_default_owner_is_the_users_name_and_joins(self, org_a, alice):
        plan = services.start_plan(org=org_a, user=alice, title="t")
        step = services.add_step(org=org_a, user=alice, plan_id=plan.id, text="x")
        plan.refresh_from_db()
        assert step.owner == "Alice Archer"
        assert plan.participants == ["Alice Archer"]

    def test_participants_stop_at_50(self, org_a, alice):
        names = [f"p{i}" for i in range(PARTICIPANTS_MAX)]
        plan = services.start_plan(org=org_a, user=alice, title="Full", participants=names)
        step = services.add_step(org=org_a, user=alice, plan_id=plan.id, text="x", owner="newcomer")
        plan.refresh_from_db()
        assert step.owner == "newcomer"
        assert plan.participants == names
        assert plan.step_count == 1

    def test_participants_fill_up_to_exactly_50(self, org_a, alice):
        names = [f"p{i}" for i in range(PARTICIPANTS_MAX - 1)]
        plan = services.start_plan(org=org_a, user=alice, title="Almost", participants=names)
        services.add_step(org=org_a, user=alice, plan_id=plan.id, text="x", owner="last-in")
        services.add_step(org=org_a, user=alice, plan_id=plan.id, text="y", owner="left-out")
        plan.refresh_from_db()
        assert plan.participants == [*names, "last-in"]

    def test_start_plan_refuses_more_than_50_participants(self, org_a, alice, db_state):
        before = db_state()
        with pytest.raises(InvalidInput) as excinfo:
            services.start_plan(org=org_a, user=alice, title="t", participants=[f"p{i}" for i in range(51)])
        assert excinfo.value.field == "participants"
        assert db_state() == before

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"title": "t" * 256}, "title"),
            ({"title": "  "}, "title"),
            ({"title": "a\x00b"}, "title"),
            ({"title": "t", "description": "d" * 2001}, "description"),
            ({"title": "t", "participants": ["p" * 101]}, "participants"),
            ({"title": 5}, "title"),
        ],
    )
    def test_start_plan_enforces_the_limits_itself(self, org_a, alice, kwargs, field, db_state):
        """Pages, admin and commands call the service without the API's serializers."""
        before = db_state()
        with pytest.raises(InvalidInput) as excinfo:
            services.start_plan(org=org_a, user=alice, **kwargs)
        assert excinfo.value.field == field
        assert db_state() == before

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"text": "t" * 1001}, "text"),
            ({"text": ""}, "text"),
            ({"text": "x", "owner": "o" * 101}, "owner"),
            ({"text": "a\x00b"}, "text"),
        ],
    )
    def test_add_step_enforces_the_limits_itself(self, org_a, alice, plan_a, kwargs, field, db_state):
        before = db_state()
        with pytest.raises(InvalidInput) as excinfo:
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, **kwargs)
        assert excinfo.value.field == field
        assert db_state() == before

    def test_archive_with_a_context_of_another_org_writes_nothing(
        self, org_a, org_b, alice, plan_a, db_state
    ):
        foreign = create_node(org=org_b, kind="note", content="B")
        before = db_state()
        with pytest.raises(InvalidInput):
            services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id, context_id=foreign.id)
        assert db_state() == before

    def test_steps_keep_the_order_they_were_added(self, org_a, alice):
        plan = services.start_plan(org=org_a, user=alice, title="Ordered")
        texts = [f"step {i}" for i in range(20)]
        for text in texts:
            services.add_step(org=org_a, user=alice, plan_id=plan.id, text=text)
        assert list(plan.steps.order_by("seq").values_list("text", flat=True)) == texts
        assert list(plan.steps.order_by("seq").values_list("seq", flat=True)) == list(range(1, 21))
        assert LivePlan.objects.get(id=plan.id).step_count == 20


@pytest.mark.django_db(transaction=True)
def test_each_change_of_a_plan_is_audited_and_counted_by_its_name(org_a, alice, plan_a):
    """DESIGN 10: STEP_UPDATE (ticking included, `done` in its details), STEP_MOVE, STEP_DELETE,
    STEP_RESTORE, PLAN_UPDATE, each one audit row and one `plan_events_total` count, after commit."""
    first, second = plan_a.steps.order_by("position")
    names = ["STEP_UPDATE", "STEP_MOVE", "STEP_DELETE", "STEP_RESTORE", "PLAN_UPDATE"]
    before = {name: sample("plan_events_total", event=name, org_id="org-a") or 0 for name in names}
    common = {"org": org_a, "user": alice, "plan_id": plan_a.id}
    services.update_step(**common, step_id=first.id, done=True)
    services.move_step(**common, step_id=second.id, after=None)
    services.delete_step(**common, step_id=first.id)
    services.restore_step(**common, step_id=first.id)
    services.update_plan(**common, title="Renamed")
    services.update_plan(**common, title="Renamed")  # no change: neither audited nor counted
    after = {name: sample("plan_events_total", event=name, org_id="org-a") or 0 for name in names}
    assert {name: after[name] - before[name] for name in names} == dict.fromkeys(names, 1)
    rows = AuditLog.objects.filter(action__in=names).order_by("id")
    assert [row.action for row in rows] == names
    assert rows[0].details == {"step_id": str(first.id), "fields": ["done"], "done": True}
    assert all(row.user == alice and row.resource_id == str(plan_a.id) for row in rows)
