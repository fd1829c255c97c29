"""`manage.py create_api_token USERNAME --org ORG [--org ORG ...]` (DESIGN 3)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from aep.models import Membership, Organization
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

User = get_user_model()


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().splitlines()


def api(token: str, org: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.defaults["HTTP_X_ORG_ID"] = org
    return client


@pytest.mark.django_db
class TestCreateApiToken:
    def test_creates_user_orgs_memberships_and_prints_the_token_last(self):
        lines = run("dana", "--org", "x", "--org", "y")
        dana = User.objects.get(username="dana")
        assert lines[-1] == Token.objects.get(user=dana).key
        assert set(Organization.objects.values_list("id", flat=True)) == {"x", "y"}
        assert set(Membership.objects.filter(user=dana).values_list("org_id", flat=True)) == {"x", "y"}
        assert not dana.has_usable_password()

    def test_the_printed_token_works_against_the_api_in_both_orgs(self):
        token = run("dana", "--org", "x", "--org", "y")[-1]
        for org in ("x", "y"):
            response = api(token, org).post("/api/plan/start", {"title": f"in {org}"}, format="json")
            assert response.status_code == 200, response.content
            listed = api(token, org).get("/api/plan/list").json()
            assert [p["title"] for p in listed["plans"]] == [f"in {org}"]
        assert api(token, "z").get("/api/plan/list").status_code == 403

    def test_running_it_again_is_idempotent(self):
        first = run("dana", "--org", "x", "--org", "y")
        second = run("dana", "--org", "x", "--org", "y")
        assert second[-1] == first[-1]
        assert second == [first[-1]]  # nothing left to create, only the token is printed
        assert User.objects.filter(username="dana").count() == 1
        assert Membership.objects.filter(user__username="dana").count() == 2
        assert Organization.objects.count() == 2
        assert Token.objects.filter(user__username="dana").count() == 1

    def test_adding_an_org_later_keeps_the_token_and_existing_memberships(self):
        token = run("dana", "--org", "x")[-1]
        assert run("dana", "--org", "x", "--org", "y")[-1] == token
        assert set(Membership.objects.filter(user__username="dana").values_list("org_id", flat=True)) == {
            "x",
            "y",
        }
        assert api(token, "y").get("/api/plan/list").status_code == 200

    def test_existing_user_and_org_are_reused(self):
        org = OrganizationFactory(id="x", name="Existing X")
        user = UserFactory(username="dana")
        MembershipFactory(user=user, org=org)
        token = run("dana", "--org", "x")[-1]
        assert Token.objects.get(user=user).key == token
        assert Organization.objects.get(id="x").name == "Existing X"
        assert user.check_password("pw-for-tests")  # an existing password is left alone
        assert Membership.objects.filter(user=user).count() == 1

    @pytest.mark.parametrize(
        "bad", ["Bad Org!", "UPPER", "-leading-dash", "", "x" * 64, "sp ace", "\u00f6rg"]
    )
    def test_an_invalid_org_id_raises_command_error_and_creates_nothing(self, bad):
        with pytest.raises(CommandError) as excinfo:
            run("dana", "--org", "x", "--org", bad)
        assert "org" in str(excinfo.value).lower()
        assert not User.objects.filter(username="dana").exists()
        assert not Organization.objects.exists()
        assert not Token.objects.exists()

    def test_org_is_required(self):
        with pytest.raises(CommandError):
            run("dana")
        assert not User.objects.filter(username="dana").exists()
