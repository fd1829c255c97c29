"""Personal API tokens (DESIGN 12): the API (`/api/tokens`), the page (`/settings/tokens`), the
authentication that uses them, and the migration of DRF's plaintext tokens."""

from __future__ import annotations

import datetime
import importlib
import json
import subprocess
import sys

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from aep.accounts import tokens
from aep.accounts.keys import digest
from aep.models import ApiToken, AuditLog
from tests.aep.test_settings import ROOT, SETUP


def session_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_login(user)
    return client


def token_client(secret: str, org: str = "org-a") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}", HTTP_X_ORG_ID=org)
    return client


def make(client: APIClient, **body) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/api/tokens", {"name": "laptop", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
class TestApi:
    def test_create_shows_the_secret_once_and_stores_only_its_hash(self, alice):
        body = make(session_client(alice))
        assert set(body) == {"id", "name", "token", "prefix", "created_at", "expires_at"}
        assert body["token"].startswith("aep_") and len(body["token"]) == 47
        assert body["token"].startswith(body["prefix"]) and body["prefix"] != body["token"]
        row = ApiToken.objects.get(pk=body["id"])
        assert row.digest == digest(body["token"])
        stored = json.dumps(list(ApiToken.objects.values()), default=str)
        assert body["token"] not in stored and body["token"][4:] not in stored
        life = datetime.datetime.fromisoformat(body["expires_at"]) - datetime.datetime.fromisoformat(
            body["created_at"]
        )
        assert abs(life - datetime.timedelta(days=90)) < datetime.timedelta(seconds=5)

    def test_the_token_works_and_the_list_never_shows_a_secret(self, alice, org_a):
        body = make(session_client(alice), expires_in_days=7)
        client = token_client(body["token"])
        assert client.get("/api/plan/list").status_code == 200
        assert client.post("/api/plan/start", {"title": "with a token"}, format="json").status_code == 200
        listed = client.get("/api/tokens").json()["tokens"]
        assert [t["id"] for t in listed] == [body["id"]]
        assert set(listed[0]) == {"id", "name", "prefix", "created_at", "expires_at", "last_used_at"}
        assert listed[0]["last_used_at"] is not None
        assert body["token"] not in json.dumps(listed)

    def test_bearer_works_too(self, alice, org_a):
        secret = make(session_client(alice))["token"]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_X_ORG_ID="org-a")
        assert client.get("/api/plan/list").status_code == 200

    def test_a_token_cannot_mint_tokens(self, alice):
        secret = make(session_client(alice))["token"]
        response = token_client(secret).post("/api/tokens", {"name": "x"}, format="json")
        assert response.status_code == 403
        assert "session" in response.json()["detail"]
        assert ApiToken.objects.count() == 1

    def test_anonymous_is_401(self, db):
        assert APIClient().get("/api/tokens").status_code == 401
        assert APIClient().post("/api/tokens", {"name": "x"}, format="json").status_code == 401
        assert APIClient().delete("/api/tokens/1").status_code == 401

    def test_csrf_is_enforced_for_the_session(self, alice):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post("/api/tokens", {"name": "x"}, format="json").status_code == 403
        assert not ApiToken.objects.exists()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
            ({"name": "x", "expires_in_days": 366}, "expires_in_days"),
            ({"name": "x", "expires_in_days": "soon"}, "expires_in_days"),
        ],
    )
    def test_invalid_input_is_400_naming_the_field(self, alice, body, field):
        response = session_client(alice).post("/api/tokens", body, format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert not ApiToken.objects.exists()

    def test_revoke_is_204_then_the_token_is_401(self, alice, org_a):
        body = make(session_client(alice))
        client = token_client(body["token"])
        assert client.delete(f"/api/tokens/{body['id']}").status_code == 204
        response = client.get("/api/plan/list")
        assert response.status_code == 401
        assert not ApiToken.objects.exists()

    def test_another_users_token_is_404_and_stays(self, alice, bob):
        body = make(session_client(alice))
        for target in (str(body["id"]), "999999", "nope", "-1", "9" * 30):
            assert session_client(bob).delete(f"/api/tokens/{target}").status_code == 404
        assert session_client(bob).get("/api/tokens").json() == {"tokens": []}
        assert ApiToken.objects.filter(pk=body["id"]).exists()

    def test_an_expired_token_is_401(self, alice, org_a):
        body = make(session_client(alice))
        ApiToken.objects.filter(pk=body["id"]).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
        response = token_client(body["token"]).get("/api/plan/list")
        assert response.status_code == 401
        assert response.json() == {"detail": "Token expired."}

    def test_audit_rows_for_create_and_revoke(self, alice):
        client = session_client(alice)
        body = make(client)
        client.delete(f"/api/tokens/{body['id']}")
        rows = list(AuditLog.objects.order_by("id").values_list("action", "user__username", "org_id"))
        assert rows == [("TOKEN_CREATE", "alice", None), ("TOKEN_REVOKE", "alice", None)]
        assert body["token"] not in json.dumps(list(AuditLog.objects.values("details")))


@pytest.mark.django_db
class TestLastUsed:
    def test_written_at_most_once_a_minute(self, alice, org_a, django_assert_num_queries):
        token, secret = tokens.token_create(user=alice, name="t")
        client = token_client(secret)
        client.get("/api/plan/list")
        first = ApiToken.objects.get(pk=token.pk).last_used_at
        assert first is not None
        client.get("/api/plan/list")
        assert ApiToken.objects.get(pk=token.pk).last_used_at == first  # within the minute: no write
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - datetime.timedelta(seconds=61))
        client.get("/api/plan/list")
        assert ApiToken.objects.get(pk=token.pk).last_used_at > first

    def test_the_lookup_is_one_query_on_a_unique_index(self, alice, org_a, django_assert_num_queries):
        assert ApiToken._meta.get_field("digest").unique
        _token, secret = tokens.token_create(user=alice, name="t")
        client = token_client(secret)
        client.get("/api/plan/list")  # records the use
        # The token (with its user, the org and the role), the plans' count and page.
        with django_assert_num_queries(3):
            assert client.get("/api/plan/list?limit=5").status_code == 200


