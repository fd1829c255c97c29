"""Reads of accounts: a user's API tokens, an org's members and open invitations."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from aep.models import ApiToken, Invitation, Membership, Organization
from aep.tenancy import scope


def tokens_of(*, user: Any) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (expired ones too, until revoked: the list says so)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def members_of(*, org: Organization) -> QuerySet[Membership]:
    return scope(Membership.objects.select_related("user"), org).order_by("user__username")


def open_invitations(*, org: Organization) -> QuerySet[Invitation]:
    return scope(Invitation.objects.all(), org).filter(used_at__isnull=True, expires_at__gt=timezone.now())


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }


def member_json(membership: Membership) -> dict[str, Any]:
    user = membership.user
    return {"username": user.get_username(), "name": user.get_full_name(), "role": membership.role}
