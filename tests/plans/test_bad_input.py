"""Bad input of every kind: always a JSON 4xx (never a 500), and nothing written.

Unknown fields are ignored the same way everywhere: the request succeeds and they are not stored.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from plans.models import LivePlan, PlanStep

JSON = "application/json"


def assert_json_4xx(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith(JSON)
    return response.json()


def post_raw(
    client: APIClient, target: str | tuple[str, str], body: str | bytes, content_type: str = JSON
) -> Any:
    """Send a raw body; `target` is a path (POST) or a (method, path) pair."""
    method, path = target if isinstance(target, tuple) else ("POST", target)
    return client.generic(method, path, body, content_type=content_type)


@pytest.fixture
def targets(plan_a) -> dict[str, str | tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every endpoint that takes a JSON body."""
    step = plan_a.steps.order_by("position").first()
    return {
        "start": "/api/plan/start",
        "step": "/api/plan/step",
        "archive": f"/api/plan/{plan_a.id}/archive",
        "plan_edit": ("PATCH", f"/api/plan/{plan_a.id}"),
        "step_edit": ("PATCH", f"/api/plan/{plan_a.id}/steps/{step.id}"),
        "step_move": f"/api/plan/{plan_a.id}/steps/{step.id}/move",
    }


WRITE_ENDPOINTS = ["start", "step", "archive", "plan_edit", "step_edit", "step_move"]


@pytest.mark.django_db
class TestUnparseableBodies:
    @pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
    @pytest.mark.parametrize(
        "body",
        [
            '{"title": "x"',
            "{title: 'x'}",
            '{"title": "x",}',
            "not json at all",
            '{"title": NaN}',
            '{"title": Infinity}',
            '{"plan_id": ' + "9" * 5000 + "}",
            b'{"title": "\xff\xfe"}',
        ],
        ids=[
            "truncated",
            "js-object",
            "trailing-comma",
            "plain-text",
            "nan",
            "infinity",
            "5000-digit-number",
            "invalid-utf8",
        ],
    )
    def test_malformed_json_is_400(self, client_a, targets, endpoint, body, db_state):
        before = db_state()
        response = post_raw(client_a, targets[endpoint], body)
        assert "detail" in assert_json_4xx(response, 400)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
    @pytest.mark.parametrize("depth", [5_000, 50_000])
    def test_deeply_nested_json_is_400(self, client_a, targets, endpoint, depth, db_state):
        before = db_state()
        response = post_raw(client_a, targets[endpoint], "[" * depth + "]" * depth)
        assert_json_4xx(response, 400)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
    @pytest.mark.parametrize(
        "body",
        ['["title", "x"]', '[{"title": "x"}]', '"a string"', "42", "0", "true", "false", "null", "[]", '""'],
    )
    def test_a_body_that_is_not_an_object_is_400(self, client_a, targets, endpoint, body, db_state):
        before = db_state()
        response = post_raw(client_a, targets[endpoint], body)
        assert_json_4xx(response, 400)
        assert db_state() == before


