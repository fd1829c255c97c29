"""Who may call which plan endpoint, for which org (DESIGN 3), on EVERY endpoint of the plan API.

Each refused request is also checked to have written nothing at all.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from plans import services
from plans.models import LivePlan, PlanStep
from tests.factories import MembershipFactory, UserFactory, token_for

# name -> (method, path, body); "{id}" is the target plan's id, "{plan_id}" in a body too.
ENDPOINTS: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "start": ("post", "/api/plan/start", {"title": "Intruder plan"}),
    "get": ("get", "/api/plan/{id}", None),
    "step": ("post", "/api/plan/step", {"plan_id": "{id}", "text": "Intruder step"}),
    "archive": ("post", "/api/plan/{id}/archive", {}),
    "list": ("get", "/api/plan/list", None),
}
ALL = list(ENDPOINTS)
ON_A_PLAN = ["get", "step", "archive"]
UNSAFE = ["start", "step", "archive"]

# What org A's plan (plan_a) would leak if a refused response carried any of it.
ORG_A_DATA = ["Auth service", "Design the token schema", "Write the migration", "org-a", "alice", "Alice"]


def call(client: APIClient, endpoint: str, plan: Any, **extra: Any) -> Any:
    method, path, body = ENDPOINTS[endpoint]
    url = path.format(id=plan.id)
    if method == "get":
        return client.get(url, **extra)
    data = {key: value.format(id=plan.id) for key, value in (body or {}).items()}
    return client.post(url, data, format="json", **extra)


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "detail" in body
    return body


def assert_no_org_a_data(response: Any) -> None:
    text = response.content.decode()
    for fragment in ORG_A_DATA:
        assert fragment not in text


def header_client(header: str, org: str | None = "org-a", **kwargs: Any) -> APIClient:
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=header)
    if org is not None:
        client.defaults["HTTP_X_ORG_ID"] = org
    return client


@pytest.mark.django_db
class TestAuthentication:
    @pytest.mark.parametrize("endpoint", ALL)
    def test_no_credentials_is_401_with_a_challenge(self, endpoint, make_client, org_a, plan_a, db_state):
        before = db_state()
        response = call(make_client(None, org_a), endpoint, plan_a)
        assert_json_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Token")
        assert_no_org_a_data(response)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ALL)
    @pytest.mark.parametrize(
        "header",
        [
            "Token not-a-real-key",
            "Bearer not-a-real-key",
            "Token",
            "Token two parts",
            "Token \u00e9t\u00e9",
        ],
        ids=["unknown-token", "unknown-bearer", "no-key", "too-many-parts", "non-ascii-key"],
    )
    def test_a_bad_token_is_401(self, endpoint, header, plan_a, db_state):
        before = db_state()
        response = call(header_client(header), endpoint, plan_a)
        assert_json_error(response, 401)
        assert_no_org_a_data(response)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ALL)
    def test_the_token_of_an_inactive_user_is_401(self, endpoint, alice, plan_a, db_state):
        key = token_for(alice)
        alice.is_active = False
        alice.save()
        before = db_state()
        response = call(header_client(f"Token {key}"), endpoint, plan_a)
        assert_json_error(response, 401)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ALL)
    def test_a_bad_token_is_refused_even_with_a_valid_session(self, endpoint, alice, plan_a, db_state):
        """A request that sends a token is judged by the token, not by a session beside it."""
        client = header_client("Token not-a-real-key")
        client.force_login(alice)
        before = db_state()
        assert_json_error(call(client, endpoint, plan_a), 401)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ALL)
    @pytest.mark.parametrize("keyword", ["Bearer", "bearer", "Token", "token"])
    def test_bearer_works_like_token(self, endpoint, keyword, alice, plan_a):
        response = call(header_client(f"{keyword} {token_for(alice)}"), endpoint, plan_a)
        assert response.status_code == 200, response.content
        body = response.json()
        if endpoint == "start":
            plan = LivePlan.objects.get(id=body["plan_id"])
            assert (plan.org_id, plan.created_by, plan.title) == ("org-a", alice, "Intruder plan")
        elif endpoint == "get":
            assert body["id"] == str(plan_a.id)
        elif endpoint == "step":
            step = PlanStep.objects.get(id=body["step"]["id"])
            assert (step.plan_id, step.created_by, step.owner) == (plan_a.id, alice, "Alice Archer")
        elif endpoint == "archive":
            assert body["plan_id"] == str(plan_a.id)
            plan_a.refresh_from_db()
            assert plan_a.archived
        else:
            assert [p["id"] for p in body["plans"]] == [str(plan_a.id)]


@pytest.mark.django_db
class TestOrgResolution:
    @pytest.mark.parametrize("endpoint", ALL)
    @pytest.mark.parametrize("org", [None, "", "   "], ids=["absent", "empty", "blank"])
    def test_missing_org_is_400_with_the_contract_message(self, endpoint, org, alice, plan_a, db_state):
        client = header_client(f"Token {token_for(alice)}", org=org)
        before = db_state()
        response = call(client, endpoint, plan_a)
        assert_json_error(response, 400)
        assert response.json() == {"detail": "X-Org-Id header required"}
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ALL)
    def test_non_member_is_403(self, endpoint, make_client, bob, plan_a, db_state):
        before = db_state()
        response = call(make_client(bob, "org-a"), endpoint, plan_a)
        assert_json_error(response, 403)
        assert_no_org_a_data(response)
        assert db_state() == before
        plan_a.refresh_from_db()
        assert not plan_a.archived

    @pytest.mark.parametrize("endpoint", ALL)
    @pytest.mark.parametrize(
        "org", ["org-zzz", "ORG-A", "x" * 64, "x" * 5000, "\u00f6rg"], ids=lambda o: o[:12]
    )
    def test_unknown_org_is_403(self, endpoint, org, make_client, alice, plan_a, db_state):
        before = db_state()
        assert_json_error(call(make_client(alice, org), endpoint, plan_a), 403)
        assert db_state() == before

    def test_blanks_around_the_org_id_are_ignored(self, make_client, alice, plan_a):
        assert call(make_client(alice, " org-a "), "get", plan_a).status_code == 200

    @pytest.mark.parametrize("endpoint", ALL)
    def test_unknown_org_and_foreign_org_look_the_same(self, endpoint, make_client, bob, org_a, plan_a):
        """Nobody can probe which org ids exist."""
        foreign = call(make_client(bob, "org-a"), endpoint, plan_a)
        unknown = call(make_client(bob, "org-nope"), endpoint, plan_a)
        assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())

    @pytest.mark.parametrize("endpoint", ALL)
    def test_non_member_via_query_parameter_is_403(self, endpoint, make_client, bob, plan_a, db_state):
        method, path, _ = ENDPOINTS[endpoint]
        before = db_state()
        client = make_client(bob)
        url = path.format(id=plan_a.id) + "?org=org-a"
        if method == "get":
            response = client.get(url)
        else:
            body = {"title": "x"} if endpoint == "start" else {"plan_id": str(plan_a.id), "text": "x"}
            response = client.post(url, body, format="json")
        assert_json_error(response, 403)
        assert db_state() == before

    def test_header_wins_over_query_parameter(self, make_client, bob, plan_a, db_state):
        """bob cannot reach org A by adding ?org=org-a beside his own org's header."""
        before = db_state()
        response = make_client(bob, "org-b").get(f"/api/plan/{plan_a.id}?org=org-a")
        assert_json_error(response, 404)
        assert_no_org_a_data(response)
        assert db_state() == before


