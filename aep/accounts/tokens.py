"""Personal API tokens: make one (the secret is returned this once), revoke one. Services, each in
one transaction with its audit row."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aep import audit, revocation
from aep.accounts.keys import PREFIX_SHOWN, digest, new_secret
from aep.errors import InvalidInput, NotFound
from aep.models import ApiToken, AuditLog


def token_create(*, user: Any, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of `user`, and its secret (shown once: only its digest is kept)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A token needs a name.", field="name")
    if len(name) > 100:
        raise InvalidInput("Ensure this field has no more than 100 characters.", field="name")
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise InvalidInput(
            f"Ensure this value is between 1 and {settings.API_TOKEN_MAX_DAYS}.", field="expires_in_days"
        )
    secret = new_secret()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:PREFIX_SHOWN],
            digest=digest(secret),
            expires_at=timezone.now() + datetime.timedelta(days=days),
        )
        audit.record(
            org=None,
            user=user,
            action=AuditLog.Action.TOKEN_CREATE,
            resource_type="api_token",
            resource_id=token.pk,
            details={"name": name, "prefix": token.prefix, "expires_at": token.expires_at.isoformat()},
        )
    return token, secret


def token_revoke(*, user: Any, token_id: int | str) -> None:
    """Delete one of the user's own tokens (another user's, or an unknown id: NotFound). Requests
    with it are 401 from now on, and its open streams end (aep.revocation)."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=_int_or_none(token_id)).first()
        if token is None:
            raise NotFound("No such token.")
        token_pk = token.pk
        token.delete()
        audit.record(
            org=None,
            user=user,
            action=AuditLog.Action.TOKEN_REVOKE,
            resource_type="api_token",
            resource_id=token_pk,
            details={"name": token.name, "prefix": token.prefix},
        )
        revocation.announce(token=token_pk)


def _int_or_none(value: int | str) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None
