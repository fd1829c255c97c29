"""API authentication: personal API tokens (DESIGN 12), sent as `Authorization: Token <key>` or
`Bearer <key>`, and the pages' session; `authenticate_request` is what requests outside DRF (the
live streams) use.

A token is looked up by the SHA-256 of the key sent (aep.models.ApiToken keeps only that), so a
token made before tokens were hashed (a DRF key, migrated) works exactly like a new `aep_` one."""

from __future__ import annotations

import datetime
import functools
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from aep.accounts.keys import MAX_KEY_LENGTH, digest
from aep.db import instance_from_row, model_columns
from aep.models import ApiToken, Membership, Organization
from aep.tenancy import MEMBER_ORG_ATTR, ROLE_ATTR, requested_org_id, valid_org_id

TOKEN_FIELDS = ["id", "user_id", "name", "prefix", "created_at", "expires_at", "last_used_at"]
DATETIME_FIELDS = {"created_at", "expires_at", "last_used_at"}


class TokenOrBearerAuthentication(BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`, which many clients send) with an ApiToken."""

    keywords = ("token", "bearer")
    touch = True  # record the token's use (`last_used_at`)

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        return self.authenticate_header_value(get_authorization_header(request), requested_org_id(request))

    def authenticate_header_value(self, header: bytes, org_id: str | None = None) -> tuple[Any, Any] | None:
        """(user, token) for an Authorization header value; None when it is not a token header.
        Raises AuthenticationFailed for a malformed header or an unknown, expired or inactive token.

        With `org_id` (the org the request names), the same query also reads whether the user is
        a member of that org, and the role, for `aep.tenancy.org_for_user`: one database round
        trip, not two."""
        auth = header.split()
        if not auth or auth[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: expected 'Token <key>'.")
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: the key has invalid characters."
            ) from None
        return self.authenticate_credentials(key, org_id)

    def authenticate_credentials(self, key: str, org_id: str | None = None) -> tuple[Any, Any]:
        if len(key) > MAX_KEY_LENGTH or "\x00" in key:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        asks_org = org_id is not None and valid_org_id(org_id)
        found = _token_user(org_id if asks_org else None, digest(key))
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, values, member_org_name, member_role = found
        now = timezone.now()
        values = [
            _as_datetime(v) if n in DATETIME_FIELDS else v for n, v in zip(TOKEN_FIELDS, values, strict=True)
        ]
        token = ApiToken.from_db(user._state.db, TOKEN_FIELDS, values)
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed("Token expired.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token.user = user
        if self.touch:
            _touch(token, now)
        if asks_org:
            org = (
                None
                if member_org_name is None
                else Organization.from_db(user._state.db, ["id", "name"], [org_id, member_org_name])
            )
            if org is not None:
                setattr(org, ROLE_ATTR, member_role)
            setattr(user, MEMBER_ORG_ATTR, (org_id, org))
        return user, token

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Token"


def _as_datetime(value: Any) -> Any:
    """Raw SQL skips the fields' converters: SQLite gives a datetime column of an extra select as
    text or a naive datetime (in UTC). Other values pass through."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime) and timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.UTC)
    return value


def _touch(token: ApiToken, now: datetime.datetime) -> None:
    """Record the token's use, at most once a minute (`API_TOKEN_LAST_USED_SECONDS`): requests in
    between write nothing. The condition is in the UPDATE, so concurrent requests write once."""
    every = datetime.timedelta(seconds=settings.API_TOKEN_LAST_USED_SECONDS)
    if token.last_used_at is not None and now - token.last_used_at < every:
        return
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - every), pk=token.pk
    ).update(last_used_at=now)
    token.last_used_at = now


def _token_user(org_id: str | None, key_digest: str) -> tuple[Any, list[Any], str | None, str | None] | None:
    """One row of `token_user_sql`: the user (its fields through their converters, as the ORM
    reads them), the token's values (TOKEN_FIELDS), the org's name and the role, or None.

    Read with a plain cursor, not `Manager.raw()`: a RawQuerySet maps its columns from the cursor's
    description on every query, a tenth of a process' CPU under load (py-spy, issue 21)."""
    with connection.cursor() as cursor:
        cursor.execute(token_user_sql(), [org_id, key_digest])
        rows = cursor.fetchall()  # at most one (the digest is unique); read to the end, so that
        # SQLite's statement is done and holds no snapshot of its own
    if not rows:
        return None
    row = rows[0]
    user_model = get_user_model()
    user = instance_from_row(user_model, row)
    rest = row[len(user_model._meta.concrete_fields) :]
    return user, list(rest[: len(TOKEN_FIELDS)]), rest[-2], rest[-1]


@functools.cache
def token_user_sql() -> str:
    """The user of a token, with the token's own columns (`token_<name>`) and the name of the org
    (parameter 1) and the user's role in it if the user is a member of it, in one statement:
    parameters (org id or NULL, the token's digest).

    Written as SQL because the equivalent ORM query (select_related plus a Subquery annotation) spent
    0.7 ms compiling itself on every API request, a third of a step add (profiled with py-spy)."""
    q = connection.ops.quote_name
    user, token = get_user_model()._meta, ApiToken._meta
    membership, org = Membership._meta, Organization._meta

    def col(meta: Any, name: str) -> str:
        return q(meta.get_field(name).column)

    columns = model_columns(get_user_model(), "u")
    token_columns = ", ".join(
        f"t.{q(token.get_field(name.removesuffix('_id')).column)} AS {q('token_' + name)}"
        for name in TOKEN_FIELDS
    )
    return (
        f"SELECT {columns}, {token_columns}, "  # noqa: S608 (names from the models)
        f"o.{col(org, 'name')} AS member_org_name, m.{col(membership, 'role')} AS member_role "
        f"FROM {q(token.db_table)} t "
        f"JOIN {q(user.db_table)} u ON u.{q(user.pk.column)} = t.{col(token, 'user')} "
        f"LEFT JOIN {q(membership.db_table)} m ON m.{col(membership, 'user')} = t.{col(token, 'user')} "
        f"AND m.{col(membership, 'org')} = %s "
        f"LEFT JOIN {q(org.db_table)} o ON o.{col(org, 'id')} = m.{col(membership, 'org')} "
        f"WHERE t.{col(token, 'digest')} = %s"
    )


def session_user(request: HttpRequest) -> Any:
    """The user of the request's session cookie (AnonymousUser without a valid one), as Django's
    session and authentication middleware would set it."""
    if not hasattr(request, "session"):
        engine = import_module(settings.SESSION_ENGINE)  # what SessionMiddleware loads
        request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    return get_user(request)


def authenticate_request(request: HttpRequest) -> Any:
    """The user of a request by the API's rules: a token in `Authorization` (refused outright when
    wrong), else the pages' session. Raises AuthenticationFailed or NotAuthenticated (401).
    Leaves the ApiToken used (or None, for a session) in `request.auth`, as DRF does.

    Opening a stream records no use of its token: that would be the stream's only database write,
    queued behind any writer on SQLite. The API requests a client makes record it."""
    authentication = TokenOrBearerAuthentication()
    authentication.touch = False
    result = authentication.authenticate(request)
    if result is not None:
        request.auth = result[1]  # type: ignore[attr-defined]
        return result[0]
    user = session_user(request)
    if user.is_authenticated:
        request.auth = None  # type: ignore[attr-defined]
        return user
    raise exceptions.NotAuthenticated()