@pytest.mark.django_db
class TestCrossOrg:
    @pytest.mark.parametrize("endpoint", ON_A_PLAN)
    def test_another_orgs_plan_is_404_exactly_like_a_missing_one(
        self, endpoint, make_client, bob, plan_a, plan_b, db_state
    ):
        client = make_client(bob, "org-b")
        before = db_state()
        response = call(client, endpoint, plan_a)
        assert_json_error(response, 404)
        assert_no_org_a_data(response)
        assert db_state() == before
        missing = call(client, endpoint, LivePlan(id=uuid.uuid4()))
        assert (missing.status_code, missing.json()) == (response.status_code, response.json())

    def test_list_shows_nothing_of_another_org(self, make_client, bob, plan_a, plan_b):
        response = make_client(bob, "org-b").get("/api/plan/list")
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["plans"]] == [str(plan_b.id)]
        assert response.json()["count"] == 1
        assert_no_org_a_data(response)

    @pytest.mark.parametrize("endpoint", ON_A_PLAN)
    def test_staff_is_not_a_tenancy_bypass(self, endpoint, make_client, sam, plan_a, db_state):
        before = db_state()
        response = call(make_client(sam, "org-b"), endpoint, plan_a)
        assert_json_error(response, 404)
        assert_no_org_a_data(response)
        assert_json_error(call(make_client(sam, "org-a"), endpoint, plan_a), 403)
        assert db_state() == before

    def test_staff_lists_only_their_org(self, make_client, sam, plan_a, plan_b):
        body = make_client(sam, "org-b").get("/api/plan/list").json()
        assert [p["id"] for p in body["plans"]] == [str(plan_b.id)]


