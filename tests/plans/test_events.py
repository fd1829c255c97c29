"""What each plan service emits, checked against the declared contract (plans.events.PLAN_EVENTS),
and that a client holding a fetched plan plus the events after its position holds what a fresh GET
returns (Zulip's `verify_action`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from live.storage import StoredEvent, events_after
from plans import events, services
from plans.events import ORG_EVENTS, PLAN_EVENTS, STEP_FIELDS, plan_channel
from plans.models import PARTICIPANTS_MAX

STEP_KEYS = tuple(STEP_FIELDS)


def _insert_after(steps: list[dict[str, Any]], step: dict[str, Any], after: str | None) -> None:
    index = 0 if after is None else next(i for i, s in enumerate(steps) if s["id"] == after) + 1
    steps.insert(index, step)


def _take(steps: list[dict[str, Any]], step_id: str) -> dict[str, Any]:
    [index] = [i for i, s in enumerate(steps) if s["id"] == step_id]
    return steps.pop(index)


def apply_event(plan: dict[str, Any], data: dict[str, Any]) -> None:
    """What a client does with an event of the plan stream: nothing but the event's own data, on
    the plan as fetched (its steps and position come from one snapshot, so every event applies to
    exactly the state it was made on: a step to move is there, a step to add is not)."""
    kind = PLAN_EVENTS.validate(data).name
    steps = plan["steps"]
    if kind == "step":
        assert all(step["id"] != data["id"] for step in steps)
        steps.append({key: data[key] for key in STEP_KEYS})
        plan["participants"] = data["participants"]
    elif kind == "step_updated":
        index = next(i for i, s in enumerate(steps) if s["id"] == data["step"]["id"])
        steps[index] = data["step"]
    elif kind == "step_moved":
        _insert_after(steps, _take(steps, data["step_id"]), data["after"])
    elif kind == "step_deleted":
        _take(steps, data["step_id"])
    elif kind == "step_restored":
        assert all(step["id"] != data["step"]["id"] for step in steps)
        _insert_after(steps, data["step"], data["after"])
    elif kind == "plan_updated":
        plan.update(title=data["title"], description=data["description"], version=data["version"])
    elif kind == "archived":
        plan["archived"] = True
    else:  # pragma: no cover - a new event type needs its line here
        raise AssertionError(f"the test client does not know {kind}")
    done = sum(1 for step in steps if step["done"])
    plan["progress"] = {"done": done, "total": len(steps)}


def described(plan: dict[str, Any]) -> dict[str, Any]:
    """The part of a plan the plan stream's events describe (its times and position aside)."""
    keys = ("id", "title", "description", "version", "steps", "progress", "participants", "archived")
    return {key: plan[key] for key in keys}


def position(plan: dict[str, Any]) -> int:
    return int(plan["last_event_id"].rsplit(":", 1)[1])


def verify_action(
    client: Any, plan_id: Any, action: Callable[[], Any], emitted: list[StoredEvent]
) -> list[StoredEvent]:
    """Fetch, act, and check: the action's events were broadcast once each after commit, are the
    stored ones, match their declaration, and turn the fetched plan into a fresh fetch."""
    before = client.get(f"/api/plan/{plan_id}").json()
    emitted.clear()
    with transaction.atomic():
        action()
        assert emitted == [], "an event was broadcast before its transaction committed"
    stored = events_after(plan_channel(plan_id), position(before))
    assert [(e.channel, e.eid) for e in emitted] == [(e.channel, e.eid) for e in stored]
    for event in stored:
        apply_event(before, event.data)
    after = client.get(f"/api/plan/{plan_id}").json()
    assert described(before) == described(after)
    assert position(after) == position(before) + len(stored)
    return stored