@pytest.mark.django_db
class TestWrongTypes:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"title": 123}, "title"),
            ({"title": 1.5}, "title"),
            ({"title": True}, "title"),
            ({"title": None}, "title"),
            ({"title": ["x"]}, "title"),
            ({"title": {"x": 1}}, "title"),
            ({"title": "x", "description": 7}, "description"),
            ({"title": "x", "description": None}, "description"),
            ({"title": "x", "participants": "a string"}, "participants"),
            ({"title": "x", "participants": [1, 2]}, "participants"),
            ({"title": "x", "participants": [None]}, "participants"),
            ({"title": "x", "participants": [["nested"]]}, "participants"),
            ({"title": "x", "participants": {"alice": 1}}, "participants"),
            ({"title": "x", "participants": 3}, "participants"),
        ],
        ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
    )
    def test_start(self, client_a, body, field, db_state):
        before = db_state()
        response = client_a.post("/api/plan/start", body, format="json")
        assert field in assert_json_4xx(response, 400)
        assert db_state() == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"text": {}}, "text"),
            ({"text": []}, "text"),
            ({"text": 5}, "text"),
            ({"text": False}, "text"),
            ({"text": None}, "text"),
            ({"text": "x", "owner": 5}, "owner"),
            ({"text": "x", "owner": ["a"]}, "owner"),
            ({"text": "x", "plan_id": 42}, "plan_id"),
            ({"text": "x", "plan_id": 0}, "plan_id"),
            ({"text": "x", "plan_id": True}, "plan_id"),
            ({"text": "x", "plan_id": None}, "plan_id"),
            ({"text": "x", "plan_id": ["PLAN"]}, "plan_id"),
            ({"text": "x", "plan_id": {"id": "PLAN"}}, "plan_id"),
        ],
        ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
    )
    def test_step(self, client_a, plan_a, body, field, db_state):
        body = {"plan_id": str(plan_a.id), **body}
        if body["plan_id"] == ["PLAN"]:
            body["plan_id"] = [str(plan_a.id)]
        elif body["plan_id"] == {"id": "PLAN"}:
            body["plan_id"] = {"id": str(plan_a.id)}
        before = db_state()
        response = client_a.post("/api/plan/step", body, format="json")
        assert field in assert_json_4xx(response, 400)
        assert db_state() == before

    @pytest.mark.parametrize("context_id", [42, True, "not-a-uuid", ["x"], {"id": 1}])
    def test_archive_context_id(self, client_a, plan_a, context_id, db_state):
        before = db_state()
        response = client_a.post(f"/api/plan/{plan_a.id}/archive", {"context_id": context_id}, format="json")
        assert "context_id" in assert_json_4xx(response, 400)
        assert db_state() == before


@pytest.mark.django_db
class TestIds:
    @pytest.mark.parametrize(
        "plan_id",
        [
            "not-a-uuid",
            "",
            "1234",
            "00000000-0000-0000-0000-00000000000g",
            "00000000-0000-0000-0000-0000000000001",
            "x" * 5000,
            "' OR 1=1 --",
        ],
        ids=["word", "empty", "digits", "bad-hex", "too-long", "huge", "sql"],
    )
    def test_non_uuid_plan_id_in_the_body_is_400_naming_plan_id(self, client_a, plan_a, plan_id, db_state):
        before = db_state()
        response = client_a.post("/api/plan/step", {"plan_id": plan_id, "text": "x"}, format="json")
        assert "plan_id" in assert_json_4xx(response, 400)
        assert db_state() == before

    @pytest.mark.parametrize(
        "segment",
        [
            "not-a-uuid",
            "1234",
            "00000000-0000-0000-0000-00000000000g",
            "x" * 3000,
            "%27%20OR%201%3D1",
            "%00",
            "%ED%A0%80",
            "%F0%9F%98%80",
        ],
        ids=["word", "digits", "bad-hex", "huge", "sql", "nul", "encoded-surrogate", "emoji"],
    )
    @pytest.mark.parametrize("endpoint", ["get", "archive"])
    def test_non_uuid_ids_in_urls_are_json_404(self, client_a, plan_a, segment, endpoint, db_state):
        before = db_state()
        if endpoint == "get":
            response = client_a.get(f"/api/plan/{segment}")
        else:
            response = client_a.post(f"/api/plan/{segment}/archive", {}, format="json")
        assert assert_json_4xx(response, 404) == {"detail": "Plan not found."}
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ["get", "archive", "step"])
    def test_uuid_in_another_spelling_finds_the_plan(self, client_a, plan_a, endpoint):
        """Upper case and without dashes are the same UUID, not bad input."""
        for spelling in (str(plan_a.id).upper(), plan_a.id.hex):
            if endpoint == "get":
                response = client_a.get(f"/api/plan/{spelling}")
            elif endpoint == "archive":
                response = client_a.post(f"/api/plan/{spelling}/archive", {}, format="json")
            else:
                response = client_a.post("/api/plan/step", {"plan_id": spelling, "text": "x"}, format="json")
            assert response.status_code == 200, response.content


