"""API authentication: DRF tokens, sent as `Authorization: Token <key>` or `Bearer <key>`."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header


class TokenOrBearerAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication that also accepts the `Bearer` keyword many clients send."""

    keywords = ("token", "bearer")

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        return self.authenticate_header_value(get_authorization_header(request))

    def authenticate_header_value(self, header: bytes) -> tuple[Any, Any] | None:
        """(user, token) for an Authorization header value; None when it is not a token header.
        Raises AuthenticationFailed for a malformed header or an unknown or inactive token."""
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
        return self.authenticate_credentials(key)

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Token"
