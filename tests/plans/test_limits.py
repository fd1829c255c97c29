"""Every field limit of DESIGN 4, at the boundary and one past it, through the API.

At the limit the value is stored whole; one past it is a 400 naming the field, and nothing is written.
Limits count characters, not bytes.
"""

from __future__ import annotations

import pytest

from plans.models import LivePlan, PlanStep


def start(client, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/plan/start", body, format="json")


def add(client, plan_id, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/plan/step", {"plan_id": str(plan_id), **body}, format="json")


def assert_refused_naming(response, field, db_state, before):  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()
    assert db_state() == before


# Characters of different UTF-8 widths: a limit of N characters must accept N of any of them.
CHARS = ["a", "\u00e9", "\u20ac", "\U0001f600"]


@pytest.mark.django_db
class TestPlanFields:
    @pytest.mark.parametrize(("field", "limit"), [("title", 255), ("description", 2000)])
    @pytest.mark.parametrize("char", CHARS, ids=["1-byte", "2-byte", "3-byte", "4-byte"])
    def test_at_the_limit_is_stored_whole(self, client_a, field, limit, char):
        value = char * limit
        body = {"title": "t", field: value}
        response = start(client_a, **body)
        assert response.status_code == 200, response.content
        plan = LivePlan.objects.get(id=response.json()["plan_id"])
        assert getattr(plan, field) == value
        assert client_a.get(f"/api/plan/{plan.id}").json()[field] == value

    @pytest.mark.parametrize(("field", "limit"), [("title", 255), ("description", 2000)])
    @pytest.mark.parametrize("char", ["a", "\U0001f600"], ids=["1-byte", "4-byte"])
    def test_one_past_the_limit_is_400_naming_the_field(self, client_a, field, limit, char, db_state):
        before = db_state()
        response = start(client_a, **{"title": "t", field: char * (limit + 1)})
        assert_refused_naming(response, field, db_state, before)
        assert set(response.json()) == {field}

    def test_participants_50_names_are_stored(self, client_a):
        names = [f"person-{i:02d}" for i in range(50)]
        response = start(client_a, title="t", participants=names)
        assert response.status_code == 200, response.content
        assert LivePlan.objects.get(id=response.json()["plan_id"]).participants == names

    def test_participants_51_names_are_400(self, client_a, db_state):
        before = db_state()
        response = start(client_a, title="t", participants=[f"person-{i:02d}" for i in range(51)])
        assert_refused_naming(response, "participants", db_state, before)

    def test_participant_name_of_100_chars_is_stored(self, client_a):
        name = "p" * 99 + "\U0001f600"
        response = start(client_a, title="t", participants=["alice", name])
        assert response.status_code == 200, response.content
        assert LivePlan.objects.get(id=response.json()["plan_id"]).participants == ["alice", name]

    def test_participant_name_of_101_chars_is_400(self, client_a, db_state):
        before = db_state()
        response = start(client_a, title="t", participants=["alice", "p" * 101])
        assert_refused_naming(response, "participants", db_state, before)

    def test_blanks_around_a_title_do_not_count(self, client_a):
        response = start(client_a, title="  " + "a" * 255 + "  ")
        assert response.status_code == 200, response.content
        assert LivePlan.objects.get(id=response.json()["plan_id"]).title == "a" * 255


@pytest.mark.django_db
class TestStepFields:
    @pytest.mark.parametrize("char", CHARS, ids=["1-byte", "2-byte", "3-byte", "4-byte"])
    def test_text_of_1000_chars_is_stored_whole(self, client_a, plan_a, char):
        text = char * 1000
        response = add(client_a, plan_a.id, text=text)
        assert response.status_code == 200, response.content
        assert response.json()["step"]["text"] == text
        assert PlanStep.objects.get(id=response.json()["step"]["id"]).text == text
        assert client_a.get(f"/api/plan/{plan_a.id}").json()["steps"][-1]["text"] == text

    @pytest.mark.parametrize("char", ["a", "\U0001f600"], ids=["1-byte", "4-byte"])
    def test_text_of_1001_chars_is_400(self, client_a, plan_a, char, db_state):
        before = db_state()
        response = add(client_a, plan_a.id, text=char * 1001)
        assert_refused_naming(response, "text", db_state, before)

    @pytest.mark.parametrize("char", CHARS, ids=["1-byte", "2-byte", "3-byte", "4-byte"])
    def test_owner_of_100_chars_is_stored_whole(self, client_a, plan_a, char):
        owner = char * 100
        response = add(client_a, plan_a.id, text="x", owner=owner)
        assert response.status_code == 200, response.content
        assert response.json()["step"]["owner"] == owner
        assert PlanStep.objects.get(id=response.json()["step"]["id"]).owner == owner
        plan_a.refresh_from_db()
        assert owner in plan_a.participants

    @pytest.mark.parametrize("char", ["a", "\U0001f600"], ids=["1-byte", "4-byte"])
    def test_owner_of_101_chars_is_400(self, client_a, plan_a, char, db_state):
        before = db_state()
        response = add(client_a, plan_a.id, text="x", owner=char * 101)
        assert_refused_naming(response, "owner", db_state, before)

    def test_both_fields_over_the_limit_are_both_named(self, client_a, plan_a, db_state):
        before = db_state()
        response = add(client_a, plan_a.id, text="t" * 1001, owner="o" * 101)
        assert_refused_naming(response, "text", db_state, before)
        assert "owner" in response.json()