@pytest.mark.django_db
class TestUnknownFields:
    def test_start_ignores_unknown_fields_and_does_not_store_them(self, client_a, org_a, alice):
        foreign_id = str(uuid.uuid4())
        response = client_a.post(
            "/api/plan/start",
            {
                "title": "Real",
                "id": foreign_id,
                "org_id": "org-b",
                "org": "org-b",
                "archived": True,
                "steps": [{"text": "smuggled"}],
                "step_count": 99,
                "created_by": 12345,
                "memory_node_id": foreign_id,
                "color": "red",
            },
            format="json",
        )
        assert response.status_code == 200, response.content
        plan = LivePlan.objects.get(id=response.json()["plan_id"])
        assert str(plan.id) != foreign_id
        assert (plan.org, plan.archived, plan.step_count, plan.created_by, plan.memory_node_id) == (
            org_a,
            False,
            0,
            alice,
            None,
        )
        assert not plan.steps.exists()
        body = client_a.get(f"/api/plan/{plan.id}").json()
        assert "color" not in body and body["steps"] == []

    def test_step_ignores_unknown_fields_and_does_not_store_them(self, client_a, plan_a, alice):
        foreign_id = str(uuid.uuid4())
        response = client_a.post(
            "/api/plan/step",
            {
                "plan_id": str(plan_a.id),
                "text": "Real",
                "id": foreign_id,
                "seq": 1,
                "ts": "2001-01-01T00:00:00Z",
            },
            format="json",
        )
        assert response.status_code == 200, response.content
        step = PlanStep.objects.get(id=response.json()["step"]["id"])
        assert str(step.id) != foreign_id
        assert step.seq == 3
        assert step.created_by == alice
        assert not step.ts.isoformat().startswith("2001")

    def test_archive_ignores_unknown_fields(self, client_a, plan_a):
        response = client_a.post(
            f"/api/plan/{plan_a.id}/archive", {"memory_node_id": str(uuid.uuid4()), "x": 1}, format="json"
        )
        assert response.status_code == 200, response.content
        plan_a.refresh_from_db()
        assert str(plan_a.memory_node_id) == response.json()["memory_node_id"]


@pytest.mark.django_db
class TestText:
    @pytest.mark.parametrize(
        ("endpoint", "field"),
        [
            ("start", "title"),
            ("start", "description"),
            ("start", "participants"),
            ("step", "text"),
            ("step", "owner"),
        ],
    )
    def test_a_nul_character_is_400(self, client_a, plan_a, endpoint, field, db_state):
        before = db_state()
        response = self._send(client_a, plan_a, endpoint, field, "ab\u0000cd")
        assert field in assert_json_4xx(response, 400)
        assert db_state() == before

    @pytest.mark.parametrize(
        ("endpoint", "field"),
        [
            ("start", "title"),
            ("start", "description"),
            ("start", "participants"),
            ("step", "text"),
            ("step", "owner"),
            ("step", "plan_id"),
            ("archive", "context_id"),
        ],
    )
    @pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\ud83dy"], ids=["high", "low", "split-pair"])
    def test_a_lone_surrogate_is_400_not_500(self, client_a, plan_a, endpoint, field, escape, db_state):
        value = f'"{escape}"'
        if field == "participants":
            value = f"[{value}]"
        body = {
            "start": '{"title": "ok", "%s": %s}',
            "step": '{"plan_id": "' + str(plan_a.id) + '", "text": "ok", "%s": %s}',
            "archive": '{"%s": %s}',
        }[endpoint] % (field, value)
        path = f"/api/plan/{plan_a.id}/archive" if endpoint == "archive" else f"/api/plan/{endpoint}"
        before = db_state()
        response = post_raw(client_a, path, body)
        assert field in assert_json_4xx(response, 400)
        assert db_state() == before

    def test_an_escaped_surrogate_pair_is_a_valid_character(self, client_a):
        response = post_raw(client_a, "/api/plan/start", '{"title": "ok \\ud83d\\ude00"}')
        assert response.status_code == 200, response.content
        assert LivePlan.objects.get(id=response.json()["plan_id"]).title == "ok \U0001f600"

    @staticmethod
    def _send(client, plan, endpoint, field, value):  # type: ignore[no-untyped-def]
        if endpoint == "start":
            body = {"title": "ok", field: [value] if field == "participants" else value}
            return client.post("/api/plan/start", body, format="json")
        return client.post(
            "/api/plan/step", {"plan_id": str(plan.id), "text": "ok", field: value}, format="json"
        )


