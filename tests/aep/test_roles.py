"""Roles on memberships (DESIGN 12): a viewer reads everything in the org and writes nothing, through
the API (the one check in `aep.api.OrgAPIView`), the pages (`aep.pages.org_page`) and the stream."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, force_authenticate

from aep.api import OrgAPIView
from aep.models import Membership
from aep.tenancy import can_write, org_for_user, role_in, user_orgs
from plans.models import LivePlan, PlanStep
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, token_for

WRITES = [
    ("/api/plan/start", {"title": "Viewer plan"}),
    ("/api/plan/step", {"plan_id": "{id}", "text": "Viewer step"}),
    ("/api/plan/{id}/archive", {}),
]


def counts() -> tuple[int, int]:
    return LivePlan.objects.count(), PlanStep.objects.count()


@pytest.mark.django_db
class TestApi:
    @pytest.mark.parametrize(("url", "body"), WRITES, ids=["start", "step", "archive"])
    def test_a_viewer_cannot_write(self, make_client, vic, org_a, plan_a, url, body):
        before = counts()
        data = {k: v.format(id=plan_a.id) for k, v in body.items()}
        response = make_client(vic, org_a).post(url.format(id=plan_a.id), data, format="json")
        assert response.status_code == 403, response.content
        assert "viewer" in response.json()["detail"]
        assert counts() == before
        plan_a.refresh_from_db()
        assert not plan_a.archived

    def test_a_viewer_reads_everything(self, make_client, vic, org_a, plan_a):
        client = make_client(vic, org_a)
        assert client.get(f"/api/plan/{plan_a.id}").json()["title"] == "Auth service"
        assert client.get("/api/plan/list").json()["count"] == 1

    def test_a_viewer_with_a_session_cannot_write_either(self, vic, org_a, plan_a):
        client = APIClient()
        client.force_login(vic)
        response = client.post("/api/plan/start", {"title": "x"}, format="json", HTTP_X_ORG_ID="org-a")
        assert response.status_code == 403

    def test_the_role_is_per_org(self, make_client, org_a, org_b):
        """A viewer in one org may be a member in another."""
        user = UserFactory(username="vera")
        MembershipFactory(user=user, org=org_a, role="viewer")
        MembershipFactory(user=user, org=org_b, role="member")
        start = {"title": "a"}
        assert make_client(user, org_a).post("/api/plan/start", start, format="json").status_code == 403
        assert make_client(user, org_b).post("/api/plan/start", start, format="json").status_code == 200

    @pytest.mark.parametrize("role", ["member", "admin"])
    def test_members_and_admins_write(self, make_client, org_a, role):
        user = UserFactory(username=f"w-{role}")
        MembershipFactory(user=user, org=org_a, role=role)
        response = make_client(user, org_a).post("/api/plan/start", {"title": "ok"}, format="json")
        assert response.status_code == 200

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_every_unsafe_method_of_any_subclass_is_refused(self, vic, org_a, method):
        """The rule lives in the base class: a view added later (PATCH/DELETE on steps, ...) gets it
        without saying anything."""
        called = []

        class Anything(OrgAPIView):
            def get(self, request: Request) -> Response:
                return Response({"ok": True})

            def post(self, request: Request) -> Response:
                called.append(request.method)
                return Response({"ok": True})

            put = patch = delete = post

        request = getattr(RequestFactory(), method)("/x", HTTP_X_ORG_ID="org-a")
        force_authenticate(request, user=vic)
        response = Anything.as_view()(request)
        assert response.status_code == 403
        assert called == []
        get = RequestFactory().get("/x", HTTP_X_ORG_ID="org-a")
        force_authenticate(get, user=vic)
        assert Anything.as_view()(get).status_code == 200


@pytest.mark.django_db
class TestTenancy:
    def test_org_for_user_carries_the_role(self, vic, alice, ada, org_a):
        assert role_in(org_for_user(vic, "org-a")) == "viewer"
        assert not can_write(org_for_user(vic, "org-a"))
        assert role_in(org_for_user(alice, "org-a")) == "member"
        assert role_in(org_for_user(ada, "org-a")) == "admin"

    def test_user_orgs_carry_the_role(self, org_a, org_b):
        user = UserFactory(username="two")
        MembershipFactory(user=user, org=org_a, role="viewer")
        MembershipFactory(user=user, org=org_b, role="admin")
        assert [(o.id, role_in(o)) for o in user_orgs(user)] == [("org-a", "viewer"), ("org-b", "admin")]


@pytest.mark.django_db
class TestPages:
    def test_a_viewer_sees_no_write_controls(self, client, vic, plan_a):
        client.force_login(vic)
        listing = client.get("/plans")
        assert listing.status_code == 200
        assert listing.context["can_write"] is False
        assert 'href="/plans/new"' not in listing.content.decode()
        detail = client.get(f"/plan/{plan_a.id}")
        assert detail.status_code == 200
        assert "Design the token schema" in detail.content.decode()
        assert 'id="add-step-form"' not in detail.content.decode()
        assert "read-only" in detail.content.decode()  # the body class that hides the archive button

    def test_a_member_sees_them(self, client, alice, plan_a):
        client.force_login(alice)
        detail = client.get(f"/plan/{plan_a.id}")
        assert detail.context["can_write"] is True
        assert 'id="add-step-form"' in detail.content.decode()

    @pytest.mark.parametrize(
        ("url", "data"),
        [
            ("/plans/new", {"title": "Viewer plan"}),
            ("/plan/{id}/step", {"text": "Viewer step", "owner": "vic"}),
            ("/plan/{id}/archive", {}),
        ],
        ids=["new", "step", "archive"],
    )
    def test_a_viewer_post_is_403_and_writes_nothing(self, client, vic, plan_a, url, data):
        client.force_login(vic)
        before = counts()
        response = client.post(url.format(id=plan_a.id), data)
        assert response.status_code == 403
        assert "viewer" in response.content.decode()
        assert counts() == before
        plan_a.refresh_from_db()
        assert not plan_a.archived


@pytest.mark.django_db
class TestStream:
    def test_a_viewer_may_read_the_stream(self, vic, org_a, plan_a):
        from live.channels import route
        from live.stream import StreamRequest, authorize

        path_ = f"/api/plan/{plan_a.id}/stream"
        scope = {
            "type": "http",
            "method": "GET",
            "path": path_,
            "query_string": b"",
            "headers": [
                (b"authorization", f"Token {token_for(vic)}".encode()),
                (b"x-org-id", b"org-a"),
            ],
        }
        req = StreamRequest.from_scope(scope, route(path_))
        user, org, _ = authorize(req, wants_current=True)
        assert (user, org.id) == (vic, "org-a")


@pytest.mark.django_db
class TestCreateApiTokenRole:
    def run(self, *args: str) -> list[str]:
        out = StringIO()
        call_command("create_api_token", *args, stdout=out)
        return out.getvalue().splitlines()

    def test_role_viewer(self):
        token = self.run("vee", "--org", "x", "--role", "viewer")[-1]
        assert Membership.objects.get(user__username="vee").role == "viewer"
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_ORG_ID="x")
        assert client.post("/api/plan/start", {"title": "t"}, format="json").status_code == 403
        assert client.get("/api/plan/list").status_code == 200

    def test_default_is_member(self):
        self.run("mem", "--org", "x")
        assert Membership.objects.get(user__username="mem").role == "member"


@pytest.mark.django_db
class TestMigration:
    def test_an_org_without_an_admin_gets_its_earliest_member(self):
        migration = importlib.import_module("aep.migrations.0003_membership_roles")
        org, other = OrganizationFactory(id="m1"), OrganizationFactory(id="m2")
        first = MembershipFactory(org=org, user=UserFactory(username="first"))
        MembershipFactory(org=org, user=UserFactory(username="second"))
        kept = MembershipFactory(org=other, user=UserFactory(username="boss"), role="admin")
        MembershipFactory(org=other, user=UserFactory(username="staff"))
        from django.apps import apps

        migration.one_admin_per_org(apps, None)
        roles = dict(Membership.objects.values_list("user__username", "role"))
        assert roles == {"first": "admin", "second": "member", "boss": "admin", "staff": "member"}
        assert first.pk and kept.pk


@pytest.mark.django_db
def test_create_api_token_keeps_an_existing_role_and_says_so():
    out = StringIO()
    call_command("create_api_token", "kim", "--org", "x", stdout=out)
    call_command("create_api_token", "kim", "--org", "x", "--role", "viewer", stdout=out)
    assert Membership.objects.get(user__username="kim").role == "member"
    assert "Kept kim's role member in x" in out.getvalue()
