"""API authentication: DRF tokens, sent as `Authorization: Token <key>` or `Bearer <key>`, and the
pages' session; `authenticate_request` is what requests outside DRF (the live streams) use."""

from __future__ import annotations

import functools
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.db import connection
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

from aep.models import Membership, Organization
from aep.tenancy import MEMBER_ORG_ATTR, requested_org_id, valid_org_id


class TokenOrBearerAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication that also accepts the `Bearer` keyword many clients send."""

    keywords = ("token", "bearer")

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        return self.authenticate_header_value(get_authorization_header(request), requested_org_id(request))

    def authenticate_header_value(self, header: bytes, org_id: str | None = None) -> tuple[Any, Any] | None:
        """(user, token) for an Authorization header value; None when it is not a token header.
        Raises AuthenticationFailed for a malformed header or an unknown or inactive token.

        With `org_id` (the org the request names), the same query also reads whether the user is
        a member of that org, for `aep.tenancy.org_for_user`: one database round trip, not two."""
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
        asks_org = org_id is not None and valid_org_id(org_id)
        user = next(
            iter(get_user_model().objects.raw(token_user_sql(), [org_id if asks_org else None, key])), None
        )
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = self.get_model().from_db(
            user._state.db, ["key", "user_id", "created"], [key, user.pk, user.token_created]
        )
        token.user = user
        if asks_org:
            name = user.member_org_name
            org = (
                None if name is None else Organization.from_db(user._state.db, ["id", "name"], [org_id, name])
            )
            setattr(user, MEMBER_ORG_ATTR, (org_id, org))
        return user, token

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Token"


@functools.cache
def token_user_sql() -> str:
    """The user of a token, with the token's creation time and the name of the org (parameter 1) if
    the user is a member of it, in one statement: parameters (org id or NULL, token key).

    Written as SQL because the equivalent ORM query (select_related plus a Subquery annotation) spent
    0.7 ms compiling itself on every API request, a third of a step add (profiled with py-spy)."""
    q = connection.ops.quote_name
    user, token = get_user_model()._meta, Token._meta
    membership, org = Membership._meta, Organization._meta

    def col(meta: Any, name: str) -> str:
        return q(meta.get_field(name).column)

    columns = ", ".join(f"u.{q(field.column)}" for field in user.concrete_fields)
    return (
        f"SELECT {columns}, t.{col(token, 'created')} AS token_created, "  # noqa: S608 (names from the models)
        f"(SELECT o.{col(org, 'name')} FROM {q(membership.db_table)} m "
        f"JOIN {q(org.db_table)} o ON o.{col(org, 'id')} = m.{col(membership, 'org')} "
        f"WHERE m.{col(membership, 'user')} = t.{col(token, 'user')} AND m.{col(membership, 'org')} = %s) "
        f"AS member_org_name FROM {q(token.db_table)} t "
        f"JOIN {q(user.db_table)} u ON u.{q(user.pk.column)} = t.{col(token, 'user')} "
        f"WHERE t.{col(token, 'key')} = %s"
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
    wrong), else the pages' session. Raises AuthenticationFailed or NotAuthenticated (401)."""
    result = TokenOrBearerAuthentication().authenticate(request)
    if result is not None:
        return result[0]
    user = session_user(request)
    if user.is_authenticated:
        return user
    raise exceptions.NotAuthenticated()