@pytest.mark.django_db
class TestPage:
    def test_anonymous_goes_to_login(self, client: Client):
        response = client.get("/settings/tokens")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_make_list_revoke(self, client: Client, alice, org_a):
        client.force_login(alice)
        page = client.get("/settings/tokens")
        assert page.status_code == 200 and "You have no API tokens yet" in page.content.decode()
        made = client.post("/settings/tokens", {"name": "VS Code", "expires_in_days": "30"})
        assert made.status_code == 201
        token = ApiToken.objects.get()
        html = made.content.decode()
        secret = html.split('<code id="new-token">')[1].split("</code>")[0]
        assert token.digest == digest(secret)
        assert 'data-copy-target="new-token"' in html
        assert token_client(secret).get("/api/plan/list").status_code == 200
        again = client.get("/settings/tokens").content.decode()
        assert secret not in again and token.prefix in again and "VS Code" in again
        revoked = client.post(f"/settings/tokens/{token.pk}/revoke")
        assert revoked.status_code == 302
        assert not ApiToken.objects.exists()
        assert token_client(secret).get("/api/plan/list").status_code == 401

    def test_htmx_gets_the_fragment(self, client: Client, alice):
        client.force_login(alice)
        made = client.post("/settings/tokens", {"name": "x", "expires_in_days": "1"}, HTTP_HX_REQUEST="true")
        assert made.status_code == 201
        assert made.content.decode().lstrip().startswith('<div id="tokens-section"')
        bad = client.post("/settings/tokens", {"name": "", "expires_in_days": "400"}, HTTP_HX_REQUEST="true")
        assert bad.status_code == 422
        assert ApiToken.objects.count() == 1

    def test_someone_elses_token_cannot_be_revoked(self, client: Client, alice, bob):
        token, _secret = tokens.token_create(user=alice, name="alice's")
        client.force_login(bob)
        client.post(f"/settings/tokens/{token.pk}/revoke")
        assert ApiToken.objects.filter(pk=token.pk).exists()
        assert "alice&#x27;s" not in client.get("/settings/tokens").content.decode()

    def test_a_viewer_makes_tokens_too(self, client: Client, vic):
        """A token acts with its user's roles: a viewer's token reads and cannot write."""
        client.force_login(vic)
        assert client.post("/settings/tokens", {"name": "ro", "expires_in_days": "5"}).status_code == 201


