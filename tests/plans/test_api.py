"""The plan API as a client sees it: start, get, step, list, archive (DESIGN 4)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from aep.models import AuditLog
from memory_graph.models import MemoryEdge, MemoryNode
from memory_graph.services import create_node
from plans import services
from plans.models import LivePlan, PlanStep

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def start(client, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/plan/start", body, format="json")


def add(client, plan_id, text, **extra):  # type: ignore[no-untyped-def]
    return client.post("/api/plan/step", {"plan_id": str(plan_id), "text": text, **extra}, format="json")


@pytest.mark.django_db
class TestPlanCreation:
    def test_start_returns_id_of_a_stored_plan(self, client_a, org_a):
        response = start(client_a, title="Auth service", description="JWT", participants=["alice", "bob"])
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "started"
        plan = LivePlan.objects.get(id=body["plan_id"])
        assert (plan.org, plan.title, plan.description, plan.participants) == (
            org_a,
            "Auth service",
            "JWT",
            ["alice", "bob"],
        )

    def test_title_is_required(self, client_a):
        response = start(client_a, description="no title")
        assert response.status_code == 400
        assert "title" in response.json()
        assert LivePlan.objects.count() == 0

    def test_blank_title_is_refused(self, client_a):
        response = start(client_a, title="   ")
        assert response.status_code == 400
        assert "title" in response.json()

    def test_missing_org_header_is_400_with_the_contract_message(self, make_client, alice):
        response = start(make_client(alice), title="x")
        assert response.status_code == 400
        assert response.json() == {"detail": "X-Org-Id header required"}

    def test_org_may_come_from_the_query_string(self, make_client, alice, org_a):
        response = make_client(alice).post("/api/plan/start?org=org-a", {"title": "q"}, format="json")
        assert response.status_code == 200
        assert LivePlan.objects.get(id=response.json()["plan_id"]).org == org_a

    def test_start_writes_an_audit_row(self, client_a, alice, org_a):
        plan_id = start(client_a, title="Audited").json()["plan_id"]
        row = AuditLog.objects.get(action="PLAN_START")
        assert (row.org, row.user, row.resource_type, row.resource_id) == (org_a, alice, "plan", plan_id)


@pytest.mark.django_db
class TestPlanRetrieval:
    def test_get_returns_the_contract_shape(self, client_a, plan_a):
        body = client_a.get(f"/api/plan/{plan_a.id}").json()
        assert set(body) == {
            "id",
            "org_id",
            "title",
            "description",
            "version",
            "steps",
            "progress",
            "participants",
            "archived",
            "created_at",
            "updated_at",
            "last_event_id",
            "can_write",
            "steps_next",
        }
        assert body["last_event_id"] == f"plan-{plan_a.id}:2"  # two steps, two events
        assert body["id"] == str(plan_a.id)
        assert body["org_id"] == "org-a"
        assert [s["text"] for s in body["steps"]] == ["Design the token schema", "Write the migration"]
        assert all(
            set(s) == {"id", "text", "owner", "ts", "done", "done_by", "done_at", "version", "updated_at"}
            for s in body["steps"]
        )
        assert body["progress"] == {"done": 0, "total": 2} and body["version"] == 1
        assert body["can_write"] is True
        assert ISO_UTC.match(body["created_at"]) and ISO_UTC.match(body["steps"][0]["ts"])
        assert body["archived"] is False

    def test_unknown_plan_is_404(self, client_a):
        response = client_a.get(f"/api/plan/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Plan not found."}

    def test_non_uuid_id_is_json_404(self, client_a):
        response = client_a.get("/api/plan/not-a-uuid")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")

    def test_other_orgs_plan_is_404_as_if_it_did_not_exist(self, client_a, plan_b):
        response = client_a.get(f"/api/plan/{plan_b.id}")
        assert response.status_code == 404
        assert "Secret" not in response.content.decode()


@pytest.mark.django_db
class TestAddStep:
    def test_single_step_is_returned_and_stored(self, client_a, plan_a, alice):
        response = add(client_a, plan_a.id, "Review with security")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "step_added"
        step = body["step"]
        assert step["text"] == "Review with security"
        assert step["owner"] == "Alice Archer"  # defaults to the user's name
        assert ISO_UTC.match(step["ts"])
        assert PlanStep.objects.filter(id=step["id"], plan=plan_a).exists()

    def test_owner_can_be_given(self, client_a, plan_a):
        assert add(client_a, plan_a.id, "x", owner="tester").json()["step"]["owner"] == "tester"

    def test_many_steps_keep_their_order_and_ids_are_unique(self, client_a, plan_a):
        texts = [f"step {i}" for i in range(30)]
        ids = [add(client_a, plan_a.id, t).json()["step"]["id"] for t in texts]
        steps = client_a.get(f"/api/plan/{plan_a.id}").json()["steps"]
        assert [s["text"] for s in steps][2:] == texts
        assert [s["id"] for s in steps][2:] == ids
        assert len({s["id"] for s in steps}) == len(steps)

    def test_new_owner_joins_the_participants(self, client_a, plan_a):
        add(client_a, plan_a.id, "x", owner="dora")
        assert "dora" in client_a.get(f"/api/plan/{plan_a.id}").json()["participants"]

    def test_step_on_archived_plan_is_409_and_not_stored(self, client_a, plan_a):
        client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json")
        response = add(client_a, plan_a.id, "too late")
        assert response.status_code == 409
        assert "archived" in response.json()["detail"]
        assert not PlanStep.objects.filter(text="too late").exists()

    def test_step_on_unknown_plan_is_404(self, client_a):
        assert add(client_a, uuid.uuid4(), "x").status_code == 404

    def test_step_writes_an_audit_row_naming_the_step(self, client_a, plan_a):
        step_id = add(client_a, plan_a.id, "audited").json()["step"]["id"]
        assert AuditLog.objects.filter(action="PLAN_STEP", details__step_id=step_id).count() == 1


@pytest.mark.django_db
class TestListPlans:
    @pytest.fixture
    def many_plans(self, client_a):  # type: ignore[no-untyped-def]
        ids = [start(client_a, title=f"plan {i}").json()["plan_id"] for i in range(7)]
        for plan_id in ids[:3]:
            client_a.post(f"/api/plan/{plan_id}/archive", {}, format="json")
        return ids

    def test_all_plans_with_total_count(self, client_a, many_plans):
        body = client_a.get("/api/plan/list").json()
        assert body["count"] == 7
        assert {p["id"] for p in body["plans"]} == set(many_plans)

    @pytest.mark.parametrize(("flag", "expected"), [("true", 3), ("false", 4)])
    def test_archived_filter(self, client_a, many_plans, flag, expected):
        body = client_a.get(f"/api/plan/list?archived={flag}").json()
        assert body["count"] == expected
        assert len(body["plans"]) == expected
        assert all(p["archived"] is (flag == "true") for p in body["plans"])

    def test_limit_and_offset_page_through_without_overlap(self, client_a, many_plans):
        first = client_a.get("/api/plan/list?limit=3&offset=0").json()
        second = client_a.get("/api/plan/list?limit=3&offset=3").json()
        third = client_a.get("/api/plan/list?limit=3&offset=6").json()
        assert first["count"] == second["count"] == third["count"] == 7
        ids = [p["id"] for page in (first, second, third) for p in page["plans"]]
        assert len(ids) == 7 and set(ids) == set(many_plans)

    @pytest.mark.parametrize("query", ["", "&archived=false"])
    def test_pages_of_plans_updated_at_the_same_instant_neither_overlap_nor_skip(
        self, client_a, org_a, query
    ):
        same_instant = LivePlan.objects.bulk_create(
            [LivePlan(org=org_a, title=f"tied {i}") for i in range(12)]
        )
        LivePlan.objects.filter(org=org_a).update(updated_at="2026-01-01T00:00:00Z")
        pages = [
            client_a.get(f"/api/plan/list?limit=5&offset={offset}{query}").json()["plans"]
            for offset in (0, 5, 10)
        ]
        ids = [p["id"] for page in pages for p in page]
        assert [len(page) for page in pages] == [5, 5, 2]
        assert ids == sorted((str(p.id) for p in same_instant), key=lambda i: uuid.UUID(i), reverse=True)

    def test_most_recently_updated_first(self, client_a, many_plans):
        add(client_a, many_plans[4], "touch")
        assert client_a.get("/api/plan/list").json()["plans"][0]["id"] == many_plans[4]

    @pytest.mark.parametrize(
        "query", ["limit=0", "limit=201", "limit=abc", "offset=-1", "archived=maybe", "limit=1.5"]
    )
    def test_bad_query_is_400_naming_the_parameter(self, client_a, query):
        response = client_a.get(f"/api/plan/list?{query}")
        assert response.status_code == 400
        assert query.split("=")[0] in response.json()

    def test_limit_200_is_allowed(self, client_a, many_plans):
        assert client_a.get("/api/plan/list?limit=200").status_code == 200

    def test_lists_only_the_requested_org(self, client_a, plan_a, plan_b):
        body = client_a.get("/api/plan/list").json()
        assert [p["id"] for p in body["plans"]] == [str(plan_a.id)]


@pytest.mark.django_db
class TestArchive:
    def test_archive_creates_a_plan_session_node_with_content_and_metadata(self, client_a, plan_a):
        body = client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json").json()
        assert body["status"] == "archived" and body["plan_id"] == str(plan_a.id)
        node = MemoryNode.objects.get(id=body["memory_node_id"])
        assert node.kind == "plan_session" and node.org_id == "org-a"
        content = json.loads(node.content)
        assert content["title"] == "Auth service"
        assert [s["text"] for s in content["steps"]] == ["Design the token schema", "Write the migration"]
        assert "alice" in content["participants"]
        assert node.metadata["plan_id"] == str(plan_a.id)
        assert node.metadata["step_count"] == 2
        assert ISO_UTC.match(node.metadata["archived_at"])
        assert client_a.get(f"/api/plan/{plan_a.id}").json()["archived"] is True

    def test_context_id_links_context_to_plan(self, client_a, plan_a, org_a):
        context = create_node(org=org_a, kind="note", content="earlier design")
        body = client_a.post(
            f"/api/plan/{plan_a.id}/archive", {"context_id": str(context.id)}, format="json"
        ).json()
        edge = MemoryEdge.objects.get()
        assert (edge.source_id, str(edge.target_id), edge.kind) == (
            context.id,
            body["memory_node_id"],
            "used_in_planning",
        )

    def test_context_of_another_org_is_refused_and_nothing_is_archived(self, client_a, plan_a, org_b):
        foreign = create_node(org=org_b, kind="note", content="B's secret")
        response = client_a.post(
            f"/api/plan/{plan_a.id}/archive", {"context_id": str(foreign.id)}, format="json"
        )
        assert response.status_code == 400
        assert "context_id" in response.json()
        plan_a.refresh_from_db()
        assert not plan_a.archived
        assert MemoryNode.objects.filter(kind="plan_session").count() == 0

    def test_archive_is_idempotent(self, client_a, plan_a):
        first = client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json").json()
        second = client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json")
        assert second.status_code == 200
        assert second.json()["memory_node_id"] == first["memory_node_id"]
        assert MemoryNode.objects.count() == 1
        assert AuditLog.objects.filter(action="PLAN_ARCHIVE").count() == 1

    def test_archive_without_body(self, client_a, plan_a):
        assert client_a.post(f"/api/plan/{plan_a.id}/archive").status_code == 200

    def test_archive_unknown_plan_is_404(self, client_a):
        assert client_a.post(f"/api/plan/{uuid.uuid4()}/archive", {}, format="json").status_code == 404


@pytest.mark.django_db
class TestStepsReadBackExactly:
    """GET and the list format steps in the database (plans.selectors.steps_json); the text must be
    exactly what the step's POST response and its live event carried."""

    def test_get_and_list_return_the_step_as_its_post_did(self, client_a, plan_a):
        added = [add(client_a, plan_a.id, f"step {i}").json()["step"] for i in range(3)]
        got = client_a.get(f"/api/plan/{plan_a.id}").json()["steps"]
        listed = client_a.get("/api/plan/list").json()["plans"]
        assert got[-3:] == added
        assert [p["steps"][-3:] for p in listed if p["id"] == str(plan_a.id)] == [added]

    @pytest.mark.parametrize("microsecond", [0, 1, 999999])
    def test_timestamps_keep_their_microseconds_in_utc(self, client_a, plan_a, microsecond):
        import datetime

        ts = datetime.datetime(
            2026, 3, 29, 1, 30, 5, microsecond, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        )
        plan_a.steps.all().delete()
        step = PlanStep.objects.create(
            plan=plan_a, seq=1, text="t", owner="o", ts=ts, updated_at=ts, done_at=ts, position="a0"
        )
        [got] = client_a.get(f"/api/plan/{plan_a.id}").json()["steps"]
        utc = f"2026-03-28T23:30:05.{microsecond:06d}Z"
        assert got == {
            "id": str(step.id),
            "text": "t",
            "owner": "o",
            "ts": utc,
            "done": False,
            "done_by": None,
            "done_at": utc,
            "version": 1,
            "updated_at": utc,
        }


