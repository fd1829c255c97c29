"""aep.tenancy: an org id that cannot exist (NUL, control characters, spaces, too long) is a 4xx
wherever a client can send one, never a 5xx (DESIGN 14). On PostgreSQL a NUL in a query parameter
used to be a DataError: 503 "database unavailable" for the API, 500 for the org switcher."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import Client

from aep.tenancy import SESSION_ORG_KEY, valid_org_id
from tests.factories import token_for

BAD_ORG_IDS = ["\x00", "org-a\x00", "a\x00b", "\x01", "org a", "ORG-A", "-org", "x" * 64, "é", "\ud800"]


@pytest.mark.parametrize("org_id", BAD_ORG_IDS)
def test_an_impossible_org_id_is_not_valid(org_id: str) -> None:
    assert not valid_org_id(org_id)


@pytest.mark.parametrize("org_id", ["org-a", "a", "acme_2", "x" * 63])
def test_slugs_are_valid(org_id: str) -> None:
    assert valid_org_id(org_id)


@pytest.mark.django_db
class TestApi:
    @pytest.mark.parametrize("org_id", BAD_ORG_IDS[:5])
    def test_header_is_403_json(self, make_client, alice, org_id):
        client = make_client(alice)
        response = client.get("/api/plan/list", HTTP_X_ORG_ID=org_id)
        assert response.status_code == 403, response.content
        assert "detail" in response.json()

    @pytest.mark.parametrize("query", ["org=%00", "org=org-a%00", "org=%00%00", "org=a%01"])
    def test_query_parameter_is_4xx_json(self, make_client, alice, org_a, query):
        response = make_client(alice).get(f"/api/plan/list?{query}")
        assert 400 <= response.status_code < 500, response.content
        assert "detail" in response.json()

    def test_nul_with_an_unknown_token_is_4xx(self, make_client, org_a):
        client = make_client()
        client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        assert client.get("/api/plan/list?org=%00").status_code == 401
        assert client.get("/api/plan/list", HTTP_X_ORG_ID="a\x00").status_code == 401

    def test_nul_with_a_session_is_4xx(self, alice, org_a):
        client = Client()
        client.force_login(alice)
        response = client.get("/api/plan/list?org=%00")
        assert 400 <= response.status_code < 500

    def test_writes_are_refused_too(self, make_client, alice, org_a):
        response = make_client(alice).post(
            "/api/plan/start", {"title": "t"}, format="json", HTTP_X_ORG_ID="org-a\x00"
        )
        assert response.status_code == 403


@pytest.mark.django_db
class TestPages:
    @pytest.mark.parametrize("org_id", ["\x00", "org-a\x00", "a\x00b"])
    def test_org_switch_form_is_403_and_keeps_the_org(self, alice, org_a, org_id):
        client = Client()
        client.force_login(alice)
        client.get("/plans")
        response = client.post("/org/switch", {"org": org_id})
        assert response.status_code == 403
        assert client.session[SESSION_ORG_KEY] == "org-a"

    def test_a_page_with_a_nul_in_its_query_is_4xx(self, alice, org_a):
        client = Client()
        client.force_login(alice)
        response = client.get("/plans?org=%00&archived=%00")
        assert response.status_code < 500


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("query", [b"org=%00", b"org=org-a%00"])
def test_the_stream_refuses_a_nul_org_with_403_json(alice, org_a, plan_a, query):
    from aep.asgi import application

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(5)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/api/plan/{plan_a.id}/stream",
        "raw_path": f"/api/plan/{plan_a.id}/stream".encode(),
        "query_string": query,
        "headers": [(b"host", b"testserver"), (b"authorization", f"Token {token_for(alice)}".encode())],
    }
    asyncio.run(asyncio.wait_for(application(scope, receive, send), 10))
    assert sent[0]["status"] == 403
    assert "detail" in json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
