"""`manage.py create_api_token USERNAME --org ORG [--org ORG ...]` (DESIGN 3)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from aep.accounts.keys import digest
from aep.models import ApiToken, Membership, Organization
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
        token = ApiToken.objects.get(user=dana)
        assert token.digest == digest(lines[-1])  # only the hash is stored
        assert lines[-1].startswith("aep_")
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

    def test_running_it_again_creates_nothing_but_a_new_token(self):
        """The secret of a token is shown once (only its hash is kept), so a second run cannot print
        the first token again: it makes another one, and both work."""
        first = run("dana", "--org", "x", "--org", "y")
        second = run("dana", "--org", "x", "--org", "y")
        assert second[-1] != first[-1]
        assert len(second) == 2  # nothing left to create: the new token's summary and the token
        assert User.objects.filter(username="dana").count() == 1
        assert Membership.objects.filter(user__username="dana").count() == 2
        assert Organization.objects.count() == 2
        assert ApiToken.objects.filter(user__username="dana").count() == 2
        for token in (first[-1], second[-1]):
            assert api(token, "x").get("/api/plan/list").status_code == 200

    def test_name_and_expiry(self):
        run("dana", "--org", "x", "--name", "ci", "--expires-in-days", "3")
        token = ApiToken.objects.get(user__username="dana")
        assert token.name == "ci"
        assert 2.9 < (token.expires_at - token.created_at).total_seconds() / 86400 <= 3

    def test_adding_an_org_later_keeps_the_token_and_existing_memberships(self):
        token = run("dana", "--org", "x")[-1]
        run("dana", "--org", "x", "--org", "y")
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
        assert ApiToken.objects.get(user=user).digest == digest(token)
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
        assert not ApiToken.objects.exists()

    def test_org_is_required(self):
        with pytest.raises(CommandError):
            run("dana")
        assert not User.objects.filter(username="dana").exists()