@pytest.mark.django_db
class TestMemberOfTwoOrgs:
    def test_carol_sees_a_plan_only_in_its_org(self, make_client, carol, plan_a, plan_b):
        in_a = make_client(carol, "org-a").get(f"/api/plan/{plan_a.id}")
        assert in_a.status_code == 200
        assert in_a.json()["title"] == "Auth service"
        in_b = make_client(carol, "org-b").get(f"/api/plan/{plan_a.id}")
        assert_json_error(in_b, 404)
        assert_no_org_a_data(in_b)

    def test_carols_list_follows_the_org_header(self, make_client, carol, plan_a, plan_b):
        list_b = make_client(carol, "org-b").get("/api/plan/list").json()
        assert [p["id"] for p in list_b["plans"]] == [str(plan_b.id)]
        list_a = make_client(carol, "org-a").get("/api/plan/list").json()
        assert [p["id"] for p in list_a["plans"]] == [str(plan_a.id)]

    def test_carol_writes_to_a_plan_only_through_its_org(self, make_client, carol, plan_a, db_state):
        before = db_state()
        wrong = call(make_client(carol, "org-b"), "step", plan_a)
        assert_json_error(wrong, 404)
        assert db_state() == before
        right = call(make_client(carol, "org-a"), "step", plan_a)
        assert right.status_code == 200
        assert PlanStep.objects.filter(plan=plan_a, text="Intruder step").count() == 1

    def test_a_plan_carol_starts_belongs_to_the_org_of_the_header(self, make_client, carol):
        plan_id = call(make_client(carol, "org-b"), "start", LivePlan(id=uuid.uuid4())).json()["plan_id"]
        assert LivePlan.objects.get(id=plan_id).org_id == "org-b"


def csrf_pair() -> str:
    """A CSRF secret usable both as the cookie and as the X-CSRFToken header."""
    return get_random_string(32)