@pytest.mark.django_db(transaction=True)
class TestLegacyMigration:
    def test_drf_tokens_become_hashed_tokens_that_keep_working(self, alice, org_a):
        migration = importlib.import_module("aep.migrations.0005_hash_drf_tokens")
        key = "0123456789abcdef0123456789abcdef01234567"
        with connection.cursor() as cursor:
            columns = "key varchar(40) PRIMARY KEY, user_id integer, created timestamp"
            cursor.execute(f"CREATE TABLE authtoken_token ({columns})")
            cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, alice.pk, timezone.now()])
        try:
            with connection.schema_editor() as editor:
                migration.hash_legacy_tokens(apps, editor)
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM authtoken_token")
                assert cursor.fetchone()[0] == 0  # no plaintext left
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE authtoken_token")
        token = ApiToken.objects.get()
        assert (token.user, token.digest, token.prefix) == (alice, digest(key), key[:8])
        assert token_client(key).get("/api/plan/list").status_code == 200

    def test_no_legacy_table_is_fine(self, db):
        migration = importlib.import_module("aep.migrations.0005_hash_drf_tokens")
        with connection.schema_editor() as editor:
            migration.hash_legacy_tokens(apps, editor)
        assert not ApiToken.objects.exists()


def test_the_default_life_comes_from_the_environment(tmp_path):
    env = {"SQLITE_PATH": str(tmp_path / "s.sqlite3"), "API_TOKEN_DEFAULT_DAYS": "30", "PATH": "/usr/bin"}
    code = "from django.conf import settings; print(settings.API_TOKEN_DEFAULT_DAYS)"
    result = subprocess.run(
        [sys.executable, "-c", SETUP + "\n" + code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "30"


def test_unknown_long_or_odd_keys_are_401(db):
    for key in ("aep_nope", "x" * 201, "aep_" + "\u00e9" * 10):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_X_ORG_ID="org-a")
        assert client.get("/api/plan/list").status_code == 401


@pytest.mark.django_db
def test_the_user_a_token_authenticates_is_the_user_the_orm_reads() -> None:
    """Token authentication reads the user with a plain cursor (aep.authentication._token_user):
    every field must come out as the ORM gives it (SQLite returns booleans as integers and
    datetimes as text until converted), with the org and role the request names."""
    from django.contrib.auth import get_user_model

    from aep.authentication import TokenOrBearerAuthentication
    from aep.tenancy import MEMBER_ORG_ATTR, ROLE_ATTR
    from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

    user = UserFactory(username="erin", is_staff=True, first_name="Erin")
    user.last_login = datetime.datetime(2026, 11, 30, 9, 15, tzinfo=datetime.UTC)
    user.save()
    org = OrganizationFactory(id="org-t", name="Org T")
    MembershipFactory(user=user, org=org, role="admin")
    _token, secret = tokens.token_create(user=user, name="ci")
    authentication = TokenOrBearerAuthentication()
    authentication.touch = False
    authenticated, token = authentication.authenticate_credentials(secret, "org-t")
    expected = get_user_model().objects.get(pk=user.pk)
    for field in get_user_model()._meta.concrete_fields:
        got, want = getattr(authenticated, field.attname), getattr(expected, field.attname)
        assert (got, type(got)) == (want, type(want)), field.name
    assert token.pk == _token.pk and token.expires_at == _token.expires_at
    org_id, member_org = getattr(authenticated, MEMBER_ORG_ATTR)
    assert (org_id, member_org.name, getattr(member_org, ROLE_ATTR)) == ("org-t", "Org T", "admin")