@pytest.mark.django_db(transaction=True)
class TestEachServiceEmits:
    def test_add_step_emits_one_step_event(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Ship it", owner="Dana"),
            emitted,
        )
        assert [e.data["type"] for e in stored] == ["step"]
        assert stored[0].data["text"] == "Ship it" and stored[0].data["owner"] == "Dana"
        assert stored[0].data["participants"] == ["alice", "Alice Archer", "bob", "Dana"]

    def test_a_known_owner_leaves_the_participants_as_they_are(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Again", owner="bob"),
            emitted,
        )
        assert stored[0].data["participants"] == ["alice", "Alice Archer", "bob"]

    def test_a_full_plan_takes_steps_without_new_participants(
        self, client_a: Any, org_a: Any, alice: Any, emitted: Any
    ) -> None:
        names = [f"p{n}" for n in range(PARTICIPANTS_MAX)]
        plan = services.start_plan(org=org_a, user=alice, title="Full", participants=names)
        stored = verify_action(
            client_a,
            plan.id,
            lambda: services.add_step(org=org_a, user=alice, plan_id=plan.id, text="x", owner="latecomer"),
            emitted,
        )
        assert stored[0].data["participants"] == names

    def test_archive_emits_one_archived_event(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id),
            emitted,
        )
        plan_a.refresh_from_db()
        assert [e.data for e in stored] == [
            {"type": "archived", "plan_id": str(plan_a.id), "memory_node_id": str(plan_a.memory_node_id)}
        ]

    def test_archiving_again_emits_nothing(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id),
            emitted,
        )
        assert stored == []

    def test_start_plan_emits_nothing_on_the_new_plans_channel(
        self, org_a: Any, alice: Any, emitted: Any
    ) -> None:
        plan = services.start_plan(org=org_a, user=alice, title="Quiet")
        assert emitted == [] and events_after(plan_channel(plan.id), 0) == []

    def test_a_refused_write_emits_nothing(self, org_a: Any, alice: Any, plan_a: Any, emitted: Any) -> None:
        services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        emitted.clear()
        with pytest.raises(services.Conflict):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="too late")
        assert emitted == []


def _steps(plan: Any) -> list[Any]:
    return list(plan.steps.filter(deleted_at__isnull=True).order_by("position"))


