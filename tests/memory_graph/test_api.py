"""The memory graph API as a client sees it: search and node detail (DESIGN 4, 6)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

import pytest

from memory_graph.services import create_node, link
from plans import services as plan_services
from tests.memory_graph.test_search import HOSTILE

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def search(client, **params):  # type: ignore[no-untyped-def]
    return client.get(f"/api/memory/search?{urlencode(params)}")


@pytest.fixture
def nodes(org_a, org_b, archive):  # type: ignore[no-untyped-def]
    return {
        "auth": archive(
            org_a,
            "Authentication service",
            ["Design the token schema", "Write the migration"],
            participants=["alice", "bob"],
        ),
        "billing": archive(org_a, "Billing revamp", ["Move invoices to the authentication provider"]),
        "note": create_node(org=org_a, kind="note", content="Authentication review notes"),
        "secret": archive(org_b, "Authentication for B", ["B's secret authentication step"]),
    }


@pytest.mark.django_db
class TestSearch:
    def test_results_best_first_with_the_contract_shape(self, client_a, nodes):
        response = search(client_a, q="authentication", kind="plan_session")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        first, second = body["results"]
        assert [first["id"], second["id"]] == [str(nodes["auth"].id), str(nodes["billing"].id)]
        assert set(first) == {
            *("id", "org_id", "kind", "title", "content", "metadata", "created_at", "rank"),
            *("match", "snippet"),
        }
        assert first["rank"] > second["rank"]
        assert (first["org_id"], first["kind"], first["title"]) == (
            "org-a",
            "plan_session",
            "Authentication service",
        )
        assert ISO_UTC.match(first["created_at"])

    def test_a_result_has_what_a_list_shows(self, client_a, nodes):
        result = search(client_a, q="token").json()["results"][0]
        assert result["title"] == "Authentication service"
        assert result["metadata"]["step_count"] == 2
        assert {"alice", "bob"} <= set(result["metadata"]["participants"])
        assert ISO_UTC.match(result["metadata"]["archived_at"])
        steps = json.loads(result["content"])["steps"]
        assert steps[0]["text"] == "Design the token schema"

    def test_only_the_requested_orgs_nodes(self, client_a, make_client, carol, nodes):
        ids = {r["id"] for r in search(client_a, q="authentication").json()["results"]}
        assert str(nodes["secret"].id) not in ids
        assert len(ids) == 3
        as_b = search(make_client(carol, "org-b"), q="authentication").json()
        assert [r["id"] for r in as_b["results"]] == [str(nodes["secret"].id)]

    def test_kind_filters(self, client_a, nodes):
        body = search(client_a, q="authentication", kind="note").json()
        assert [r["id"] for r in body["results"]] == [str(nodes["note"].id)]
        assert search(client_a, q="authentication", kind="").json()["count"] == 3

    def test_limit(self, client_a, org_a):
        for i in range(25):
            create_node(org=org_a, kind="note", content=f"common text {i}")
        assert search(client_a, q="common").json()["count"] == 20
        assert search(client_a, q="common", limit=5).json()["count"] == 5
        assert search(client_a, q="common", limit=100).json()["count"] == 25

    def test_missing_q_is_400_naming_q(self, client_a):
        response = client_a.get("/api/memory/search")
        assert response.status_code == 400
        assert "q" in response.json()

    @pytest.mark.parametrize("q", ["", "   ", "the of and", "!!! ???"])
    def test_nothing_searchable_is_an_empty_result(self, client_a, nodes, q):
        response = search(client_a, q=q)
        assert response.status_code == 200
        assert response.json() == {"results": [], "count": 0}

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=1.5", "limit=-3"])
    def test_bad_limit_is_400_naming_limit(self, client_a, query):
        response = client_a.get(f"/api/memory/search?q=x&{query}")
        assert response.status_code == 400
        assert "limit" in response.json()

    def test_overlong_kind_is_400_naming_kind(self, client_a):
        response = search(client_a, q="x", kind="k" * 65)
        assert response.status_code == 400
        assert "kind" in response.json()

    def test_null_byte_is_400_naming_q(self, client_a):
        response = client_a.get("/api/memory/search?q=auth%00token")
        assert response.status_code == 400
        assert "q" in response.json()

    def test_overlong_query_is_400_naming_q(self, client_a):
        response = search(client_a, q="word " * 200)
        assert response.status_code == 400
        assert "q" in response.json()

    @pytest.mark.parametrize(
        "q", [h for h in HOSTILE if "\x00" not in h and "\ud800" not in h and len(h) <= 500]
    )
    def test_hostile_queries_never_fail(self, client_a, nodes, q):
        response = search(client_a, q=q)
        assert response.status_code == 200
        assert response.json()["count"] == len(response.json()["results"])

    def test_raw_hostile_bytes_in_the_url_never_fail(self, client_a, nodes):
        for raw in ["%27", "%22a%22%20%26%20%7C%20!%20%3A*%20(%20)", "%ff%fe", "%ED%A0%80", "%E2%80%AE"]:
            assert client_a.get(f"/api/memory/search?q={raw}").status_code == 200, raw


@pytest.mark.django_db
class TestNodeDetail:
    def test_node_with_edges_both_ways(self, client_a, org_a, alice, plan_a):
        context = create_node(org=org_a, kind="note", content="earlier design")
        plan = plan_services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id, context_id=context.id)
        follow_up = create_node(org=org_a, kind="note", content="follow-up")
        link(source=plan.memory_node, target=follow_up, kind="led_to")

        body = client_a.get(f"/api/memory/nodes/{plan.memory_node_id}").json()
        assert {k for k in body} >= {
            "id",
            "org_id",
            "kind",
            "content",
            "metadata",
            "created_at",
            "edges_out",
            "edges_in",
        }
        assert body["id"] == str(plan.memory_node_id) and body["org_id"] == "org-a"
        assert body["kind"] == "plan_session" and body["title"] == "Auth service"
        assert body["metadata"]["plan_id"] == str(plan_a.id)
        assert ISO_UTC.match(body["created_at"])
        [edge_in] = body["edges_in"]
        assert (edge_in["source_id"], edge_in["kind"]) == (str(context.id), "used_in_planning")
        assert set(edge_in) == {"id", "kind", "source_id", "created_at"} and ISO_UTC.match(
            edge_in["created_at"]
        )
        [edge_out] = body["edges_out"]
        assert (edge_out["target_id"], edge_out["kind"]) == (str(follow_up.id), "led_to")
        assert set(edge_out) == {"id", "kind", "target_id", "created_at"}

        context_body = client_a.get(f"/api/memory/nodes/{context.id}").json()
        assert [e["target_id"] for e in context_body["edges_out"]] == [str(plan.memory_node_id)]
        assert context_body["edges_in"] == []

    def test_unknown_node_is_404(self, client_a):
        response = client_a.get(f"/api/memory/nodes/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Memory node not found."}

    @pytest.mark.parametrize("node_id", ["not-a-uuid", "1", "%27", "x" * 300])
    def test_malformed_id_is_json_404(self, client_a, node_id):
        response = client_a.get(f"/api/memory/nodes/{node_id}")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")

    def test_another_orgs_node_is_404_as_if_it_did_not_exist(self, client_a, nodes):
        response = client_a.get(f"/api/memory/nodes/{nodes['secret'].id}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Memory node not found."}
        assert "secret" not in response.content.decode()

    def test_member_of_both_sees_each_node_only_in_its_org(self, make_client, carol, nodes):
        secret = nodes["secret"].id
        assert make_client(carol, "org-b").get(f"/api/memory/nodes/{secret}").status_code == 200
        assert make_client(carol, "org-a").get(f"/api/memory/nodes/{secret}").status_code == 404


@pytest.mark.django_db
class TestAccess:
    @pytest.fixture
    def urls(self, nodes):  # type: ignore[no-untyped-def]
        return ["/api/memory/search?q=authentication", f"/api/memory/nodes/{nodes['auth'].id}"]

    def test_no_credentials_is_401(self, make_client, urls):
        for url in urls:
            assert make_client(None, "org-a").get(url).status_code == 401, url

    def test_bad_token_is_401(self, make_client, urls):
        client = make_client(None, "org-a")
        client.credentials(HTTP_AUTHORIZATION="Token nope")
        for url in urls:
            assert client.get(url).status_code == 401, url

    def test_bearer_token_is_accepted(self, make_client, alice, urls):
        from tests.factories import token_for

        client = make_client(None, "org-a")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
        for url in urls:
            assert client.get(url).status_code == 200, url

    def test_missing_org_is_400_with_the_contract_message(self, make_client, alice, urls):
        for url in urls:
            response = make_client(alice).get(url)
            assert response.status_code == 400, url
            assert response.json() == {"detail": "X-Org-Id header required"}

    def test_org_may_come_from_the_query_string(self, make_client, alice, urls):
        for url in urls:
            assert make_client(alice).get(f"{url}{'&' if '?' in url else '?'}org=org-a").status_code == 200

    def test_not_a_member_is_403(self, make_client, bob, sam, urls):
        for user in (bob, sam):
            for url in urls:
                assert make_client(user, "org-a").get(url).status_code == 403, url

    def test_unknown_org_is_403(self, make_client, alice, urls):
        for url in urls:
            assert make_client(alice, "no-such-org").get(url).status_code == 403, url

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_read_only_endpoints_refuse_writes(self, client_a, urls, method):
        for url in urls:
            assert getattr(client_a, method)(url, {}, format="json").status_code == 405, url


@pytest.mark.django_db
def test_endpoints_are_in_the_openapi_schema(client_a):
    response = client_a.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    search_params = {p["name"] for p in paths["/api/memory/search"]["get"]["parameters"]}
    assert {"q", "kind", "limit", "X-Org-Id", "org"} <= search_params
    assert "/api/memory/nodes/{node_id}" in paths