@pytest.mark.django_db
class TestSessionAuthentication:
    @pytest.mark.parametrize("endpoint", ["get", "list"])
    def test_a_logged_in_user_reads_with_the_session(self, endpoint, alice, plan_a):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(alice)
        response = call(client, endpoint, plan_a, HTTP_X_ORG_ID="org-a")
        assert response.status_code == 200
        assert str(plan_a.id) in response.content.decode()

    @pytest.mark.parametrize("endpoint", UNSAFE)
    def test_session_writes_without_csrf_token_are_403(self, endpoint, alice, plan_a, db_state):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(alice)
        before = db_state()
        response = call(client, endpoint, plan_a, HTTP_X_ORG_ID="org-a")
        body = assert_json_error(response, 403)
        assert "CSRF" in body["detail"]
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", UNSAFE)
    def test_session_writes_with_a_wrong_csrf_token_are_403(self, endpoint, alice, plan_a, db_state):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(alice)
        client.cookies["csrftoken"] = csrf_pair()
        before = db_state()
        response = call(client, endpoint, plan_a, HTTP_X_ORG_ID="org-a", HTTP_X_CSRFTOKEN=csrf_pair())
        assert_json_error(response, 403)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", UNSAFE)
    def test_session_writes_with_the_csrf_token_succeed(self, endpoint, alice, plan_a):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(alice)
        secret = csrf_pair()
        client.cookies["csrftoken"] = secret
        response = call(client, endpoint, plan_a, HTTP_X_ORG_ID="org-a", HTTP_X_CSRFTOKEN=secret)
        assert response.status_code == 200, response.content

    @pytest.mark.parametrize("endpoint", UNSAFE)
    def test_token_requests_need_no_csrf_token(self, endpoint, alice, plan_a):
        client = header_client(f"Token {token_for(alice)}", enforce_csrf_checks=True)
        response = call(client, endpoint, plan_a)
        assert response.status_code == 200, response.content

    @pytest.mark.parametrize("endpoint", ALL)
    def test_session_of_a_non_member_is_403(self, endpoint, bob, plan_a, db_state):
        client = APIClient()
        client.force_login(bob)
        before = db_state()
        assert_json_error(call(client, endpoint, plan_a, HTTP_X_ORG_ID="org-a"), 403)
        assert db_state() == before

    @pytest.mark.parametrize("endpoint", ALL)
    def test_logged_out_session_is_401(self, endpoint, alice, plan_a, db_state):
        client = APIClient()
        client.force_login(alice)
        client.logout()
        before = db_state()
        assert_json_error(call(client, endpoint, plan_a, HTTP_X_ORG_ID="org-a"), 401)
        assert db_state() == before

    def test_session_of_a_user_in_no_org_is_403(self, plan_a, db_state):
        loner = UserFactory(username="loner")
        client = APIClient()
        client.force_login(loner)
        before = db_state()
        assert_json_error(call(client, "list", plan_a, HTTP_X_ORG_ID="org-a"), 403)
        assert db_state() == before

    def test_membership_added_later_grants_access(self, make_client, org_a, plan_a):
        dave = UserFactory(username="dave")
        client = make_client(dave, "org-a")
        assert call(client, "get", plan_a).status_code == 403
        MembershipFactory(user=dave, org=org_a)
        assert call(client, "get", plan_a).status_code == 200


@pytest.mark.django_db
class TestTokenAndMembershipInOneQuery:
    """Token authentication reads the membership of the org the request names in the same query;
    the answers must stay exactly those of a separate membership check."""

    def test_a_removed_membership_is_refused_on_the_next_request(self, make_client, carol, org_a, org_b):
        client = make_client(carol, org_b)
        assert client.get("/api/plan/list").status_code == 200
        carol.memberships.filter(org=org_b).delete()
        response = client.get("/api/plan/list")
        assert response.status_code == 403
        assert response.json() == {"detail": "You are not a member of this organisation."}

    def test_the_org_of_the_query_string_is_checked_too(self, make_client, alice):
        client = make_client(alice)
        assert client.get("/api/plan/list?org=org-a").status_code == 200
        assert client.get("/api/plan/list?org=org-b").status_code == 403
        assert client.get("/api/plan/list?org=no-such-org").status_code == 403

    def test_a_step_costs_the_same_queries_whatever_the_plan_holds(
        self,
        client_a,
        plan_a,
        django_assert_num_queries,
        settings,
        monkeypatch,
        django_capture_on_commit_callbacks,
        no_event_log_trim,
    ):
        later = []
        monkeypatch.setattr(services.ORG_ANNOUNCER, "request", later.append)
        for i in range(3):
            client_a.post("/api/plan/step", {"plan_id": str(plan_a.id), "text": f"s{i}"}, format="json")
        # token+membership, BEGIN, plan lock+seq, last order key+step count, step, audit, event
        # counter, event, COMMIT; the org's stream hears of it after commit, from the announcer
        # thread (live.publish.Coalescer), not in this request
        with django_assert_num_queries(9, exact=False), django_capture_on_commit_callbacks(execute=True):
            response = client_a.post(
                "/api/plan/step", {"plan_id": str(plan_a.id), "text": "one more"}, format="json"
            )
        assert response.status_code == 200
        assert response.json()["step"]["text"] == "one more"
        assert later == [plan_a.id]