@pytest.mark.django_db(transaction=True)
class TestWorkingAPlanEmits:
    """DESIGN 10: each write of a step or a plan emits one declared event that a client applies."""

    def test_ticking_a_step_emits_step_updated_with_who_and_when(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        first = _steps(plan_a)[0]
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.update_step(
                org=org_a, user=alice, plan_id=plan_a.id, step_id=first.id, done=True
            ),
            emitted,
        )
        [event] = [e.data for e in stored]
        assert event["type"] == "step_updated"
        assert event["step"]["done"] is True and event["step"]["done_by"] == "Alice Archer"
        assert event["step"]["version"] == 2 and event["step"]["done_at"] is not None

    def test_editing_text_and_owner_emits_one_event(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        first = _steps(plan_a)[0]
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.update_step(
                org=org_a, user=alice, plan_id=plan_a.id, step_id=first.id, text="Rewritten", owner="Dana"
            ),
            emitted,
        )
        assert [(e.data["step"]["text"], e.data["step"]["owner"]) for e in stored] == [("Rewritten", "Dana")]

    def test_a_patch_that_changes_nothing_emits_nothing(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        first = _steps(plan_a)[0]
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.update_step(
                org=org_a, user=alice, plan_id=plan_a.id, step_id=first.id, text=first.text
            ),
            emitted,
        )
        assert stored == []

    @pytest.mark.parametrize("target", ["first", "after_last", "after_first"])
    def test_moves_emit_step_moved(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any, target: str
    ) -> None:
        for text in ("three", "four"):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text=text)
        steps = _steps(plan_a)
        moving, after = {
            "first": (steps[2], None),
            "after_last": (steps[0], steps[3].id),
            "after_first": (steps[3], steps[0].id),
        }[target]
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.move_step(
                org=org_a, user=alice, plan_id=plan_a.id, step_id=moving.id, after=after
            ),
            emitted,
        )
        assert [e.data["type"] for e in stored] == ["step_moved"]

    def test_delete_then_restore_puts_the_step_back_where_it_was(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="three")
        middle = _steps(plan_a)[1]
        before = [s.id for s in _steps(plan_a)]
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.delete_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=middle.id),
            emitted,
        )
        assert [e.data for e in stored] == [
            {"type": "step_deleted", "plan_id": str(plan_a.id), "step_id": str(middle.id)}
        ]
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.restore_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=middle.id),
            emitted,
        )
        assert [e.data["after"] for e in stored] == [str(before[0])]
        assert [s.id for s in _steps(plan_a)] == before

    def test_restore_after_the_gap_was_taken_goes_right_after_the_newcomer(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        first, second = _steps(plan_a)
        services.delete_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=second.id)
        third = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="three")
        services.move_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=third.id, after=first.id)
        verify_action(
            client_a,
            plan_a.id,
            lambda: services.restore_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=second.id),
            emitted,
        )
        assert len(_steps(plan_a)) == 3

    def test_editing_the_plan_emits_plan_updated(
        self, client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        stored = verify_action(
            client_a,
            plan_a.id,
            lambda: services.update_plan(
                org=org_a, user=alice, plan_id=plan_a.id, title="Renamed", description="Why"
            ),
            emitted,
        )
        assert [e.data for e in stored] == [
            {
                "type": "plan_updated",
                "plan_id": str(plan_a.id),
                "title": "Renamed",
                "description": "Why",
                "version": 2,
            }
        ]

    def test_a_stale_version_writes_and_emits_nothing(
        self, org_a: Any, alice: Any, plan_a: Any, emitted: Any
    ) -> None:
        first = _steps(plan_a)[0]
        services.update_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=first.id, text="v2")
        emitted.clear()
        with pytest.raises(services.Conflict) as refused:
            services.update_step(
                org=org_a, user=alice, plan_id=plan_a.id, step_id=first.id, text="lost?", version=1
            )
        assert refused.value.extra["step"]["text"] == "v2" and refused.value.extra["step"]["version"] == 2
        assert emitted == []
        first.refresh_from_db()
        assert first.text == "v2"


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_lose_nothing_for_a_client_that_fetched_in_between(
    client_a: Any, org_a: Any, alice: Any, plan_a: Any, emitted: Any
) -> None:
    """Four writers add steps while the client fetches the plan; the fetched plan plus the stored
    events after its position is exactly a fresh fetch, whatever the interleaving."""
    fetched: dict[str, Any] = {}
    started = threading.Barrier(5)

    def writer(n: int) -> None:
        started.wait()
        try:
            for i in range(8):
                services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text=f"w{n} s{i}", owner=f"w{n}")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    fetched.update(client_a.get(f"/api/plan/{plan_a.id}").json())
    for thread in threads:
        thread.join()
    for event in events_after(plan_channel(plan_a.id), position(fetched)):
        apply_event(fetched, event.data)
    fresh = client_a.get(f"/api/plan/{plan_a.id}").json()
    assert described(fetched) == described(fresh)
    assert len(fresh["steps"]) == 2 + 32


def test_every_payload_builder_matches_its_declaration(plan_a: Any) -> None:
    step = plan_a.steps.order_by("seq").first()
    PLAN_EVENTS.validate(events.step_payload(step, ["alice"]))
    plan_a.memory_node_id = "00000000-0000-0000-0000-00000000000a"
    PLAN_EVENTS.validate(events.archived_payload(plan_a))
    for kind in ("connected", "reset"):
        PLAN_EVENTS.validate(events.PLAN_CHANNEL.control(kind, str(plan_a.id)))


def test_the_contract_refuses_what_it_does_not_declare() -> None:
    from live.contract import ContractError

    good = {
        "type": "archived",
        "plan_id": "00000000-0000-0000-0000-000000000001",
        "memory_node_id": "00000000-0000-0000-0000-000000000002",
    }
    PLAN_EVENTS.validate(good)
    for bad in (
        {**good, "type": "unarchived"},
        {**good, "extra": 1},
        {key: value for key, value in good.items() if key != "memory_node_id"},
        {**good, "plan_id": 42},
    ):
        with pytest.raises(ContractError):
            PLAN_EVENTS.validate(bad)


