"""Which org a request acts for, and querysets scoped to it: the one place tenancy is decided.

The org comes from the `X-Org-Id` header, or the `org` query parameter (EventSource cannot send
headers), or, for pages, the org kept in the session. A missing org is a 400, an org the user does
not belong to (or that does not exist: the two are not told apart) is a 403. Objects of another org
are then simply not found (404), because every lookup goes through `scope()`.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django.db import connection
from django.db.models import F, Model, QuerySet
from rest_framework import exceptions, status

from aep.models import Membership, Organization

M = TypeVar("M", bound=Model)

ORG_HEADER = "HTTP_X_ORG_ID"
ORG_QUERY_PARAM = "org"
SESSION_ORG_KEY = "current_org_id"
# Set on a user by token authentication: (the org id the request names, that Organization if the
# user is a member of it, else None), read in the same query as the token (aep.authentication).
MEMBER_ORG_ATTR = "_aep_member_org"
# Set on an Organization returned by `org_for_user`: the user's role in it (Membership.Role).
ROLE_ATTR = "member_role"
# What an org id can be (aep.models.org_slug_validator): anything else names no org, and is refused
# before it reaches the database (PostgreSQL cannot even compare text holding a NUL).
_ORG_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class OrgRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "X-Org-Id header required"
    default_code = "org_required"


class NotOrgMember(exceptions.PermissionDenied):
    default_detail = "You are not a member of this organisation."
    default_code = "not_org_member"


def requested_org_id(request: Any) -> str | None:
    """The org id the client asked for: header first, then `?org=`. Blank counts as missing."""
    value = request.META.get(ORG_HEADER) or request.GET.get(ORG_QUERY_PARAM)
    value = (value or "").strip()
    return value or None


def valid_org_id(org_id: str) -> bool:
    """Whether `org_id` could name an org at all (a slug); other values are a 403 without a query."""
    return _ORG_ID.fullmatch(org_id) is not None


def org_for_user(user: Any, org_id: str) -> Organization | None:
    """The org with this id if `user` is a member of it, else None."""
    if not getattr(user, "is_authenticated", False) or not valid_org_id(org_id):
        return None
    known = getattr(user, MEMBER_ORG_ATTR, None)
    if known is not None and known[0] == org_id:
        return known[1]
    membership = Membership.objects.filter(org_id=org_id, user=user).select_related("org").first()
    if membership is None:
        return None
    org = membership.org
    setattr(org, ROLE_ATTR, membership.role)
    return org


def role_in(org: Organization) -> str:
    """The requesting user's role in an org returned by `org_for_user` / `resolve_request_org`."""
    return getattr(org, ROLE_ATTR, Membership.Role.VIEWER)


def can_write(org: Organization) -> bool:
    """Whether the requesting user may change anything in this org (DESIGN 12: viewers may not)."""
    return role_in(org) in Membership.WRITE_ROLES


class ReadOnlyRole(exceptions.PermissionDenied):
    default_detail = "Your role in this organisation is viewer: you can read but not change anything."
    default_code = "read_only_role"


def resolve_request_org(request: Any) -> Organization:
    """The org of an API request, or raise OrgRequired (400) / NotOrgMember (403)."""
    org_id = requested_org_id(request)
    if org_id is None:
        raise OrgRequired()
    org = org_for_user(request.user, org_id)
    if org is None:
        raise NotOrgMember()
    return org


def user_orgs(user: Any) -> QuerySet[Organization]:
    """The user's orgs, each with the user's role in it (`role_in`)."""
    return (
        Organization.objects.filter(memberships__user=user)
        .annotate(**{ROLE_ATTR: F("memberships__role")})
        .order_by("name", "id")
    )


def scope(queryset: QuerySet[M], org: Organization) -> QuerySet[M]:
    """Restrict any org-owned queryset (a model with an `org` foreign key) to one org."""
    return queryset.filter(org=org)


def scope_sql(model: type[Model], alias: str) -> str:
    """`scope` for a plain-cursor read of `model` as `alias`: the condition that its org is the
    parameter given (the org's id)."""
    return f"{alias}.{connection.ops.quote_name(model._meta.get_field('org').column)} = %s"