@pytest.mark.django_db
def test_a_viewer_reads_the_plan_with_can_write_false(make_client, vic, org_a, plan_a):
    body = make_client(vic, org_a).get(f"/api/plan/{plan_a.id}").json()
    assert body["can_write"] is False and len(body["steps"]) == 2


@pytest.mark.django_db
class TestStepPages:
    """A long plan read in pages (issue 19 item 2): `steps_limit`, then `steps_cursor` = `steps_next`."""

    @pytest.fixture
    def seven(self, org_a, alice, plan_a):
        for n in range(5):
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text=f"more {n}")
        first = plan_a.steps.order_by("position").first()
        services.update_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=first.id, done=True)
        last = plan_a.steps.order_by("-position").first()
        services.move_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=last.id, after=None)
        return plan_a

    def test_pages_add_up_to_the_whole_plan_in_its_order(self, client_a, seven):
        whole = client_a.get(f"/api/plan/{seven.id}").json()
        assert whole["steps_next"] is None and len(whole["steps"]) == 7
        pages, cursor = [], None
        while True:
            query = "?steps_limit=3" + (f"&steps_cursor={cursor}" if cursor else "")
            body = client_a.get(f"/api/plan/{seven.id}{query}").json()
            pages.append(body["steps"])
            assert body["progress"] == {"done": 1, "total": 7}  # the whole plan's, on every page
            cursor = body["steps_next"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [s for page in pages for s in page] == whole["steps"]

    def test_a_limit_as_large_as_the_plan_has_no_next_page(self, client_a, seven):
        body = client_a.get(f"/api/plan/{seven.id}?steps_limit=7").json()
        assert len(body["steps"]) == 7 and body["steps_next"] is None

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("steps_limit=0", "steps_limit"),
            ("steps_limit=abc", "steps_limit"),
            ("steps_limit=10001", "steps_limit"),
            ("steps_cursor=nope", "steps_cursor"),
            ("steps_cursor=a0.x", "steps_cursor"),
            ("steps_cursor=%00", "steps_cursor"),
        ],
    )
    def test_bad_paging_is_400_naming_the_parameter(self, client_a, seven, query, field):
        response = client_a.get(f"/api/plan/{seven.id}?{query}")
        assert response.status_code == 400 and field in response.json()