@pytest.mark.django_db(transaction=True)
class TestTheOrgStreamHears:
    """What each service tells the org's stream (DESIGN 11), checked against ORG_EVENTS."""

    def item(self, client: Any, plan_id: Any) -> dict[str, Any]:
        """The plan as GET /api/plan/list lists it, without its steps."""
        listed = next(p for p in client.get("/api/plan/list").json()["plans"] if p["id"] == str(plan_id))
        del listed["steps"]
        return listed

    def org_events(self, emitted: Any) -> list[dict[str, Any]]:
        for event in emitted.org:
            ORG_EVENTS.validate(event.data)
        return [event.data for event in emitted.org]

    def test_start_step_edit_archive(self, org_a: Any, alice: Any, client_a: Any, emitted: Any) -> None:
        plan = services.start_plan(org=org_a, user=alice, title="Org news")
        [started] = self.org_events(emitted)
        assert started == {"type": "plan_started", "plan": self.item(client_a, plan.id)}
        emitted.org.clear()
        step = services.add_step(org=org_a, user=alice, plan_id=plan.id, text="One")
        services.update_step(org=org_a, user=alice, plan_id=plan.id, step_id=step.id, done=True)
        services.update_plan(org=org_a, user=alice, plan_id=plan.id, title="Org news, renamed")
        changes = self.org_events(emitted)
        assert [c["type"] for c in changes] == ["plan_changed"] * 3
        done = [c["plan"]["progress"] for c in changes]
        assert done == [{"done": 0, "total": 1}, {"done": 1, "total": 1}, {"done": 1, "total": 1}]
        assert changes[0]["plan"]["participants"] == ["Alice Archer"]
        assert changes[-1]["plan"] == self.item(client_a, plan.id)
        emitted.org.clear()
        plan = services.archive_plan(org=org_a, user=alice, plan_id=plan.id)
        assert self.org_events(emitted) == [
            {"type": "plan_archived", "plan_id": str(plan.id), "memory_node_id": str(plan.memory_node_id)}
        ]

    def test_each_org_hears_only_its_own(
        self, org_a: Any, org_b: Any, alice: Any, bob: Any, emitted: Any
    ) -> None:
        services.start_plan(org=org_a, user=alice, title="A")
        services.start_plan(org=org_b, user=bob, title="B")
        heard = [(e.channel, e.eid, e.data["plan"]["title"]) for e in emitted.org]
        assert heard == [("org-org-a", 1, "A"), ("org-org-b", 1, "B")]  # each org counts its own

    def test_a_refused_write_tells_nobody(self, org_a: Any, alice: Any, plan_a: Any, emitted: Any) -> None:
        services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        emitted.org.clear()
        with pytest.raises(services.Conflict):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="too late")
        assert emitted.org == []


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_changes_is_announced_at_most_once_an_interval_ending_with_the_last_state(
    org_a: Any, alice: Any, emitted: Any, settings: Any
) -> None:
    """`plan_changed` at most once per interval per plan, from the announcer thread; the last one
    carries the plan as the burst left it, and they are stored in order (a list reconnecting gets
    them)."""
    settings.ORG_CHANGE_INTERVAL_SECONDS = 0.3
    plan = services.start_plan(org=org_a, user=alice, title="Burst")
    started = time.monotonic()
    for n in range(12):
        services.add_step(org=org_a, user=alice, plan_id=plan.id, text=f"Step {n}")
        time.sleep(0.05)
    burst = time.monotonic() - started

    def changes() -> list[Any]:
        return [e for e in emitted.org if e.data["type"] == "plan_changed"]

    deadline = time.monotonic() + 5
    while (
        not changes() or changes()[-1].data["plan"]["progress"]["total"] < 12
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    span = time.monotonic() - started  # from the first change to the last announcement, at most
    totals = [c.data["plan"]["progress"]["total"] for c in changes()]
    assert totals[-1] == 12 and totals == sorted(totals)
    assert 2 <= len(totals) <= span / 0.3 + 1, (burst, span, totals)  # not one per change (12)
    assert [c.eid for c in changes()] == list(range(2, 2 + len(totals)))  # after plan_started's 1
    time.sleep(0.5)
    # Nothing new once the plan is quiet. One repeat of the last state may come: an announcement
    # that read the plan while the last change committed is followed by the one that change asked for.
    quiet = [c.data["plan"] for c in changes()[len(totals) :]]
    assert quiet in ([], [changes()[len(totals) - 1].data["plan"]])
