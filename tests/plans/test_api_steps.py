"""Working a plan through the API (DESIGN 10): edit, tick off, move, delete, restore, rename."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aep.models import AuditLog
from plans import services

pytestmark = pytest.mark.django_db


def steps_of(client: Any, plan: Any) -> list[dict[str, Any]]:
    return client.get(f"/api/plan/{plan.id}").json()["steps"]


def url(plan: Any, step: Any = None, action: str = "") -> str:
    path = f"/api/plan/{plan.id}" if step is None else f"/api/plan/{plan.id}/steps/{step}"
    return path + (f"/{action}" if action else "")


class TestEditAndTick:
    def test_ticking_a_step_records_who_and_when_and_counts_progress(self, client_a, plan_a):
        first = steps_of(client_a, plan_a)[0]
        response = client_a.patch(url(plan_a, first["id"]), {"done": True}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "step_updated"
        step = body["step"]
        assert (step["done"], step["done_by"], step["version"]) == (True, "Alice Archer", 2)
        assert step["done_at"] is not None and step["text"] == first["text"]
        plan = client_a.get(url(plan_a)).json()
        assert plan["progress"] == {"done": 1, "total": 2}
        listed = client_a.get("/api/plan/list").json()["plans"]
        assert [p["progress"] for p in listed if p["id"] == str(plan_a.id)] == [{"done": 1, "total": 2}]
        audit = AuditLog.objects.filter(action=AuditLog.Action.STEP_UPDATE).get()
        assert audit.details == {"step_id": first["id"], "fields": ["done"], "done": True}

    def test_unticking_clears_who_and_when(self, client_a, plan_a):
        first = steps_of(client_a, plan_a)[0]
        client_a.patch(url(plan_a, first["id"]), {"done": True}, format="json")
        step = client_a.patch(url(plan_a, first["id"]), {"done": False}, format="json").json()["step"]
        assert (step["done"], step["done_by"], step["done_at"], step["version"]) == (False, None, None, 3)

    def test_a_patch_changes_only_what_it_sends(self, client_a, plan_a):
        first = steps_of(client_a, plan_a)[0]
        step = client_a.patch(url(plan_a, first["id"]), {"text": "  Rewritten  "}, format="json").json()[
            "step"
        ]
        assert (step["text"], step["owner"], step["done"]) == ("Rewritten", first["owner"], False)
        step = client_a.patch(url(plan_a, first["id"]), {"owner": "Dana"}, format="json").json()["step"]
        assert (step["text"], step["owner"]) == ("Rewritten", "Dana")

    def test_unknown_fields_are_ignored(self, client_a, plan_a):
        first = steps_of(client_a, plan_a)[0]
        response = client_a.patch(url(plan_a, first["id"]), {"done": True, "color": "red"}, format="json")
        assert response.status_code == 200 and "color" not in response.json()["step"]

    def test_a_stale_version_is_409_with_the_current_step_and_nothing_written(
        self, client_a, plan_a, db_state
    ):
        first = steps_of(client_a, plan_a)[0]
        client_a.patch(url(plan_a, first["id"]), {"text": "Bob's edit"}, format="json")
        before = db_state()
        response = client_a.patch(url(plan_a, first["id"]), {"text": "Mine", "version": 1}, format="json")
        assert response.status_code == 409
        body = response.json()
        assert "detail" in body and body["step"]["text"] == "Bob's edit" and body["step"]["version"] == 2
        assert db_state() == before

    def test_the_current_version_wins(self, client_a, plan_a):
        first = steps_of(client_a, plan_a)[0]
        response = client_a.patch(url(plan_a, first["id"]), {"text": "Mine", "version": 1}, format="json")
        assert response.status_code == 200 and response.json()["step"]["version"] == 2

    def test_without_a_version_two_writers_of_different_fields_both_keep_theirs(self, client_a, plan_a):
        first = steps_of(client_a, plan_a)[0]
        client_a.patch(url(plan_a, first["id"]), {"text": "Alice's words"}, format="json")
        client_a.patch(url(plan_a, first["id"]), {"done": True}, format="json")
        step = steps_of(client_a, plan_a)[0]
        assert (step["text"], step["done"]) == ("Alice's words", True)

    def test_renaming_a_plan(self, client_a, plan_a):
        response = client_a.patch(url(plan_a), {"title": "SSO", "description": "For everyone"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "plan_updated"
        assert (body["plan"]["title"], body["plan"]["description"], body["plan"]["version"]) == (
            "SSO",
            "For everyone",
            2,
        )
        assert len(body["plan"]["steps"]) == 2

    def test_a_stale_plan_version_is_409_with_the_current_plan(self, client_a, plan_a, db_state):
        client_a.patch(url(plan_a), {"title": "First rename"}, format="json")
        before = db_state()
        response = client_a.patch(url(plan_a), {"title": "Second", "version": 1}, format="json")
        assert response.status_code == 409
        assert response.json()["plan"]["title"] == "First rename"
        assert db_state() == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"text": ""}, "text"),
            ({"text": "   "}, "text"),
            ({"text": 5}, "text"),
            ({"text": None}, "text"),
            ({"text": "x" * 1001}, "text"),
            ({"owner": ""}, "owner"),
            ({"owner": ["a"]}, "owner"),
            ({"done": "yes"}, "done"),
            ({"done": 1}, "done"),
            ({"done": None}, "done"),
            ({"version": "2"}, "version"),
            ({"version": 0}, "version"),
            ({"version": 2.5}, "version"),
            ({"version": True}, "version"),
            ({"version": 2**40}, "version"),
            ({"text": "x\x00y"}, "text"),
        ],
        ids=repr,
    )
    def test_bad_step_fields_are_400_naming_the_field(self, client_a, plan_a, body, field, db_state):
        first = steps_of(client_a, plan_a)[0]
        before = db_state()
        response = client_a.patch(url(plan_a, first["id"]), body, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()
        assert db_state() == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"title": ""}, "title"), ({"title": 3}, "title"), ({"description": None}, "description")],
        ids=repr,
    )
    def test_bad_plan_fields_are_400_naming_the_field(self, client_a, plan_a, body, field, db_state):
        before = db_state()
        response = client_a.patch(url(plan_a), body, format="json")
        assert response.status_code == 400 and field in response.json()
        assert db_state() == before


class TestMove:
    @pytest.fixture
    def four(self, org_a, alice, plan_a):
        for text in ("three", "four"):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text=text)
        return plan_a

    def texts(self, client, plan):
        return [s["text"] for s in steps_of(client, plan)]

    def test_a_new_step_goes_last_and_moves_keep_their_place(self, client_a, four):
        ids = [s["id"] for s in steps_of(client_a, four)]
        response = client_a.post(url(four, ids[3], "move"), {"after": None}, format="json")
        assert response.status_code == 200, response.content
        assert response.json() | {"step": None} == {"status": "step_moved", "step": None, "after": None}
        assert self.texts(client_a, four) == [
            "four",
            "Design the token schema",
            "Write the migration",
            "three",
        ]
        client_a.post(url(four, ids[0], "move"), {"after": ids[2]}, format="json")
        assert self.texts(client_a, four) == [
            "four",
            "Write the migration",
            "three",
            "Design the token schema",
        ]
        client_a.post("/api/plan/step", {"plan_id": str(four.id), "text": "five"}, format="json")
        assert self.texts(client_a, four)[-1] == "five"

    def test_a_move_does_not_make_an_edit_stale(self, client_a, four):
        ids = [s["id"] for s in steps_of(client_a, four)]
        client_a.post(url(four, ids[0], "move"), {"after": ids[1]}, format="json")
        response = client_a.patch(url(four, ids[0]), {"text": "edited", "version": 1}, format="json")
        assert response.status_code == 200

    def test_moving_after_itself_is_400(self, client_a, four, db_state):
        ids = [s["id"] for s in steps_of(client_a, four)]
        before = db_state()
        response = client_a.post(url(four, ids[1], "move"), {"after": ids[1]}, format="json")
        assert response.status_code == 400 and "after" in response.json()
        assert db_state() == before

    def test_moving_after_a_step_of_another_plan_is_400(self, client_a, four, org_a, alice, db_state):
        other = services.start_plan(org=org_a, user=alice, title="Other")
        foreign = services.add_step(org=org_a, user=alice, plan_id=other.id, text="elsewhere")
        ids = [s["id"] for s in steps_of(client_a, four)]
        before = db_state()
        response = client_a.post(url(four, ids[1], "move"), {"after": str(foreign.id)}, format="json")
        assert response.status_code == 400 and "after" in response.json()
        assert db_state() == before

    @pytest.mark.parametrize("after", [42, "not-a-uuid", True, ["x"]])
    def test_a_bad_after_is_400(self, client_a, four, after, db_state):
        ids = [s["id"] for s in steps_of(client_a, four)]
        before = db_state()
        response = client_a.post(url(four, ids[1], "move"), {"after": after}, format="json")
        assert response.status_code == 400 and "after" in response.json()
        assert db_state() == before

    def test_after_is_required(self, client_a, four):
        ids = [s["id"] for s in steps_of(client_a, four)]
        response = client_a.post(url(four, ids[1], "move"), {}, format="json")
        assert response.status_code == 400 and "after" in response.json()

    def test_many_moves_into_one_gap_keep_the_order(self, client_a, org_a, alice, plan_a, monkeypatch):
        """Keys grow when steps keep landing in one gap; the plan rebalances them (here as soon as
        a key passes 4 characters), and the order stays what people made it."""
        from plans import ordering

        monkeypatch.setattr(ordering, "REBALANCE_LENGTH", 4)
        first = steps_of(client_a, plan_a)[0]["id"]
        moved: list[str] = []
        longest_seen = 0
        for n in range(40):
            step = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text=f"n{n}")
            services.move_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=step.id, after=first)
            moved.insert(0, f"n{n}")
            longest_seen = max(
                longest_seen, *(len(p) for p in plan_a.steps.values_list("position", flat=True))
            )
        texts = [s["text"] for s in steps_of(client_a, plan_a)]
        assert texts == ["Design the token schema", *moved, "Write the migration"]
        assert longest_seen <= 5  # rebalanced each time a key grew past 4


class TestDeleteAndRestore:
    def test_delete_hides_the_step_and_restore_puts_it_back(self, client_a, org_a, alice, plan_a):
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="three")
        ids = [s["id"] for s in steps_of(client_a, plan_a)]
        response = client_a.delete(url(plan_a, ids[1]))
        assert response.status_code == 200
        assert response.json() == {"status": "step_deleted", "step_id": ids[1]}
        assert [s["id"] for s in steps_of(client_a, plan_a)] == [ids[0], ids[2]]
        assert client_a.get(url(plan_a)).json()["progress"]["total"] == 2
        assert client_a.delete(url(plan_a, ids[1])).status_code == 200  # again: nothing changes
        assert client_a.patch(url(plan_a, ids[1]), {"text": "x"}, format="json").status_code == 404
        response = client_a.post(url(plan_a, ids[1], "restore"))
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["after"], body["step"]["id"]) == ("step_restored", ids[0], ids[1])
        assert [s["id"] for s in steps_of(client_a, plan_a)] == ids
        again = client_a.post(url(plan_a, ids[1], "restore"))  # a retried Undo: nothing changes
        assert again.status_code == 200 and again.json()["after"] == ids[0]
        assert [s["id"] for s in steps_of(client_a, plan_a)] == ids

    def test_restoring_the_first_step_says_after_null(self, client_a, plan_a):
        ids = [s["id"] for s in steps_of(client_a, plan_a)]
        client_a.delete(url(plan_a, ids[0]))
        assert client_a.post(url(plan_a, ids[0], "restore")).json()["after"] is None

    def test_an_unknown_step_is_404(self, client_a, plan_a, plan_b):
        foreign = plan_b.steps.first()
        for step_id in (uuid.uuid4(), foreign.id, "not-a-uuid"):
            assert client_a.delete(url(plan_a, step_id)).status_code == 404
            assert client_a.post(url(plan_a, step_id, "restore")).status_code == 404
            response = client_a.patch(url(plan_a, step_id), {"done": True}, format="json")
            assert response.status_code == 404 and response.json() == {
                "detail": "Step not found in this plan."
            }


class TestRefusals:
    def test_every_write_on_an_archived_plan_is_409_and_writes_nothing(
        self, client_a, org_a, alice, plan_a, db_state
    ):
        ids = [s["id"] for s in steps_of(client_a, plan_a)]
        services.delete_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=ids[1])
        services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
        before = db_state()
        calls = [
            client_a.patch(url(plan_a), {"title": "late"}, format="json"),
            client_a.patch(url(plan_a, ids[0]), {"done": True}, format="json"),
            client_a.post(url(plan_a, ids[0], "move"), {"after": None}, format="json"),
            client_a.delete(url(plan_a, ids[0])),
            client_a.post(url(plan_a, ids[1], "restore")),
        ]
        assert [c.status_code for c in calls] == [409] * 5
        assert all("archived" in c.json()["detail"] for c in calls)
        assert db_state() == before

    def test_a_full_plan_refuses_one_more_step_and_a_restore(
        self, client_a, org_a, alice, plan_a, settings, db_state
    ):
        settings.MAX_STEPS_PER_PLAN = 3
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="three")
        before = db_state()
        response = client_a.post("/api/plan/step", {"plan_id": str(plan_a.id), "text": "four"}, format="json")
        assert response.status_code == 409 and "at most 3 steps" in response.json()["detail"]
        assert db_state() == before
        first = steps_of(client_a, plan_a)[0]["id"]
        client_a.delete(url(plan_a, first))
        client_a.post("/api/plan/step", {"plan_id": str(plan_a.id), "text": "four"}, format="json")
        response = client_a.post(url(plan_a, first, "restore"))
        assert response.status_code == 409 and "at most 3 steps" in response.json()["detail"]


def test_the_memory_node_holds_the_final_order_and_done_state(client_a, org_a, alice, plan_a):
    services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="three")
    ids = [s["id"] for s in steps_of(client_a, plan_a)]
    client_a.post(url(plan_a, ids[2], "move"), {"after": None}, format="json")
    client_a.patch(url(plan_a, ids[0]), {"done": True}, format="json")
    client_a.delete(url(plan_a, ids[1]))
    node_id = client_a.post(f"/api/plan/{plan_a.id}/archive").json()["memory_node_id"]
    import json

    content = json.loads(client_a.get(f"/api/memory/nodes/{node_id}").json()["content"])
    assert [(s["text"], s["done"]) for s in content["steps"]] == [
        ("three", False),
        ("Design the token schema", True),
    ]


class TestCost:
    """Each way of working a step makes a fixed number of queries whatever the plan holds, and no
    more than adding one (9, tests/plans/test_auth.py): token and membership, BEGIN, the plan's
    lock, the step's reads, its write, audit row, event counter, event, COMMIT."""

    @pytest.mark.parametrize("size", [3, 60])
    def test_edit_tick_move_delete_and_restore_cost_no_more_than_an_add(
        self,
        client_a,
        org_a,
        alice,
        plan_a,
        size,
        monkeypatch,
        django_assert_max_num_queries,
        no_event_log_trim,
    ):
        monkeypatch.setattr(services.ORG_ANNOUNCER, "request", lambda plan_id: None)
        for n in range(size - 2):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text=f"n{n}")
        ids = [s["id"] for s in steps_of(client_a, plan_a)]
        middle = ids[len(ids) // 2]
        writes = [
            lambda: client_a.patch(url(plan_a, ids[0]), {"text": "edited"}, format="json"),
            lambda: client_a.patch(url(plan_a, ids[0]), {"done": True}, format="json"),
            lambda: client_a.post(url(plan_a, ids[-1], "move"), {"after": None}, format="json"),
            lambda: client_a.post(url(plan_a, ids[0], "move"), {"after": middle}, format="json"),
            lambda: client_a.delete(url(plan_a, ids[1])),
            lambda: client_a.post(url(plan_a, ids[1], "restore")),
        ]
        for write in writes:
            with django_assert_max_num_queries(9) as queries:
                response = write()
            assert response.status_code == 200, response.content
            # a step is read by its own index: no join to its plan, no sort by the plan's fields
            assert not [q["sql"] for q in queries.captured_queries if 'JOIN "plans_liveplan"' in q["sql"]]
        order = [ids[-1], *ids[:-1]]  # the last step went first
        order.remove(ids[0])
        order.insert(order.index(middle) + 1, ids[0])
        steps = steps_of(client_a, plan_a)
        assert [s["id"] for s in steps] == order  # the deleted step came back to its place
        assert [s["done"] for s in steps if s["text"] == "edited"] == [True]
