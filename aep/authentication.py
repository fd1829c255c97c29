"""API authentication: DRF tokens, sent as `Authorization: Token <key>` or `Bearer <key>`."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from aep.models import Membership, Organization
from aep.tenancy import MEMBER_ORG_ATTR, requested_org_id


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
        tokens = self.get_model().objects.select_related("user")
        if org_id is not None and len(org_id) <= 63:
            membership = Membership.objects.filter(user_id=OuterRef("user_id"), org_id=org_id)
            tokens = tokens.annotate(member_org_name=Subquery(membership.values("org__name")[:1]))
        try:
            token = tokens.get(key=key)
        except self.get_model().DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if org_id is not None and len(org_id) <= 63:
            name = token.member_org_name
            org = None
            if name is not None:
                org = Organization.from_db(token._state.db, ["id", "name"], [org_id, name])
            setattr(token.user, MEMBER_ORG_ATTR, (org_id, org))
        return token.user, token

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Token"