@pytest.mark.django_db
class TestMediaTypes:
    @pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
    def test_form_encoded_body_is_415(self, client_a, targets, plan_a, endpoint, db_state):
        before = db_state()
        body = urlencode({"title": "x", "plan_id": str(plan_a.id), "text": "x"})
        response = post_raw(client_a, targets[endpoint], body, "application/x-www-form-urlencoded")
        assert "detail" in assert_json_4xx(response, 415)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
    @pytest.mark.parametrize(
        "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml", "text/html"]
    )
    def test_other_media_types_are_415(self, client_a, targets, plan_a, endpoint, content_type, db_state):
        before = db_state()
        body = json.dumps({"title": "x", "plan_id": str(plan_a.id), "text": "x"})
        response = post_raw(client_a, targets[endpoint], body, content_type=content_type)
        assert_json_4xx(response, 415)
        assert db_state() == before

    def test_json_with_a_charset_is_accepted(self, client_a):
        response = post_raw(
            client_a, "/api/plan/start", json.dumps({"title": "x"}), "application/json; charset=utf-8"
        )
        assert response.status_code == 200, response.content


@pytest.mark.django_db
class TestMethods:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/api/plan/start"),
            ("put", "/api/plan/start"),
            ("get", "/api/plan/step"),
            ("patch", "/api/plan/step"),
            ("delete", "/api/plan/{id}"),
            ("put", "/api/plan/{id}"),
            ("post", "/api/plan/{id}"),
            ("get", "/api/plan/{id}/archive"),
            ("delete", "/api/plan/{id}/archive"),
            ("post", "/api/plan/list"),
            ("delete", "/api/plan/list"),
        ],
    )
    def test_wrong_method_is_json_405(self, client_a, plan_a, method, path, db_state):
        before = db_state()
        response = getattr(client_a, method)(path.format(id=plan_a.id), {}, format="json")
        assert_json_4xx(response, 405)
        assert method.upper() not in response["Allow"]
        assert db_state() == before
        plan_a.refresh_from_db()
        assert not plan_a.archived


@pytest.mark.django_db
class TestSizeAndPaths:
    @pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
    def test_a_body_over_the_upload_limit_is_refused(
        self, client_a, targets, plan_a, endpoint, settings, db_state
    ):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
        body = json.dumps({"title": "x", "plan_id": str(plan_a.id), "text": "x", "padding": "p" * 4096})
        before = db_state()
        response = post_raw(client_a, targets[endpoint], body)
        assert_json_4xx(response, 400, 413)
        assert db_state() == before

    def test_a_body_under_the_upload_limit_is_accepted(self, client_a, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
        response = post_raw(client_a, "/api/plan/start", json.dumps({"title": "x", "padding": "p" * 900}))
        assert response.status_code == 200, response.content

    @pytest.mark.parametrize(
        "path",
        [
            "/api/nope",
            "/api/plan",
            "/api/plan/",
            "/api/plan/start/",
            "/api/plan/list/extra",
            "/api/plan/{id}/archive/now",
            "/api/plan/{id}/steps",
            "/api/memory/nope",
        ],
    )
    @pytest.mark.parametrize("method", ["get", "post"])
    def test_unknown_api_path_is_json_404(self, client_a, plan_a, path, method, db_state):
        before = db_state()
        response = getattr(client_a, method)(path.format(id=plan_a.id), {}, format="json")
        assert assert_json_4xx(response, 404) == {"detail": "Not found."}
        assert db_state() == before

    def test_unknown_api_path_is_json_404_without_credentials(self, db):
        response = APIClient().get("/api/does/not/exist")
        assert assert_json_4xx(response, 404) == {"detail": "Not found."}
